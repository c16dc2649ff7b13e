"""Money to Polymarket's rules: one fee function, and sizing and risk agreeing on an order."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from polysim.synthetic.signals import make_market
from trader.clock import FakeClock
from trader.domain import Book, BookLevel, Market, OrderRequest, OrderType, Side, TradingState
from trader.execution.risk import ExposureSnapshot, RiskApproval, RiskContext, RiskEngine
from trader.fees import fee_per_share, schedule_from_bps, taker_fee, walk_buy
from trader.limits import RiskLimits
from trader.signals.sizing import SizingConfig, size_forecast
from trader.signals.values import Forecast, Source
from trader.venue.paper.feed import StaticMarketData
from trader.venue.paper.venue import PaperVenue
from trader.venue.parsing.rest import parse_gamma_market

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
MARKET = make_market("m1", "Will it happen?", end_date=NOW + timedelta(days=10))
YES, NO = (t.token_id for t in MARKET.tokens)


def view(q: str) -> Forecast:
    return Forecast(
        market="m1",
        model_probability=D(q),
        market_probability=D("0.41"),
        confidence=D("0.7"),
        dispersion=D("0.01"),
        source=Source.LLM,
        rationale="",
        sources=(),
        samples=3,
        aggregate=D(q),
        actionable=True,
    )


def two_level_book() -> dict[str, Book]:
    asks = (BookLevel(D("0.40"), D(100)), BookLevel(D("0.42"), D(100)))
    bids = (BookLevel(D("0.38"), D(100)),)
    return {
        YES: Book(YES, bids=bids, asks=asks, timestamp=NOW),
        NO: Book(NO, bids=(), asks=(BookLevel(D("0.99"), D(10)),), timestamp=NOW),
    }


def context(market: Market, book: Book, limits: RiskLimits) -> RiskContext:
    room = D(1_000_000)
    return RiskContext(
        now=NOW,
        trading_state=TradingState.RUNNING,
        limits=limits,
        exposure=ExposureSnapshot(
            available_cash=room,
            token_shares=D(0),
            token_shares_offered=D(0),
            market_exposure=D(0),
            total_exposure=D(0),
            open_orders=0,
            day_pnl=D(0),
            drawdown=D(0),
        ),
        market=market,
        book=book,
        book_age_s=0.0,
    )


def test_fees_follow_p_times_one_minus_p_at_the_market_rate() -> None:
    # 400 bps at p = 0.5: 0.010 a share, where rate x min(p, 1 - p) gave 0.020
    schedule = schedule_from_bps(D(400))
    assert fee_per_share(D("0.5"), schedule) == D("0.01")
    assert taker_fee(D(100), D("0.5"), schedule) == D("1.00")
    assert taker_fee(D(100), D("0.9"), schedule) == taker_fee(D(100), D("0.1"), schedule)


def test_a_two_level_plan_passes_the_cap_it_was_sized_under() -> None:
    """Asks 100 @ 0.40 and 100 @ 0.42, order cap $50: the plan walks both levels for $49.99
    (123.80 shares @ 0.4038 before rounding the amount to the cent). Valued at shares x limit
    (123.80 x 0.42 = $52.00) risk used to deny it; valued at its amount it passes."""
    cap = D(50)
    config = SizingConfig(kelly_fraction=D(1), max_notional=cap, min_edge=D("0.02"))
    decision = size_forecast(view("0.90"), MARKET, two_level_book(), D(10_000), config)

    intent = decision.intent
    assert intent is not None
    assert (intent.notional, intent.size, intent.limit_price) == (D("49.99"), None, D("0.42"))
    assert intent.order_type is OrderType.FAK
    limits = RiskLimits(max_order_notional=cap, max_position=D(500), max_exposure=D(500))
    approval = RiskEngine().check(intent, context(MARKET, two_level_book()[YES], limits))
    assert isinstance(approval, RiskApproval), approval
    assert approval.notional == D("49.99")
    # 100 @ 0.40 for $40, then 23.78 @ 0.42 for $9.9876: what the venue will fill
    assert approval.size == D("123.78")


prices = st.integers(min_value=2, max_value=97).map(lambda c: D(c) / 100)


@settings(max_examples=300, deadline=None)
@given(
    start=prices,
    depth=st.lists(st.integers(1, 400).map(D), min_size=1, max_size=5),
    cap=st.integers(1, 500).map(D),
    q=st.integers(5, 99).map(lambda c: D(c) / 100),
    bps=st.sampled_from([0, 100, 400, 1000]),
    kelly=st.sampled_from([D("0.25"), D(1)]),
)
def test_property_no_planned_order_is_denied_by_the_cap_sizing_applied(
    start: D, depth: list[D], cap: D, q: D, bps: int, kelly: D
) -> None:
    market = dataclasses.replace(MARKET, fees=schedule_from_bps(D(bps)))
    asks = tuple(
        BookLevel(min(D("0.99"), start + D(i) / 100), size) for i, size in enumerate(depth)
    )
    bid = max(D("0.01"), start - D("0.01"))
    book = Book(YES, bids=(BookLevel(bid, D(10)),), asks=asks, timestamp=NOW)
    books = {YES: book, NO: Book(NO, bids=(), asks=(), timestamp=NOW)}
    config = SizingConfig(kelly_fraction=kelly, max_notional=cap, min_edge=D("0.01"))
    decision = size_forecast(view(str(q)), market, books, D(10_000), config)
    if decision.intent is None:
        return
    limits = RiskLimits(
        max_order_notional=cap,
        max_position=D(100_000),
        max_exposure=D(100_000),
        min_edge=D("0.01"),
        max_price_deviation=D(1),
        price_band_low=D("0.01"),
        price_band_high=D("0.99"),
    )
    verdict = RiskEngine().check(decision.intent, context(market, book, limits))
    assert isinstance(verdict, RiskApproval), verdict
    walk = walk_buy(book.asks, verdict.notional, decision.intent.limit_price, market.fees)
    assert walk.cost <= cap  # what the venue will take, fees included, is inside the cap
    assert verdict.notional + verdict.fee >= walk.cost  # and risk never under-counts it


def test_gamma_fee_schedule_is_read_with_the_market() -> None:
    payload = {
        "conditionId": "0xabc",
        "question": "Will BTC close above $100k?",
        "outcomes": '["Yes", "No"]',
        "clobTokenIds": '["1", "2"]',
        "feesEnabled": True,
        "feeType": "crypto_fees",
        "feeSchedule": {"rate": "0.07", "exponent": 1, "takerOnly": True, "rebateRate": "0.2"},
    }
    market = parse_gamma_market(payload)
    assert market.fees.rate == D("0.07")
    assert market.fees.rebate_rate == D("0.2")
    assert fee_per_share(D("0.5"), market.fees) == D("0.0175")
    off = parse_gamma_market(payload | {"feesEnabled": False})
    assert fee_per_share(D("0.5"), off.fees) == 0


class _Journal:
    def __init__(self) -> None:
        self.fills: list[object] = []

    async def load(self) -> list[object]:
        return []

    async def record(self, fill: object) -> None:
        self.fills.append(fill)


async def test_paper_spends_a_marketable_buy_amount_like_the_venue_with_fees_on_top() -> None:
    clock = FakeClock(NOW)
    market = dataclasses.replace(MARKET, fees=schedule_from_bps(D(400)))
    data = StaticMarketData(clock, [market])
    data.set_book(two_level_book()[YES])
    venue = PaperVenue(data, bankroll=D(1000), clock=clock, journal=_Journal())  # type: ignore[arg-type]
    await venue.start()
    await venue.list_markets()
    request = OrderRequest(
        YES, Side.BUY, D("0.42"), D("119.02"), "c-1", OrderType.FAK, market="m1", amount=D("49.99")
    )

    result = await venue.submit(await venue.prepare(request))

    assert [(f.price, f.size) for f in result.fills] == [
        (D("0.40"), D(100)),
        (D("0.42"), D("23.78")),
    ]
    spent = sum(f.price * f.size for f in result.fills)
    fees = sum(f.fee for f in result.fills)
    assert spent == D("49.9876")
    # 400 bps: 100 x 0.04 x 0.24 + 23.78 x 0.04 x 0.2436 = 0.96 + 0.23171232
    assert fees == D("0.96") + D("23.78") * D("0.04") * D("0.42") * D("0.58")
    assert (await venue.balance()).cash == D(1000) - spent - fees  # fees paid in pUSD
    await venue.close()


def test_kelly_is_net_of_what_is_held_so_re_analyses_do_not_pile_up() -> None:
    """q = 0.65, ask 0.51, equity $1,000, quarter Kelly: the target is about $71 (0.25 x 0.14
    / 0.49 x 1000 = 71.43). Four re-analyses with the same view must not build $200+."""
    asks = (BookLevel(D("0.51"), D(10_000)),)
    books = {
        YES: Book(YES, bids=(BookLevel(D("0.49"), D(10_000)),), asks=asks, timestamp=NOW),
        NO: Book(
            NO,
            bids=(BookLevel(D("0.47"), D(10_000)),),
            asks=(BookLevel(D("0.51"), D(10_000)),),
            timestamp=NOW,
        ),
    }
    config = SizingConfig(kelly_fraction=D("0.25"), max_notional=D(100))
    held: dict[str, D] = {}
    spent = D(0)
    for _ in range(4):
        decision = size_forecast(view("0.65"), MARKET, books, D(1000), config, held=held)
        if decision.intent is None:
            assert "already holding" in decision.reason
            continue
        assert decision.intent.notional is not None
        walk = walk_buy(asks, decision.intent.notional, decision.intent.limit_price, MARKET.fees)
        held[YES] = held.get(YES, D(0)) + walk.shares
        spent += walk.cost

    assert D(71) <= spent <= D("71.43")


def test_a_reversed_view_sells_the_holding_instead_of_buying_the_other_side() -> None:
    books = {
        YES: Book(
            YES,
            bids=(BookLevel(D("0.49"), D(500)),),
            asks=(BookLevel(D("0.51"), D(500)),),
            timestamp=NOW,
        ),
        NO: Book(
            NO,
            bids=(BookLevel(D("0.49"), D(500)),),
            asks=(BookLevel(D("0.51"), D(500)),),
            timestamp=NOW,
        ),
    }
    decision = size_forecast(
        view("0.20"), MARKET, books, D(1000), SizingConfig(), held={YES: D(140)}
    )

    intent = decision.intent
    assert intent is not None
    assert (intent.token_id, intent.side, intent.size) == (YES, Side.SELL, D(140))
    assert intent.limit_price == D("0.49")
    assert "against the 140.00 Yes held" in intent.reason


def test_complete_sets_are_no_stake_and_no_view() -> None:
    """100 YES + 100 NO are $100 whatever happens: a YES view sizes as if nothing were held,
    and 100 YES + 60 NO is a 40-share YES stake."""
    asks = (BookLevel(D("0.51"), D(10_000)),)
    bids = (BookLevel(D("0.49"), D(10_000)),)
    books = {
        YES: Book(YES, bids=bids, asks=asks, timestamp=NOW),
        NO: Book(NO, bids=bids, asks=asks, timestamp=NOW),
    }
    config = SizingConfig(kelly_fraction=D("0.25"), max_notional=D(100))
    empty = size_forecast(view("0.65"), MARKET, books, D(1000), config)
    sets = size_forecast(
        view("0.65"), MARKET, books, D(1000), config, held={YES: D(100), NO: D(100)}
    )
    partly = size_forecast(
        view("0.65"), MARKET, books, D(1000), config, held={YES: D(100), NO: D(60)}
    )

    assert empty.intent is not None
    assert sets.intent is not None
    assert partly.intent is not None
    assert sets.intent.notional == empty.intent.notional
    assert partly.intent.notional == (empty.intent.notional or D(0)) - D("20.40")  # 40 x 0.51

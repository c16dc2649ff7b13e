from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polysim.synthetic.signals import binary_books, make_book, make_market
from trader.domain import NO_FEES, Book, BookLevel, FeeSchedule, Market, OrderType, Side
from trader.fees import fee_per_share, schedule_from_bps, walk_buy
from trader.signals.sizing import (
    SizingConfig,
    edge_at,
    kelly,
    plan_buy,
    size_forecast,
)
from trader.signals.values import Forecast, Source

NOW = datetime(2026, 3, 1, tzinfo=UTC)
MARKET = make_market("m1", "Will it happen?", end_date=NOW + timedelta(days=10))
YES, NO = (t.token_id for t in MARKET.tokens)


def forecast(model: str, market: str = "0.5", *, actionable: bool = True) -> Forecast:
    return Forecast(
        market="m1",
        model_probability=Decimal(model),
        market_probability=Decimal(market),
        confidence=Decimal("0.7"),
        dispersion=Decimal("0.02"),
        source=Source.LLM,
        rationale="",
        sources=(),
        samples=5,
        aggregate=Decimal(model),
        actionable=actionable,
        note="" if actionable else "samples disagree",
    )


def with_fees(bps: int, market: Market = MARKET) -> Market:
    return dataclasses.replace(market, fees=schedule_from_bps(Decimal(bps)))


def test_fee_is_rate_times_p_times_one_minus_p() -> None:
    # 400 bps at p = 0.5: 0.04 x 0.25 = 0.010 a share (rate x min(p, 1-p) said 0.020)
    assert fee_per_share(Decimal("0.5"), schedule_from_bps(Decimal(400))) == Decimal("0.01")
    assert fee_per_share(Decimal("0.3"), schedule_from_bps(Decimal(100))) == Decimal("0.0021")
    assert fee_per_share(Decimal("0.8"), schedule_from_bps(Decimal(100))) == Decimal("0.0016")
    assert edge_at(Decimal("0.6"), Decimal("0.5"), schedule_from_bps(Decimal(200))) == Decimal(
        "0.095"
    )


def test_kelly_fraction() -> None:
    assert kelly(Decimal("0.6"), Decimal("0.5")) == Decimal("0.2")
    assert kelly(Decimal("0.4"), Decimal("0.5")) == 0


def test_a_yes_view_buys_yes_up_to_the_kelly_stake() -> None:
    books = binary_books(MARKET, Decimal("0.50"), NOW)  # YES ask 0.51, NO ask 0.51
    config = SizingConfig(max_notional=Decimal(1000))
    decision = size_forecast(forecast("0.70"), MARKET, books, Decimal(1000), config)
    intent = decision.intent
    assert intent is not None
    assert (intent.token_id, intent.side, intent.order_type) == (YES, Side.BUY, OrderType.FAK)
    # Quarter Kelly at 0.51: 0.25 * (0.70 - 0.51) / 0.49 * 1000 = 96.94 of outlay -> 190.07
    # shares, $96.9357: sent as the dollar amount, rounded down to the cent
    assert intent.size is None
    assert intent.notional == Decimal("96.93")
    assert intent.limit_price == Decimal("0.51")
    assert intent.model_probability == Decimal("0.70")


def test_a_no_view_buys_the_no_token() -> None:
    books = binary_books(MARKET, Decimal("0.60"), NOW)  # NO ask 0.41
    decision = size_forecast(forecast("0.30", "0.60"), MARKET, books, Decimal(1000), SizingConfig())
    assert decision.intent is not None
    assert decision.intent.token_id == NO
    assert decision.outcome == "No"


def test_no_trade_without_edge_after_fees() -> None:
    books = binary_books(MARKET, Decimal("0.50"), NOW)
    # 0.54 - 0.51 = 0.03 before fees; 2,000 bps x 0.51 x 0.49 = 0.05 a share after
    decision = size_forecast(
        forecast("0.54"), with_fees(2000), books, Decimal(1000), SizingConfig()
    )
    assert decision.intent is None
    assert "after fees below" in decision.reason


def test_the_walk_stops_at_the_worst_acceptable_level_and_uses_it_as_the_limit() -> None:
    book = Book(
        YES,
        bids=(),
        asks=(
            BookLevel(Decimal("0.50"), Decimal(10)),
            BookLevel(Decimal("0.55"), Decimal(10)),
            BookLevel(Decimal("0.65"), Decimal(1000)),  # edge 0.05 - below min 0.06: refused
        ),
        timestamp=NOW,
    )
    config = SizingConfig(
        kelly_fraction=Decimal(1), max_notional=Decimal(10_000), min_edge=Decimal("0.06")
    )
    plan = plan_buy(Decimal("0.70"), book, Decimal(10_000), config, NO_FEES)
    assert plan is not None
    assert (plan.shares, plan.limit_price) == (Decimal(20), Decimal("0.55"))
    assert plan.notional == Decimal("10.50")


def test_not_actionable_or_tiny_stakes_are_refused_with_reasons() -> None:
    books = binary_books(MARKET, Decimal("0.50"), NOW)
    dispersed = size_forecast(
        forecast("0.7", actionable=False), MARKET, books, Decimal(1000), SizingConfig()
    )
    assert dispersed.intent is None
    assert dispersed.reason.startswith("not actionable")
    tiny = size_forecast(forecast("0.56"), MARKET, books, Decimal(10), SizingConfig())
    assert tiny.intent is None
    assert "minimum" in tiny.reason or "zero" in tiny.reason


prices = st.integers(min_value=1, max_value=99).map(lambda c: Decimal(c) / 100)
sizes = st.integers(min_value=1, max_value=5000).map(Decimal)


@st.composite
def books_and_views(
    draw: st.DrawFn,
) -> tuple[Decimal, dict[str, Book], Decimal, SizingConfig, FeeSchedule]:
    probability = draw(st.integers(min_value=1, max_value=99).map(lambda c: Decimal(c) / 100))
    books = {}
    for token in (YES, NO):
        start = draw(prices)
        depth = draw(st.lists(sizes, min_size=0, max_size=5))
        books[token] = make_book(token, bid=None, ask=start, now=NOW, sizes=tuple(depth))
    bankroll = draw(st.integers(min_value=0, max_value=100_000).map(Decimal))
    config = SizingConfig(
        kelly_fraction=draw(st.sampled_from([Decimal("0.1"), Decimal("0.25"), Decimal(1)])),
        max_notional=draw(st.integers(min_value=1, max_value=5000).map(Decimal)),
        min_edge=draw(st.sampled_from([Decimal("0.01"), Decimal("0.03")])),
    )
    fees = schedule_from_bps(draw(st.sampled_from([Decimal(0), Decimal(100), Decimal(1000)])))
    return probability, books, bankroll, config, fees


@settings(max_examples=300, deadline=None)
@given(books_and_views())
def test_property_never_sizes_without_edge_and_never_exceeds_caps(
    case: tuple[Decimal, dict[str, Book], Decimal, SizingConfig, FeeSchedule],
) -> None:
    probability, books, bankroll, config, fees = case
    market = dataclasses.replace(MARKET, fees=fees)
    decision = size_forecast(forecast(str(probability)), market, books, bankroll, config)
    intent = decision.intent
    if intent is None:
        return
    assert intent.size is None
    assert intent.notional is not None
    assert intent.notional == intent.notional.quantize(Decimal("0.01"))  # a cent amount
    win = probability if intent.token_id == YES else 1 - probability
    book = books[intent.token_id]
    # every level bought keeps the edge after fees: so does the limit price, the worst one
    assert edge_at(win, intent.limit_price, fees) >= config.min_edge > 0
    assert edge_at(win, book.asks[0].price, fees) > 0
    # caps: what the venue will spend walking the book, fees included, against the order
    # cap and the Kelly stake; never beyond the depth at acceptable prices
    walk = walk_buy(book.asks, intent.notional, intent.limit_price, fees)
    best_cost = book.asks[0].price + fee_per_share(book.asks[0].price, fees)
    assert walk.unspent < intent.limit_price * Decimal("0.01")  # the book takes it all
    assert walk.cost <= config.max_notional
    assert walk.cost <= bankroll * config.kelly_fraction * kelly(win, best_cost)


@given(st.sampled_from([Decimal(0), Decimal(-5)]))
def test_property_no_bankroll_no_trade(bankroll: Decimal) -> None:
    books = binary_books(MARKET, Decimal("0.50"), NOW)
    assert size_forecast(forecast("0.9"), MARKET, books, bankroll, SizingConfig()).intent is None


def test_config_refuses_a_zero_min_edge() -> None:
    with pytest.raises(ValueError, match="min_edge"):
        SizingConfig(min_edge=Decimal(0))


def test_a_no_view_buys_the_no_token_with_the_no_side_probabilities() -> None:
    """Risk compares the intent's model probability with the price of the token bought: for
    a NO purchase both must be the NO side's, or every buy-No would be denied for no edge."""
    books = {
        YES: make_book(YES, bid=None, ask=Decimal("0.70"), now=NOW, sizes=(Decimal(100),)),
        NO: make_book(NO, bid=None, ask=Decimal("0.30"), now=NOW, sizes=(Decimal(100),)),
    }
    config = SizingConfig(min_edge=Decimal("0.03"))
    view = forecast("0.55")  # the market says 0.70 for YES: the edge is on NO

    decision = size_forecast(view, MARKET, books, Decimal(1000), config)

    intent = decision.intent
    assert intent is not None
    assert intent.token_id == NO
    assert intent.model_probability == Decimal("0.45")
    assert intent.market_probability == 1 - view.market_probability
    assert intent.model_probability - intent.limit_price >= config.min_edge
    assert intent.sources == view.sources


# the sizing trace /why shows: which limit bound the stake -----------------------------------


def _book(*asks: tuple[str, str]) -> Book:
    levels = tuple(BookLevel(Decimal(p), Decimal(s)) for p, s in asks)
    return Book(YES, (BookLevel(Decimal("0.40"), Decimal(1000)),), levels, NOW)


def test_the_trace_names_the_kelly_stake_when_it_is_below_the_cap() -> None:
    plan = plan_buy(
        Decimal("0.70"), _book(("0.51", "1000")), Decimal(1000), SizingConfig(), NO_FEES
    )

    assert plan is not None
    assert plan.trace is not None
    # quarter Kelly at 0.51: 0.25 * 0.19 / 0.49 * 1000 = 96.94, under the $100 cap
    assert plan.trace.kelly_stake == Decimal(1000) * Decimal("0.25") * kelly(
        Decimal("0.70"), Decimal("0.51")
    )
    assert plan.trace.bound == "kelly"
    assert plan.trace.max_notional == Decimal(100)
    assert plan.trace.target == plan.trace.kelly_stake


def test_the_trace_names_the_cap_and_what_was_held() -> None:
    config = SizingConfig(max_notional=Decimal(20))
    plan = plan_buy(
        Decimal("0.70"),
        _book(("0.51", "1000")),
        Decimal(1000),
        config,
        NO_FEES,
        already=Decimal(5),
    )

    assert plan is not None
    assert plan.trace is not None
    assert plan.trace.bound == "max_notional"
    assert plan.trace.held_value == Decimal(5)
    assert plan.trace.target == Decimal(20)
    assert plan.notional <= Decimal(20)


def test_the_trace_names_the_depth_or_the_edge_when_the_book_runs_out_first() -> None:
    thin = plan_buy(Decimal("0.70"), _book(("0.51", "10")), Decimal(1000), SizingConfig(), NO_FEES)
    steep = plan_buy(
        Decimal("0.70"),
        _book(("0.51", "10"), ("0.69", "1000")),
        Decimal(1000),
        SizingConfig(),
        NO_FEES,
    )

    assert thin is not None
    assert thin.trace is not None
    assert thin.trace.bound == "depth"
    assert steep is not None
    assert steep.trace is not None
    assert steep.trace.bound == "min_edge"  # 0.69 leaves 0.01 < the 0.02 minimum edge
    assert steep.shares == Decimal(10)


def test_an_edge_must_beat_fees_half_the_spread_and_the_models_measured_error() -> None:
    # mid 0.50, ask 0.51 (half the spread 0.01), 200 bps: fee 0.02 x 0.51 x 0.49 = 0.0050
    books = binary_books(MARKET, Decimal("0.50"), NOW)
    market = with_fees(200)
    view = dataclasses.replace(forecast("0.60"), error=Decimal("0.09"))
    # 0.60 - 0.50 = 0.10 over the mid; less 0.01 and 0.005: 0.085 at the ask, within 0.09
    held = size_forecast(view, market, books, Decimal(1000), SizingConfig())
    assert held.intent is None
    assert held.edge == Decimal("0.085002")  # fee 0.004998
    assert "within the model's error 0.09" in held.reason
    smaller = dataclasses.replace(view, error=Decimal("0.08"))
    traded = size_forecast(smaller, market, books, Decimal(1000), SizingConfig())
    assert traded.intent is not None

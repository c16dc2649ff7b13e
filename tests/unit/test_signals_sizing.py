from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polysim.synthetic.signals import binary_books, make_book, make_market
from trader.domain import Book, BookLevel, OrderType, Side
from trader.signals.sizing import (
    SizingConfig,
    edge_at,
    fee_per_share,
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
        raw_median=Decimal(model),
        actionable=actionable,
        note="" if actionable else "samples disagree",
    )


def test_fee_is_rate_times_the_cheaper_side() -> None:
    assert fee_per_share(Decimal("0.3"), Decimal(100)) == Decimal("0.003")
    assert fee_per_share(Decimal("0.8"), Decimal(100)) == Decimal("0.002")
    assert edge_at(Decimal("0.6"), Decimal("0.5"), Decimal(200)) == Decimal("0.09")


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
    # Quarter Kelly at 0.51: 0.25 * (0.70 - 0.51) / 0.49 * 1000 = 96.94 of outlay -> 190.07 shares
    assert intent.size == Decimal("190.07")
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
    config = SizingConfig(fee_bps=Decimal(500))
    decision = size_forecast(forecast("0.54"), MARKET, books, Decimal(1000), config)
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
    plan = plan_buy(Decimal("0.70"), book, Decimal(10_000), config)
    assert plan is not None
    assert (plan.shares, plan.limit_price) == (Decimal(20), Decimal("0.55"))


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
def books_and_views(draw: st.DrawFn) -> tuple[Decimal, dict[str, Book], Decimal, SizingConfig]:
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
        fee_bps=draw(st.sampled_from([Decimal(0), Decimal(100), Decimal(1000)])),
    )
    return probability, books, bankroll, config


@settings(max_examples=300, deadline=None)
@given(books_and_views())
def test_property_never_sizes_without_edge_and_never_exceeds_caps(
    case: tuple[Decimal, dict[str, Book], Decimal, SizingConfig],
) -> None:
    probability, books, bankroll, config = case
    decision = size_forecast(forecast(str(probability)), MARKET, books, bankroll, config)
    intent = decision.intent
    if intent is None:
        return
    assert intent.size is not None
    win = probability if intent.token_id == YES else 1 - probability
    book = books[intent.token_id]
    # every level bought keeps the edge after fees: so does the limit price, the worst one
    assert edge_at(win, intent.limit_price, config.fee_bps) >= config.min_edge > 0
    assert edge_at(win, book.asks[0].price, config.fee_bps) > 0
    # caps: notional with fees, the Kelly stake, and the depth at acceptable prices
    depth = sum(level.size for level in book.asks if level.price <= intent.limit_price)
    best_cost = book.asks[0].price + fee_per_share(book.asks[0].price, config.fee_bps)
    assert intent.size <= depth
    outlay = _walk_outlay(book, intent.size, config)
    assert outlay <= config.max_notional
    assert outlay <= bankroll * config.kelly_fraction * kelly(win, best_cost)


def _walk_outlay(book: Book, shares: Decimal, config: SizingConfig) -> Decimal:
    """What buying `shares` from the top of `book` costs, fees included."""
    left, outlay = shares, Decimal(0)
    for level in book.asks:
        take = min(left, level.size)
        outlay += take * (level.price + fee_per_share(level.price, config.fee_bps))
        left -= take
        if left <= 0:
            break
    return outlay


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
    config = SizingConfig(min_edge=Decimal("0.03"), fee_bps=Decimal(0))
    view = forecast("0.55")  # the market says 0.70 for YES: the edge is on NO

    decision = size_forecast(view, MARKET, books, Decimal(1000), config)

    intent = decision.intent
    assert intent is not None
    assert intent.token_id == NO
    assert intent.model_probability == Decimal("0.45")
    assert intent.market_probability == 1 - view.market_probability
    assert intent.model_probability - intent.limit_price >= config.min_edge
    assert intent.sources == view.sources

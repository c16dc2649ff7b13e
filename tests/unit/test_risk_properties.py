"""Properties of the risk engine over random intents, contexts and limits (hypothesis)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from trader.domain import (
    Book,
    BookLevel,
    DrawdownMode,
    Market,
    OrderIntent,
    OrderType,
    OutcomeToken,
    Side,
    TradingState,
)
from trader.execution.risk import (
    ExposureSnapshot,
    RiskApproval,
    RiskContext,
    RiskDenial,
    RiskEngine,
    RiskRule,
    drawdown_mode,
    spends_amount,
)
from trader.fees import fee_per_share, schedule_from_bps
from trader.state import RiskLimits

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
CENT = Decimal("0.01")


def money(low: int, high: int) -> st.SearchStrategy[Decimal]:
    return st.integers(low * 100, high * 100).map(lambda cents: Decimal(cents) * CENT)


def fraction(low: str = "0", high: str = "1") -> st.SearchStrategy[Decimal]:
    lo, hi = int(Decimal(low) * 1000), int(Decimal(high) * 1000)
    return st.integers(lo, hi).map(lambda m: Decimal(m) / 1000)


def rarely(draw: st.DrawFn) -> bool:
    """True about one time in eight: most examples pass the gates, so approvals are common."""
    return draw(st.sampled_from((False,) * 7 + (True,)))


@st.composite
def limits(draw: st.DrawFn) -> RiskLimits:
    return RiskLimits(
        max_order_notional=draw(money(1, 200)),
        max_position=draw(money(1, 500)),
        max_exposure=draw(money(1, 2000)),
        max_open_orders=draw(st.integers(1, 30)),
        max_orders_per_minute=draw(st.integers(1, 30)),
        daily_loss_limit=draw(money(1, 300)),
        min_edge=draw(fraction("0", "0.1")),
        stale_book_s=Decimal(draw(st.integers(1, 60))),
        min_time_to_end_s=Decimal(draw(st.integers(0, 86_400))),
        price_band_low=draw(fraction("0", "0.2")),
        price_band_high=draw(fraction("0.8", "1")),
        max_price_deviation=draw(fraction("0.01", "0.2")),
        reduced_drawdown=draw(fraction("0", "0.3")),
        halted_drawdown=draw(fraction("0.3", "1")),
        reduced_scale=draw(fraction("0.1", "1")),
        cooldown_s=Decimal(draw(st.integers(0, 600))),
    )


@st.composite
def scenarios(
    draw: st.DrawFn, state: st.SearchStrategy[TradingState] | None = None
) -> tuple[OrderIntent, RiskContext]:
    """An intent and its context drawn together, each quantity relative to its limit (mostly
    inside it, sometimes just beyond), so that approvals and every denial are all common."""
    lim = draw(limits())

    def near(limit: Decimal, low: str = "0", high: str = "1.1") -> Decimal:
        return (limit * draw(fraction(low, high))).quantize(CENT)

    mid_cents = draw(st.integers(2, 98))
    book = Book(
        "t",
        bids=(BookLevel(Decimal(mid_cents - 1) * CENT, Decimal(100)),),
        asks=(BookLevel(Decimal(mid_cents + 1) * CENT, Decimal(100)),),
        timestamp=NOW,
    )
    offset = near(lim.max_price_deviation, "-1.2", "1.2")
    price = min(Decimal("0.99"), max(CENT, Decimal(mid_cents) * CENT + offset))
    side = draw(st.sampled_from(Side))
    by_size = draw(st.booleans())
    notional = near(lim.max_order_notional, "0", "1.2")
    intent = OrderIntent(
        market="m",
        token_id="t",
        side=side,
        limit_price=price,
        size=(notional / price).quantize(CENT) if by_size else None,
        notional=None if by_size else notional,
        model_probability=None
        if rarely(draw)
        else min(Decimal(1), price + lim.min_edge + draw(fraction("-0.03", "0.1"))),
        expires_at=NOW + timedelta(seconds=draw(st.integers(-60, 600))) if rarely(draw) else None,
        order_type=draw(st.sampled_from([OrderType.GTC, OrderType.FAK, OrderType.FOK])),
    )
    end_in = near(lim.min_time_to_end_s, "0.2", "4")
    market = Market(
        condition_id="m",
        question="q",
        tokens=(OutcomeToken("t", "Yes"),),
        end_date=None if draw(st.booleans()) else NOW + timedelta(seconds=float(end_in)),
        accepting_orders=not rarely(draw),
        fees=schedule_from_bps(Decimal(draw(st.integers(0, 200)))),
    )
    shares = draw(money(0, 500))
    exposure = ExposureSnapshot(
        available_cash=near(lim.max_order_notional, "0", "3"),
        token_shares=shares,
        token_shares_offered=near(shares, "0", "0.5"),
        market_exposure=near(lim.max_position),
        total_exposure=near(lim.max_exposure),
        open_orders=int(lim.max_open_orders * draw(fraction("0", "1.1"))),
        day_pnl=near(lim.daily_loss_limit, "-1.1", "1"),
        drawdown=near(lim.halted_drawdown, "0", "1.1"),
    )
    ctx = RiskContext(
        now=NOW,
        trading_state=draw(state if state is not None else st.sampled_from(TradingState)),
        limits=lim,
        exposure=exposure,
        market=None if rarely(draw) else market,
        book=None if rarely(draw) else book,
        book_age_s=None if rarely(draw) else float(near(lim.stale_book_s, "0", "1.1")),
    )
    return intent, ctx


@st.composite
def engines(draw: st.DrawFn) -> RiskEngine:
    engine = RiskEngine()
    for seconds_ago in draw(st.lists(st.integers(0, 300), max_size=6)):
        side = draw(st.sampled_from(Side))
        intent = OrderIntent("m", "t", side, Decimal("0.5"), size=Decimal(1))
        engine.record(intent, NOW - timedelta(seconds=seconds_ago))
    return engine


HALTING = st.sampled_from([TradingState.KILLED, TradingState.PAUSED, TradingState.HALTED])


@settings(max_examples=100, deadline=None)
@given(engines(), scenarios(state=HALTING))
def test_no_intent_passes_while_killed_paused_or_halted(
    engine: RiskEngine, scenario: tuple[OrderIntent, RiskContext]
) -> None:
    intent, ctx = scenario
    decision = engine.check(intent, ctx)

    assert isinstance(decision, RiskDenial)
    assert decision.rule.value == ctx.trading_state.value.lower()


@settings(max_examples=100, deadline=None)
@given(engines(), scenarios(state=st.just(TradingState.RUNNING)))
def test_no_entry_passes_in_drawdown_halted(
    engine: RiskEngine, scenario: tuple[OrderIntent, RiskContext]
) -> None:
    intent, ctx = scenario
    decision = engine.check(intent, ctx)

    if drawdown_mode(ctx.exposure.drawdown, ctx.limits) is DrawdownMode.HALTED:
        assert not (isinstance(decision, RiskApproval) and not decision.reduces)


@settings(max_examples=200, deadline=None)
@given(engines(), scenarios())
def test_a_denial_always_names_its_rule_and_says_why(
    engine: RiskEngine, scenario: tuple[OrderIntent, RiskContext]
) -> None:
    intent, ctx = scenario
    decision = engine.check(intent, ctx)

    if isinstance(decision, RiskDenial):
        assert isinstance(decision.rule, RiskRule)
        assert decision.message.strip()


@settings(max_examples=500, deadline=None)
@given(engines(), scenarios(state=st.just(TradingState.RUNNING)))
def test_no_accepted_order_breaks_any_limit(
    engine: RiskEngine, scenario: tuple[OrderIntent, RiskContext]
) -> None:
    intent, ctx = scenario
    decision = engine.check(intent, ctx)
    if not isinstance(decision, RiskApproval):
        return
    limits, exposure, price = ctx.limits, ctx.exposure, intent.limit_price
    cost = decision.notional + decision.fee
    # every order
    assert decision.size > 0
    if spends_amount(intent):  # a marketable buy of an amount: valued at that amount
        assert intent.notional is not None
        assert decision.notional <= intent.notional
    else:
        assert decision.notional == decision.size * price
    assert decision.notional <= limits.max_order_notional
    assert exposure.open_orders + 1 <= limits.max_open_orders
    assert engine.orders_last_minute(ctx.now) + 1 <= limits.max_orders_per_minute
    assert intent.expires_at is None or intent.expires_at > ctx.now
    assert ctx.market is not None
    assert ctx.market.accepting_orders
    assert ctx.book is not None
    assert ctx.book.mid is not None
    assert ctx.book_age_s is not None
    assert Decimal(str(ctx.book_age_s)) <= limits.stale_book_s
    assert abs(price - ctx.book.mid) <= limits.max_price_deviation
    if decision.reduces:
        assert intent.side is Side.SELL
        assert decision.size <= exposure.token_shares - exposure.token_shares_offered
        return
    # entries
    assert intent.side is Side.BUY
    if not spends_amount(intent):
        assert decision.size <= (intent.size or intent.notional / price)  # type: ignore[operator]
    assert cost <= exposure.available_cash
    assert exposure.market_exposure + cost <= limits.max_position
    assert exposure.total_exposure + cost <= limits.max_exposure
    assert exposure.day_pnl > -limits.daily_loss_limit
    assert limits.price_band_low <= price <= limits.price_band_high
    assert intent.model_probability is not None
    edge = intent.model_probability - price - fee_per_share(price, ctx.market.fees)
    assert edge >= limits.min_edge
    mode = drawdown_mode(exposure.drawdown, limits)
    assert mode is not DrawdownMode.HALTED
    if ctx.market.end_date is not None:
        assert (ctx.market.end_date - ctx.now).total_seconds() >= limits.min_time_to_end_s

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from trader.domain import (
    Book,
    BookLevel,
    DrawdownMode,
    Market,
    OrderIntent,
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
    intent_size,
)
from trader.state import RiskLimits

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
MARKET = Market(
    condition_id="0xmarket",
    question="Will it rain?",
    tokens=(OutcomeToken("yes", "Yes"), OutcomeToken("no", "No")),
    end_date=NOW + timedelta(days=10),
)
BOOK = Book(
    "yes",
    bids=(BookLevel(Decimal("0.49"), Decimal(100)),),
    asks=(BookLevel(Decimal("0.51"), Decimal(100)),),
    timestamp=NOW,
)
ROOMY = ExposureSnapshot(
    available_cash=Decimal(1000),
    token_shares=Decimal(0),
    token_shares_offered=Decimal(0),
    market_exposure=Decimal(0),
    total_exposure=Decimal(0),
    open_orders=0,
    day_pnl=Decimal(0),
    drawdown=Decimal(0),
)


def buy(**changes: object) -> OrderIntent:
    base = OrderIntent(
        market="0xmarket",
        token_id="yes",
        side=Side.BUY,
        limit_price=Decimal("0.50"),
        size=Decimal(20),
        model_probability=Decimal("0.60"),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def context(**changes: object) -> RiskContext:
    base = RiskContext(
        now=NOW,
        trading_state=TradingState.RUNNING,
        limits=RiskLimits(),
        exposure=ROOMY,
        market=MARKET,
        book=BOOK,
        book_age_s=1.0,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def exposure(**changes: object) -> ExposureSnapshot:
    return dataclasses.replace(ROOMY, **changes)  # type: ignore[arg-type]


def denied_rule(decision: object) -> RiskRule:
    assert isinstance(decision, RiskDenial), decision
    return decision.rule


def test_risk_when_everything_is_fine_approves_with_the_size_asked() -> None:
    decision = RiskEngine().check(buy(), context())

    assert isinstance(decision, RiskApproval)
    assert decision.size == Decimal(20)
    assert decision.notional == Decimal("10.00")
    assert decision.drawdown_mode is DrawdownMode.FULL


@pytest.mark.parametrize(
    ("state", "rule"),
    [
        (TradingState.KILLED, RiskRule.KILLED),
        (TradingState.HALTED, RiskRule.HALTED),
        (TradingState.PAUSED, RiskRule.PAUSED),
    ],
)
def test_risk_when_not_running_denies_entries_and_exits(
    state: TradingState, rule: RiskRule
) -> None:
    engine = RiskEngine()
    holding = exposure(token_shares=Decimal(50))

    assert denied_rule(engine.check(buy(), context(trading_state=state))) is rule
    sell = buy(side=Side.SELL, model_probability=None)
    assert denied_rule(engine.check(sell, context(trading_state=state, exposure=holding))) is rule


@pytest.mark.parametrize(
    ("intent_changes", "context_changes", "rule"),
    [
        ({"limit_price": Decimal(1)}, {}, RiskRule.INVALID_INTENT),
        ({"size": None}, {}, RiskRule.INVALID_INTENT),
        ({"notional": Decimal(5)}, {}, RiskRule.INVALID_INTENT),
        ({"expires_at": NOW}, {}, RiskRule.EXPIRED),
        ({}, {"market": None}, RiskRule.MARKET_UNKNOWN),
        (
            {},
            {"market": dataclasses.replace(MARKET, accepting_orders=False)},
            RiskRule.MARKET_CLOSED,
        ),
        (
            {},
            {"market": dataclasses.replace(MARKET, end_date=NOW + timedelta(minutes=30))},
            RiskRule.MARKET_ENDING,
        ),
        ({}, {"book_age_s": 31.0}, RiskRule.STALE_BOOK),
        ({}, {"book": None}, RiskRule.STALE_BOOK),
        ({"limit_price": Decimal("0.99")}, {}, RiskRule.PRICE_DEVIATION),
        (
            {"limit_price": Decimal("0.99")},
            {
                "book": dataclasses.replace(
                    BOOK,
                    bids=(BookLevel(Decimal("0.98"), Decimal(1)),),
                    asks=(BookLevel(Decimal("0.99"), Decimal(1)),),
                )
            },
            RiskRule.PRICE_BAND,
        ),
        ({"model_probability": Decimal("0.52")}, {}, RiskRule.MIN_EDGE),
        ({"model_probability": None}, {}, RiskRule.MIN_EDGE),
        ({"size": Decimal(200)}, {}, RiskRule.MAX_ORDER_NOTIONAL),
        ({}, {"exposure": exposure(market_exposure=Decimal(195))}, RiskRule.MAX_POSITION),
        ({}, {"exposure": exposure(total_exposure=Decimal(995))}, RiskRule.MAX_EXPOSURE),
        ({}, {"exposure": exposure(open_orders=20)}, RiskRule.MAX_OPEN_ORDERS),
        ({}, {"exposure": exposure(day_pnl=Decimal(-100))}, RiskRule.DAILY_LOSS),
        ({}, {"exposure": exposure(drawdown=Decimal("0.25"))}, RiskRule.DRAWDOWN_HALTED),
        ({}, {"exposure": exposure(available_cash=Decimal(5))}, RiskRule.INSUFFICIENT_CASH),
    ],
)
def test_risk_denies_with_the_rule_that_refused(
    intent_changes: dict[str, object], context_changes: dict[str, object], rule: RiskRule
) -> None:
    decision = RiskEngine().check(buy(**intent_changes), context(**context_changes))

    assert denied_rule(decision) is rule
    assert isinstance(decision, RiskDenial)
    assert decision.message


def test_risk_in_reduced_drawdown_scales_entry_sizes_down() -> None:
    ctx = context(exposure=exposure(drawdown=Decimal("0.12")))

    decision = RiskEngine().check(buy(size=Decimal(21)), ctx)

    assert isinstance(decision, RiskApproval)
    assert decision.drawdown_mode is DrawdownMode.REDUCED
    assert decision.size == Decimal("10.50")


def test_risk_in_drawdown_halted_still_lets_exits_through() -> None:
    ctx = context(exposure=exposure(drawdown=Decimal("0.5"), token_shares=Decimal(30)))
    sell = buy(side=Side.SELL, model_probability=None, size=Decimal(30))

    decision = RiskEngine().check(sell, ctx)

    assert isinstance(decision, RiskApproval)
    assert decision.reduces


def test_risk_denies_selling_shares_already_offered() -> None:
    ctx = context(exposure=exposure(token_shares=Decimal(30), token_shares_offered=Decimal(20)))
    sell = buy(side=Side.SELL, size=Decimal(15))

    assert denied_rule(RiskEngine().check(sell, ctx)) is RiskRule.INSUFFICIENT_SHARES


def test_risk_cooldown_denies_the_same_intent_until_it_has_passed() -> None:
    engine = RiskEngine()
    engine.record(buy(), NOW)

    soon = engine.check(buy(), context(now=NOW + timedelta(seconds=299)))
    later = engine.check(buy(), context(now=NOW + timedelta(seconds=300)))
    other_side = engine.check(
        buy(side=Side.SELL),
        context(now=NOW + timedelta(seconds=1), exposure=exposure(token_shares=Decimal(50))),
    )

    assert denied_rule(soon) is RiskRule.COOLDOWN
    assert isinstance(later, RiskApproval)
    assert isinstance(other_side, RiskApproval)


def test_risk_orders_per_minute_counts_a_sliding_minute() -> None:
    engine = RiskEngine()
    limits = RiskLimits(max_orders_per_minute=3, cooldown_s=Decimal(0))
    for second in range(3):
        engine.record(buy(token_id=f"t{second}"), NOW + timedelta(seconds=second))

    at_limit = engine.check(buy(), context(limits=limits, now=NOW + timedelta(seconds=59)))
    after = engine.check(buy(), context(limits=limits, now=NOW + timedelta(seconds=61)))

    assert denied_rule(at_limit) is RiskRule.MAX_ORDERS_PER_MINUTE
    assert isinstance(after, RiskApproval)


def test_intent_size_from_notional_rounds_down_to_cents_of_a_share() -> None:
    intent = buy(size=None, notional=Decimal(10), limit_price=Decimal("0.33"))

    assert intent_size(intent) == Decimal("30.30")


def test_drawdown_mode_thresholds() -> None:
    limits = RiskLimits()

    assert drawdown_mode(Decimal("0.0999"), limits) is DrawdownMode.FULL
    assert drawdown_mode(Decimal("0.10"), limits) is DrawdownMode.REDUCED
    assert drawdown_mode(Decimal("0.20"), limits) is DrawdownMode.HALTED

"""The Control API on its own: persisted state, limits, alert settings, auditing, providers."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from tests.support.chat_stack import FakeDesk
from tests.support.memory import MemoryEvents, MemoryStore
from trader.clock import FakeClock
from trader.control.api import ControlAPI, ControlError, PnlPeriod
from trader.domain import Actor, Severity, TradingMode, TradingState
from trader.state import ControlState, RiskLimits

OPERATOR = Actor("telegram", "42", "ops")
D = Decimal


class Cycle:
    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.runs = 0

    def last_cycle_at(self) -> datetime | None:
        return self.clock.now()

    def next_cycle_at(self) -> datetime | None:
        return None

    async def run_now(self) -> str:
        self.runs += 1
        return "cycle started"


class Spend:
    async def llm_spend_today(self) -> tuple[Decimal, Decimal]:
        return D("1.25"), D(5)


async def make(
    store: MemoryStore | None = None, **providers: Any
) -> tuple[ControlAPI, ControlState, MemoryEvents, FakeClock]:
    clock = FakeClock()
    state = ControlState(store or MemoryStore(), clock, risk_defaults=RiskLimits(max_open_orders=7))
    await state.load()
    events = MemoryEvents(clock)
    control = ControlAPI(
        state=state,
        events=events,
        event_reader=events,
        clock=clock,
        mode=TradingMode.PAPER,
        desk=FakeDesk(state, clock),
        **providers,
    )
    return control, state, events, clock


async def test_status_answers_from_the_desk() -> None:
    control, _, events, _ = await make()

    snapshot = await control.status(OPERATOR)

    assert snapshot.trading_state is TradingState.RUNNING
    assert snapshot.portfolio is not None
    assert snapshot.portfolio.cash == D(500)
    assert events.commands() == ["status"]
    assert events.rows[0].actor == "telegram:42"


async def test_status_fills_provider_fields() -> None:
    control, _, _, _ = await make(cycle=Cycle(FakeClock()), spend=Spend())

    snapshot = await control.status(OPERATOR)

    assert snapshot.last_cycle_at is not None
    assert (snapshot.llm_spend_today, snapshot.llm_budget) == (D("1.25"), D(5))


async def test_kill_survives_a_reload_and_only_rearm_clears_it() -> None:
    store = MemoryStore()
    control, _, events, _ = await make(store)

    report = await control.kill(OPERATOR, reason="test")
    again, _, _, _ = await make(store)

    assert report.state is TradingState.KILLED
    assert (await again.status(OPERATOR)).trading_state is TradingState.KILLED
    with pytest.raises(ControlError):
        await again.resume(OPERATOR)
    with pytest.raises(ControlError):
        await again.pause(OPERATOR)
    change = await again.rearm(OPERATOR)
    assert (change.before, change.after, change.changed) == (
        TradingState.KILLED,
        TradingState.RUNNING,
        True,
    )
    assert (await again.rearm(OPERATOR)).changed is False
    assert "kill" in events.commands()


async def test_limits_are_validated_persisted_and_audited() -> None:
    store = MemoryStore()
    control, _, events, _ = await make(store)

    change = await control.set_limit(OPERATOR, "max_order_notional", "25")
    with pytest.raises(ControlError, match="unknown limit"):
        await control.set_limit(OPERATOR, "max_lunch", "1")
    with pytest.raises(ControlError, match="above 0"):
        await control.set_limit(OPERATOR, "max_exposure", "0")
    with pytest.raises(ControlError, match="whole number"):
        await control.set_limit(OPERATOR, "max_open_orders", "2.5")
    with pytest.raises(ControlError, match="below"):
        await control.set_limit(OPERATOR, "price_band_low", "0.99")
    again, _, _, _ = await make(store)

    assert (change.before, change.after) == ("50", "25")
    limits = await again.limits(OPERATOR)
    assert limits.max_order_notional == D(25)
    assert limits.max_open_orders == 7  # the default given at first start, persisted
    assert [r.payload["to"] for r in events.rows if r.type == "limit_changed"] == ["25"]


async def test_alert_settings_are_typed_and_persisted() -> None:
    store = MemoryStore()
    control, _, _, _ = await make(store)

    await control.set_alert_setting(OPERATOR, "min_severity", "WARNING")
    await control.set_alert_setting(OPERATOR, "quiet_start", "23:00")
    await control.set_alert_setting(OPERATOR, "muted_kinds", "fill, reconciliation")
    with pytest.raises(ControlError):
        await control.set_alert_setting(OPERATOR, "quiet_end", "25:00")
    again, _, _, _ = await make(store)
    settings = await again.alert_settings(OPERATOR)

    assert settings.min_severity is Severity.WARNING
    assert settings.quiet_start == "23:00"
    assert settings.muted_kinds == ("fill", "reconciliation")


async def test_approval_mode_is_persisted() -> None:
    store = MemoryStore()
    control, _, _, _ = await make(store)

    change = await control.set_approval_mode(OPERATOR, True)
    _, state, _, _ = await make(store)

    assert (change.before, change.after) == ("off", "on")
    assert state.approval_mode is True


async def test_bad_arguments_are_refused_with_the_reason() -> None:
    control, _, _, _ = await make()

    with pytest.raises(ControlError, match="day, week or month"):
        await control.pnl(OPERATOR, "year")
    with pytest.raises(ControlError, match="positive number"):
        await control.approve(OPERATOR, "ap-1", "-3")
    with pytest.raises(ControlError, match="no signal cycle"):
        await control.run_cycle(OPERATOR)
    assert PnlPeriod("week") is PnlPeriod.WEEK


async def test_run_cycle_calls_the_scheduler_hook() -> None:
    cycle = Cycle(FakeClock())
    control, _, events, _ = await make(cycle=cycle)

    assert await control.run_cycle(OPERATOR) == "cycle started"
    assert cycle.runs == 1
    assert events.commands() == ["run_cycle"]

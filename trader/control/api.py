"""The Control API: the only door the chat uses into the trader.

Every call takes the `Actor` who asked (user and channel), is audited in the event log, and
returns a typed result (see `trader.control.types`, re-exported here); formatting is the
chat's job. Collaborators are injected by the composition root: the persisted control state,
the event log, and the execution core's `TradingDesk` (positions, orders, PnL, the trading
state, kill, approvals: always there) plus small providers for the cycle, heartbeat and LLM
spend. The trading state moves only through the desk (its state machine); reports, charts
and the last signal cycle come from the injected `ReportSource` and `SignalSource` (see
`trader.control.reports`). The chat never
reaches past this module and `trader.domain`.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from trader import __version__
from trader.clock import Clock, SystemClock
from trader.control.port import ControlPort
from trader.control.reports import Reporting, ReportSource, SignalSource
from trader.control.types import (
    CHART_KINDS,
    MAX_CHART_DAYS,
    ApprovalDecision,
    ApprovalRequest,
    BacktestRunner,
    BacktestStatus,
    BrierView,
    CashFlowRecorded,
    ChainOperationView,
    ChainOverview,
    ChatMemory,
    ComponentHealth,
    ControlError,
    CycleHook,
    EventLine,
    EventReader,
    EventSink,
    EventStream,
    ExecutionResult,
    HeartbeatSource,
    KillPreview,
    KillReport,
    MarketSignal,
    NotConfiguredError,
    OrderView,
    Outcome,
    PendingCritical,
    PnlPeriod,
    PnlReport,
    PortfolioView,
    PositionView,
    ReportView,
    SettingChange,
    SignalsView,
    SpendSource,
    StateChange,
    StatusSnapshot,
    StrategyRecordSource,
    StrategyView,
    TradingDesk,
)
from trader.control.why import DecisionChain, DenialFacts, WhySource
from trader.domain import Actor, Alert, DrawdownMode, TradingMode, TradingState, new_correlation_id
from trader.limits import parse_amount
from trader.stages import Stage, StageBook, StageError, StrategyRecord, parse_stage
from trader.state import AlertSettings, ControlState, RiskLimits, SettingError

__all__ = [
    "CHART_KINDS",
    "MAX_BACKTEST_DAYS",
    "MAX_CHART_DAYS",
    "AlertSettings",
    "ApprovalDecision",
    "ApprovalRequest",
    "BacktestRunner",
    "BacktestStatus",
    "BrierView",
    "CashFlowRecorded",
    "ChainOperationView",
    "ChainOverview",
    "ChatMemory",
    "Clock",
    "ControlAPI",
    "ControlError",
    "ControlPort",
    "DecisionChain",
    "DenialFacts",
    "DrawdownMode",
    "EventLine",
    "EventStream",
    "ExecutionResult",
    "KillPreview",
    "KillReport",
    "MarketSignal",
    "NotConfiguredError",
    "OrderView",
    "Outcome",
    "PendingCritical",
    "PnlPeriod",
    "PnlReport",
    "PortfolioView",
    "PositionView",
    "ReportSource",
    "ReportView",
    "RiskLimits",
    "SettingChange",
    "SignalSource",
    "SignalsView",
    "Stage",
    "StateChange",
    "StatusSnapshot",
    "StrategyRecord",
    "StrategyView",
    "SystemClock",
    "parse_amount",
]


MAX_BACKTEST_DAYS = 90


class ControlAPI:
    def __init__(
        self,
        *,
        state: ControlState,
        events: EventSink,
        event_reader: EventReader,
        clock: Clock,
        mode: TradingMode,
        desk: TradingDesk,
        components: ComponentHealth | None = None,
        cycle: CycleHook | None = None,
        heartbeat: HeartbeatSource | None = None,
        spend: SpendSource | None = None,
        reports: ReportSource | None = None,
        signals: SignalSource | None = None,
        strategy_records: StrategyRecordSource | None = None,
        why: WhySource | None = None,
        backtests: BacktestRunner | None = None,
        name: str = "main",
    ) -> None:
        self._backtests = backtests
        self._name = name
        self._strategy_records = strategy_records
        self._state = state
        self._events = events
        self._reader = event_reader
        self._clock = clock
        self._mode = mode
        self._components = components
        self._desk = desk
        self._cycle = cycle
        self._heartbeat = heartbeat
        self._spend = spend
        self._reporting = Reporting(clock, reports, signals)
        self._why = why
        self._started_at = clock.now()
        self._trading_in: tuple[StageBook | None, tuple[str, ...]] = (None, ())

    @property
    def name(self) -> str:
        """The instance's name (TRADER_NAME): how the hub and the web page address it."""
        return self._name

    def _audit(self, actor: Actor, command: str, **details: Any) -> str:
        corr = new_correlation_id()
        self._events.append(
            "command", {"command": command, **details}, correlation_id=corr, actor=str(actor)
        )
        return corr

    # status ----------------------------------------------------------------------------

    async def status(self, actor: Actor) -> StatusSnapshot:
        self._audit(actor, "status")
        desk = self._desk
        trading = desk.trading_status()
        spent, budget = await self._spend.llm_spend_today() if self._spend else (None, None)
        return StatusSnapshot(
            instance=self._name,
            version=__version__,
            pid=os.getpid(),
            mode=self._mode,
            trading_state=trading.state,
            state_reason=trading.reason,
            state_changed_by=trading.changed_by,
            state_changed_at=trading.changed_at,
            approval_mode=self._state.approval_mode,
            allow_heuristic_live=self._state.allow_heuristic_live,
            started_at=self._started_at,
            now=self._clock.now(),
            components=self._components.component_states() if self._components else {},
            portfolio=desk.portfolio_view(),
            last_cycle_at=self._cycle.last_cycle_at() if self._cycle else None,
            next_cycle_at=self._cycle.next_cycle_at() if self._cycle else None,
            heartbeat_age_s=self._heartbeat.heartbeat_age() if self._heartbeat else None,
            feed_age_s=desk.feed_age(),
            llm_spend_today=spent,
            llm_budget=budget,
            pending_approvals=len(await desk.pending_approvals()),
            trading_strategies=self._strategies_trading(),
        )

    def _strategies_trading(self) -> tuple[str, ...]:
        """`stages.trading_in(mode)`, worked out again only when the stages change (the book
        is immutable: a promotion or a demotion replaces it)."""
        book = self._state.stages
        seen, names = self._trading_in
        if seen is not book:
            names = book.trading_in(self._mode)
            self._trading_in = (book, names)
        return names

    async def positions(self, actor: Actor) -> list[PositionView]:
        self._audit(actor, "positions")
        return await self._desk.positions()

    async def open_orders(self, actor: Actor) -> list[OrderView]:
        self._audit(actor, "orders")
        return await self._desk.open_orders()

    async def pnl(self, actor: Actor, period: PnlPeriod | str = PnlPeriod.DAY) -> PnlReport:
        try:
            which = PnlPeriod(str(period).casefold())
        except ValueError:
            raise ControlError("the period is day, week or month") from None
        self._audit(actor, "pnl", period=which.value)
        return await self._desk.pnl(which)

    async def recent_events(self, actor: Actor, n: int = 10) -> list[EventLine]:
        if not 1 <= n <= 100:
            raise ControlError("the number of events must be between 1 and 100")
        self._audit(actor, "events", n=n)
        rows = await self._reader.recent(n)
        return [_event_line(row) for row in rows]

    # trading state ---------------------------------------------------------------------

    async def pause(self, actor: Actor, reason: str = "") -> StateChange:
        """Stop new orders; resting orders stay. Kept across restarts. Refused (ControlError)
        while KILLED or HALTED, or when the state could not be saved."""
        self._audit(actor, "pause", reason=reason)
        return await self._desk.pause(actor, reason)

    async def resume(self, actor: Actor) -> StateChange:
        self._audit(actor, "resume")
        return await self._desk.resume(actor)

    # cash flows ------------------------------------------------------------------------

    async def deposit(self, actor: Actor, amount: object, reason: str = "") -> CashFlowRecorded:
        """Money in (the paper venue only: a live venue's flows are found in its balance)."""
        return await self._cash_flow(actor, amount, reason, sign=1)

    async def withdraw(self, actor: Actor, amount: object, reason: str = "") -> CashFlowRecorded:
        """Money out: equity drops by it, PnL does not (the paper venue only)."""
        return await self._cash_flow(actor, amount, reason, sign=-1)

    async def _cash_flow(
        self, actor: Actor, amount: object, reason: str, *, sign: int
    ) -> CashFlowRecorded:
        try:
            value = parse_amount("the amount", amount)
        except SettingError as error:
            raise ControlError(str(error)) from None
        kind = "deposit" if sign > 0 else "withdraw"
        self._audit(actor, kind, amount=str(value), reason=reason[:200])
        return await self._desk.record_cash_flow(actor, value * sign, reason[:200])

    # redemption and merge --------------------------------------------------------------

    async def chain_overview(self, actor: Actor) -> ChainOverview:
        """Resolved markets still held (what redeeming pays), pairs that could be merged,
        and the latest redemptions and merges."""
        self._audit(actor, "redeemable")
        return await self._desk.chain_overview()

    async def redeem(self, actor: Actor, market: str) -> ChainOperationView:
        """Redeem a resolved market's shares now (refused while one is in flight)."""
        market = _market_id(market)
        self._audit(actor, "redeem", market=market)
        return await self._desk.redeem(actor, market)

    async def merge(
        self, actor: Actor, market: str, pairs: object | None = None
    ) -> ChainOperationView:
        """Merge YES+NO pairs of a market into pUSD (all the free pairs, or `pairs`)."""
        market = _market_id(market)
        amount = None
        if pairs is not None and str(pairs).strip():
            try:
                amount = parse_amount("the number of pairs", pairs)
            except SettingError as error:
                raise ControlError(str(error)) from None
        self._audit(actor, "merge", market=market, pairs=None if amount is None else str(amount))
        return await self._desk.merge(actor, market, amount)

    async def preview_kill(self, actor: Actor, slippage: Decimal | None = None) -> KillPreview:
        """What a kill with flatten would do now: the exits, their floors and proceeds."""
        self._audit(actor, "kill_preview", slippage=slippage)
        try:
            return await self._desk.preview_kill(slippage)
        except ValueError as error:
            raise ControlError(str(error)) from None

    async def kill(
        self,
        actor: Actor,
        *,
        flatten: bool = False,
        reason: str = "",
        slippage: Decimal | None = None,
    ) -> KillReport:
        """Cancel every order (and with `flatten` sell every position within the slippage
        cap); KILLED survives restarts until `rearm`."""
        self._audit(actor, "kill", flatten=flatten, reason=reason, slippage=slippage)
        try:
            return await self._desk.kill(actor, flatten=flatten, reason=reason, slippage=slippage)
        except ValueError as error:
            raise ControlError(str(error)) from None

    async def rearm(self, actor: Actor) -> StateChange:
        """Clear KILLED or HALTED back to RUNNING: the only way out of either."""
        before = self._desk.trading_status().state
        self._audit(actor, "rearm")
        if before not in (TradingState.KILLED, TradingState.HALTED):
            return StateChange(before, before, "nothing to re-arm", changed=False)
        return await self._desk.rearm(actor)

    async def cancel_order(self, actor: Actor, order_id: str) -> bool:
        self._audit(actor, "cancel", order_id=order_id)
        if not await self._desk.cancel_order(actor, order_id):
            raise ControlError(f"no open order {order_id} (or the venue would not cancel it)")
        return True

    # approvals ------------------------------------------------------------------------

    async def set_approval_mode(self, actor: Actor, on: bool) -> SettingChange:
        before = self._state.approval_mode
        corr = self._audit(actor, "approval_mode", on=on)
        await self._state.set_approval_mode(on, str(actor))
        self._events.append(
            "approval_mode_changed", {"on": on}, correlation_id=corr, actor=str(actor)
        )
        return SettingChange("approval_mode", _on_off(before), _on_off(on))

    async def set_allow_heuristic_live(self, actor: Actor, on: bool) -> SettingChange:
        """Whether heuristic forecasts may trade in live mode (audited, persisted)."""
        before = self._state.allow_heuristic_live
        corr = self._audit(actor, "allow_heuristic_live", on=on)
        await self._state.set_allow_heuristic_live(on, str(actor))
        self._events.append(
            "allow_heuristic_live_changed", {"on": on}, correlation_id=corr, actor=str(actor)
        )
        return SettingChange("allow_heuristic_live", _on_off(before), _on_off(on))

    async def pending_approvals(self, actor: Actor) -> list[ApprovalRequest]:
        self._audit(actor, "approvals")
        return await self._desk.pending_approvals()

    async def approve(
        self, actor: Actor, key: str, size: Decimal | str | None = None
    ) -> ApprovalDecision:
        """Approve once (a second approve does nothing); re-checked against price and risk.
        With `size`, at that size instead."""
        amount = _decimal_arg(size, "size") if size is not None else None
        self._audit(actor, "approve", key=key, size=amount)
        return await self._desk.approve(actor, key, amount)

    async def reject(self, actor: Actor, key: str) -> ApprovalDecision:
        self._audit(actor, "reject", key=key)
        return await self._desk.reject(actor, key)

    # cycle, limits, alert settings -------------------------------------------------------

    async def run_cycle(self, actor: Actor) -> str:
        self._audit(actor, "run_cycle")
        if self._cycle is None:
            raise ControlError("no signal cycle is scheduled in this process")
        return await self._cycle.run_now()

    async def limits(self, actor: Actor) -> RiskLimits:
        self._audit(actor, "limits")
        return self._state.risk_limits

    async def set_limit(self, actor: Actor, name: str, value: object) -> SettingChange:
        corr = self._audit(actor, "set_limit", name=name, value=str(value))
        before = self._state.risk_limits
        # amounts are judged against the account's size: at most ten times its equity
        bankroll = self._desk.portfolio_view().equity if self._desk is not None else None
        try:
            after = await self._state.set_risk_limit(name, value, str(actor), bankroll=bankroll)
        except SettingError as error:
            raise ControlError(str(error)) from None
        change = SettingChange(name, str(getattr(before, name)), str(getattr(after, name)))
        self._events.append(
            "limit_changed",
            {"name": name, "from": change.before, "to": change.after},
            correlation_id=corr,
            actor=str(actor),
        )
        return change

    # strategy stages -------------------------------------------------------------------

    async def strategies(self, actor: Actor) -> list[StrategyView]:
        """Every strategy with its stage and what its orders did here."""
        self._audit(actor, "strategies")
        records = await self._strategy_records.strategy_records() if self._strategy_records else {}
        stages = self._state.stages
        return [
            StrategyView(
                name=name,
                stage=stage,
                trades_now=stage.allows(self._mode),
                record=records.get(name, StrategyRecord()),
            )
            for name, stage in sorted(stages.stages.items())
        ]

    async def stage_step(self, actor: Actor, name: str, *, up: bool) -> SettingChange:
        """What `/promote` (up) or `/demote` would change, changing nothing (the preview the
        operator confirms). Raises `ControlError` for an unknown strategy or a move past the
        first or last stage."""
        stages = self._state.stages
        try:
            target = stages.step(name, up=up)
        except StageError as error:
            raise ControlError(str(error)) from None
        return SettingChange(name, str(stages.stage_of(name)), str(target))

    async def set_stage(
        self, actor: Actor, name: str, target: Stage | str, *, expected: Stage | str
    ) -> SettingChange:
        """Move `name` to `target`, only if it is still at `expected` (what the operator saw
        when confirming): a second tap, or a change by someone else in between, is refused
        rather than moving it twice. Audited, persisted before it takes effect."""
        corr = self._audit(actor, "set_stage", strategy=name, to=str(target))
        try:
            wanted, seen = parse_stage(target), parse_stage(expected)
            current = self._state.stages.stage_of(name)
            if current is None:
                self._state.stages.step(name, up=True)  # raises the unknown-strategy message
            if current != seen:
                raise StageError(f"{name} is now at stage {current}, not {seen}: nothing changed")
            await self._state.set_stage(name, wanted, str(actor))
        except StageError as error:
            raise ControlError(str(error)) from None
        self._events.append(
            "strategy_stage_changed",
            {"strategy": name, "from": str(seen), "to": str(wanted)},
            correlation_id=corr,
            actor=str(actor),
        )
        return SettingChange(name, str(seen), str(wanted))

    async def alert_settings(self, actor: Actor) -> AlertSettings:
        self._audit(actor, "alert_settings")
        return self._state.alert_settings

    async def set_alert_setting(self, actor: Actor, name: str, value: object) -> SettingChange:
        corr = self._audit(actor, "set_alert_setting", name=name, value=str(value))
        before = self._state.alert_settings.to_json().get(name)
        try:
            after = await self._state.set_alert_setting(name, value, str(actor))
        except SettingError as error:
            raise ControlError(str(error)) from None
        change = SettingChange(name, str(before), str(after.to_json()[name]))
        self._events.append(
            "alert_setting_changed",
            {"name": name, "from": change.before, "to": change.after},
            correlation_id=corr,
            actor=str(actor),
        )
        return change

    # reports and signals ---------------------------------------------------------------

    async def report(self, actor: Actor, day: date | None = None) -> ReportView:
        """The daily report for `day` (default: the operator's yesterday): the text and the
        dashboard PNG, drawn off the event loop by the report source."""
        self._audit(actor, "report", day=day.isoformat() if day else None)
        return await self._reporting.report(day)

    async def chart(self, actor: Actor, kind: str, window_days: int = 30) -> Path:
        """One chart's PNG (`kind` one of `CHART_KINDS`) over the last `window_days` days."""
        self._audit(actor, "chart", kind=str(kind)[:40], window_days=window_days)
        return await self._reporting.chart(kind, window_days)

    async def signals(self, actor: Actor) -> SignalsView:
        """The last completed signal cycle: the model, and per market what it decided."""
        self._audit(actor, "signals")
        return self._reporting.signals()

    # backtests -------------------------------------------------------------------------

    async def start_backtest(self, actor: Actor, strategy: str, days: int) -> BacktestStatus:
        """Backtest `strategy` over the last `days` days in a separate process (one at a
        time); the status to follow it by. Refused: an unknown strategy, days outside
        1..MAX_BACKTEST_DAYS, one already running."""
        if not 1 <= days <= MAX_BACKTEST_DAYS:
            raise ControlError(f"the number of days must be between 1 and {MAX_BACKTEST_DAYS}")
        if self._state.stages.stage_of(strategy) is None:
            known = ", ".join(self._state.stages.names)
            raise ControlError(f"unknown strategy {strategy[:40]!r} (known: {known})")
        self._audit(actor, "backtest", strategy=strategy, days=days)
        # spawning the child, or waiting for one stopped at its deadline, is off the loop
        return await asyncio.to_thread(self._backtest_runner().start, strategy, days)

    async def backtest_status(self, actor: Actor, job_id: str) -> BacktestStatus:
        """How far the backtest `job_id` got (not audited: the chat asks as it goes)."""
        return self._backtest_runner().status(job_id)

    def _backtest_runner(self) -> BacktestRunner:
        if self._backtests is None:
            raise NotConfiguredError(
                "backtests cannot run on this trader (it has no backtest runner)"
            )
        return self._backtests

    # why ---------------------------------------------------------------------------------

    async def why(self, actor: Actor, ref: str | None = None) -> DecisionChain:
        """The chain behind a decision: `ref` an order id, approval ref, correlation id or
        market; None for the last decision. Steps without a record are marked missing."""
        if ref is not None and not 1 <= len(ref.strip()) <= 200:
            raise ControlError("give an order id, an approval ref or a market")
        self._audit(actor, "why", ref=ref)
        try:
            return await self._why_source().explain(ref)
        except LookupError as error:
            raise ControlError(str(error.args[0] if error.args else error)) from None

    async def why_denied(self, actor: Actor, limit: int = 5) -> list[DenialFacts]:
        """The last denied intents with the rule that denied each, newest first."""
        if not 1 <= limit <= 20:
            raise ControlError("the number of denials must be between 1 and 20")
        self._audit(actor, "why_denied", limit=limit)
        return await self._why_source().denials(limit)

    def _why_source(self) -> WhySource:
        if self._why is None:
            raise NotConfiguredError("decisions cannot be explained in this process")
        return self._why

    # subscriptions ---------------------------------------------------------------------

    def subscribe_alerts(self, actor: Actor) -> EventStream[Alert]:
        self._audit(actor, "subscribe_alerts")
        return self._desk.subscribe_alerts()

    def subscribe_approvals(self, actor: Actor) -> EventStream[ApprovalRequest]:
        self._audit(actor, "subscribe_approvals")
        return self._desk.subscribe_approvals()

    def subscribe_events(self, actor: Actor, every_s: float = 1.0) -> EventStream[EventLine]:
        """The event log as it grows (the last few first), for the web page's live view:
        audited once, when subscribed, not at each look."""
        self._audit(actor, "subscribe_events")
        return EventTail(self._reader, self._clock, every_s)


class EventTail:
    """Follows the event log by sequence number, reading it every `every_s` seconds."""

    def __init__(self, reader: EventReader, clock: Clock, every_s: float, first: int = 10) -> None:
        self._reader = reader
        self._clock = clock
        self._every = every_s
        self._first = first
        self._closed = False

    def __aiter__(self) -> AsyncIterator[EventLine]:
        return self._lines()

    async def _lines(self) -> AsyncIterator[EventLine]:
        last: int | None = None
        while not self._closed:
            rows = await self._reader.recent(50)
            fresh = [r for r in rows if last is None or r.seq > last]
            if last is None:
                fresh = fresh[-self._first :]
            for row in fresh:
                yield _event_line(row)
            if rows:
                last = max(last or 0, max(r.seq for r in rows))
            await self._clock.sleep(self._every)

    def close(self) -> None:
        self._closed = True


def _on_off(value: bool) -> str:
    return "on" if value else "off"


def _decimal_arg(value: Decimal | str, what: str) -> Decimal:
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except InvalidOperation:
        raise ControlError(f"the {what} must be a number, got {value!r}") from None
    if not number.is_finite() or number <= 0:
        raise ControlError(f"the {what} must be a positive number, got {value}")
    return number


def _event_line(row: Any) -> EventLine:
    payload = row.payload if isinstance(row.payload, dict) else {}
    summary = ", ".join(f"{k}={v}" for k, v in list(payload.items())[:4])
    return EventLine(
        seq=row.seq,
        at=row.ts,
        type=row.type,
        actor=row.actor or "",
        correlation_id=row.correlation_id or "",
        summary=summary[:200],
    )


def _market_id(market: str) -> str:
    value = str(market).strip()
    if not value or len(value) > 200 or not value.isprintable():
        raise ControlError("name the market by its condition id")
    return value

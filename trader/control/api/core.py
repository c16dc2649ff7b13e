"""`ControlAPI`: its constructor (the collaborators the composition root injects), the status
snapshot, the reads (positions, orders, PnL, recent events) and the subscriptions (alerts,
approvals, the event log as it grows, `EventTail`). Its other commands come from its bases:
`ControlTrading` (`trading`), `ControlSettings` (`settings`) and `ControlAnalysis`
(`analysis`), over `ControlBase`'s audit (`base`).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

from trader import __version__
from trader.clock import Clock
from trader.control.api.analysis import ControlAnalysis
from trader.control.api.settings import ControlSettings
from trader.control.api.trading import ControlTrading
from trader.control.reports import Reporting, ReportSource, SignalSource
from trader.control.types import (
    ApprovalRequest,
    BacktestRunner,
    ComponentHealth,
    ControlError,
    CycleHook,
    EventLine,
    EventReader,
    EventSink,
    EventStream,
    HeartbeatSource,
    OrderView,
    PnlPeriod,
    PnlReport,
    PositionView,
    SpendSource,
    StatusSnapshot,
    StrategyRecordSource,
    TradingDesk,
)
from trader.control.why import WhySource
from trader.domain import Actor, Alert, TradingMode
from trader.stages import StageBook
from trader.state import ControlState


class ControlAPI(ControlTrading, ControlSettings, ControlAnalysis):
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

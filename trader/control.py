"""The Control API: the only door the chat uses into the trader.

Every call takes the `Actor` who asked (user and channel), is audited in the event log, and
returns a typed result; formatting is the chat's job. Collaborators are injected by the
composition root; the chat never reaches past this module and `trader.domain`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from trader import __version__
from trader.clock import Clock
from trader.domain import Actor, TradingMode, TradingState
from trader.state import ControlState


class EventSink(Protocol):
    def append(
        self,
        type: str,
        payload: dict[str, Any],
        *,
        correlation_id: str | None = None,
        actor: str | None = None,
    ) -> None: ...


class EventReader(Protocol):
    async def recent(self, n: int) -> list[Any]: ...


class ControlError(Exception):
    """A request the Control API refuses, with a message fit for the operator."""


@dataclass(frozen=True, slots=True)
class StatusSnapshot:
    version: str
    pid: int
    mode: TradingMode
    trading_state: TradingState
    state_reason: str
    state_changed_by: str
    state_changed_at: datetime | None
    approval_mode: bool
    started_at: datetime
    now: datetime
    components: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StateChange:
    before: TradingState
    after: TradingState
    reason: str
    changed: bool


@dataclass(frozen=True, slots=True)
class EventLine:
    seq: int
    at: datetime
    type: str
    actor: str
    correlation_id: str
    summary: str


class ComponentHealth(Protocol):
    def component_states(self) -> dict[str, str]: ...


class ControlAPI:
    def __init__(
        self,
        *,
        state: ControlState,
        events: EventSink,
        event_reader: EventReader,
        clock: Clock,
        mode: TradingMode,
        components: ComponentHealth | None = None,
    ) -> None:
        self._state = state
        self._events = events
        self._reader = event_reader
        self._clock = clock
        self._mode = mode
        self._components = components
        self._started_at = clock.now()

    def _audit(self, actor: Actor, command: str, **details: Any) -> None:
        self._events.append("command", {"command": command, **details}, actor=str(actor))

    async def status(self, actor: Actor) -> StatusSnapshot:
        self._audit(actor, "status")
        trading = self._state.trading
        return StatusSnapshot(
            version=__version__,
            pid=os.getpid(),
            mode=self._mode,
            trading_state=trading.state,
            state_reason=trading.reason,
            state_changed_by=trading.changed_by,
            state_changed_at=trading.changed_at,
            approval_mode=self._state.approval_mode,
            started_at=self._started_at,
            now=self._clock.now(),
            components=self._components.component_states() if self._components else {},
        )

    async def pause(self, actor: Actor, reason: str = "") -> StateChange:
        """Stop new entries; resting orders stay. Kept across restarts."""
        before = self._state.trading.state
        self._audit(actor, "pause", reason=reason)
        if before in (TradingState.KILLED, TradingState.HALTED):
            raise ControlError(f"trading is {before.value}; re-arm it first, then pause or resume")
        if before is TradingState.PAUSED:
            return StateChange(before, before, self._state.trading.reason, changed=False)
        text = reason or f"paused by {actor}"
        await self._state.set_trading(TradingState.PAUSED, text, str(actor))
        self._events.append(
            "trading_state_changed",
            {"from": before.value, "to": TradingState.PAUSED.value, "reason": text},
            actor=str(actor),
        )
        return StateChange(before, TradingState.PAUSED, text, changed=True)

    async def resume(self, actor: Actor) -> StateChange:
        before = self._state.trading.state
        self._audit(actor, "resume")
        if before in (TradingState.KILLED, TradingState.HALTED):
            raise ControlError(f"trading is {before.value}: only /rearm clears it")
        if before is TradingState.RUNNING:
            return StateChange(before, before, "", changed=False)
        await self._state.set_trading(TradingState.RUNNING, f"resumed by {actor}", str(actor))
        self._events.append(
            "trading_state_changed",
            {"from": before.value, "to": TradingState.RUNNING.value},
            actor=str(actor),
        )
        return StateChange(before, TradingState.RUNNING, "", changed=True)

    async def recent_events(self, actor: Actor, n: int = 10) -> list[EventLine]:
        if not 1 <= n <= 100:
            raise ControlError("the number of events must be between 1 and 100")
        self._audit(actor, "events", n=n)
        rows = await self._reader.recent(n)
        return [_event_line(row) for row in rows]


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

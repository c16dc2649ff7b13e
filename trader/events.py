"""Typed events: the facts the event log records that something else counts, and the event
sink they are recorded through.

Each event is a frozen dataclass with its event-log `type` (the row's type column, unchanged
from when these were plain strings) and its `payload()`. A producer records one with
`EventSink.record(event, correlation_id=...)`: the event log writes it as a row like any other
(`append`), and the metered log (`trader.wiring.MeteredEventLog`) then hands it, by its class,
to the handlers subscribed to that class through `EventHandlers`. The Prometheus counters
(`trader.ops.metrics.Metrics.subscribe`) are such handlers: nothing parses a type string to
decide what to count. Events nothing counts stay plain `append(type, payload)` lines.

This module imports only `trader.domain`, so the execution core, the signal runtime, the event log
and the metrics can all use it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar, Protocol, TypeVar

from trader.domain import Actor

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class IntentDenied:
    """Risk denied an intent (the rule that did)."""

    type: ClassVar[str] = "intent_denied"
    rule: str
    message: str
    market: str = ""  # for /why denied: which market, which side
    side: str = ""

    def payload(self) -> dict[str, Any]:
        where = {"market": self.market, "side": self.side}
        return {"rule": self.rule, "message": self.message} | {k: v for k, v in where.items() if v}


@dataclass(frozen=True, slots=True)
class OrderSubmitted:
    """The venue accepted an order (its status and what filled at once)."""

    type: ClassVar[str] = "order_submitted"
    order_id: str
    status: str
    filled: Decimal

    def payload(self) -> dict[str, Any]:
        return {"order_id": self.order_id, "status": self.status, "filled": self.filled}


@dataclass(frozen=True, slots=True)
class OrderRefusedByVenue:
    """The venue refused to prepare an order (a tick, a minimum size...): nothing was sent."""

    type: ClassVar[str] = "order_refused"
    code: str | None
    message: str

    def payload(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True, slots=True)
class SubmitOutcomeUnknown:
    """A submit whose outcome the venue did not say (a timeout): resolved later."""

    type: ClassVar[str] = "submit_unknown"
    order_id: str
    message: str

    def payload(self) -> dict[str, Any]:
        return {"order_id": self.order_id, "message": self.message}


@dataclass(frozen=True, slots=True)
class VenueErrored:
    """A venue call failed at `step` (prepare, submit, ...)."""

    type: ClassVar[str] = "venue_error"
    step: str
    code: str | None
    error: str  # the exception's class name
    message: str

    def payload(self) -> dict[str, Any]:
        return {"step": self.step, "code": self.code, "error": self.error, "message": self.message}


@dataclass(frozen=True, slots=True)
class FillApplied:
    """A fill applied to the positions (the position's size and what it realised after it)."""

    type: ClassVar[str] = "fill"
    trade_id: str
    order_id: str
    side: str
    price: Decimal
    size: Decimal
    fee: Decimal
    source: str
    position: Decimal
    realized: Decimal

    def payload(self) -> dict[str, Any]:
        return {
            "trade_id": self.trade_id,
            "order_id": self.order_id,
            "side": self.side,
            "price": self.price,
            "size": self.size,
            "fee": self.fee,
            "source": self.source,
            "position": self.position,
            "realized": self.realized,
        }


@dataclass(frozen=True, slots=True)
class SignalCycleCompleted:
    """A signal cycle ran to its end; `summary` is the recorded payload (with `duration_s`)."""

    type: ClassVar[str] = "signal_cycle_completed"
    duration_s: float
    summary: Mapping[str, Any] = field(default_factory=dict)

    def payload(self) -> dict[str, Any]:
        return {**self.summary, "duration_s": self.duration_s}


@dataclass(frozen=True, slots=True)
class SignalCycleFailed:
    """A signal cycle could not run at all (the error, and how long it tried)."""

    type: ClassVar[str] = "signal_cycle_failed"
    error: str
    duration_s: float

    def payload(self) -> dict[str, Any]:
        return {"error": self.error, "duration_s": self.duration_s}


RecordedEvent = (
    IntentDenied
    | OrderSubmitted
    | OrderRefusedByVenue
    | SubmitOutcomeUnknown
    | VenueErrored
    | FillApplied
    | SignalCycleCompleted
    | SignalCycleFailed
)
E = TypeVar("E", bound=RecordedEvent)


class EventSink(Protocol):
    """The event log as its writers see it: never blocks, never awaits.

    `append` records a plain line; `record` records a typed event (its type and payload) and
    lets whoever subscribed to its class see it."""

    def append(
        self,
        type: str,
        payload: Mapping[str, Any] | None = None,
        *,
        correlation_id: str | None,
        actor: Actor | str = ...,
    ) -> None: ...

    def record(
        self, event: RecordedEvent, *, correlation_id: str | None, actor: Actor | str = ...
    ) -> None: ...


class EventHandlers:
    """Handlers by event class. `publish` calls each handler of the event's class; a handler
    that raises is logged and skipped (a metrics bug never breaks the hot path)."""

    def __init__(self) -> None:
        self._handlers: dict[type[Any], list[Callable[[Any], None]]] = {}

    def subscribe(self, kind: type[E], handler: Callable[[E], None]) -> None:
        self._handlers.setdefault(kind, []).append(handler)

    def publish(self, event: RecordedEvent) -> None:
        for handler in self._handlers.get(type(event), ()):
            try:
                handler(event)
            except Exception:
                log.exception("event handler failed for %s", event.type)

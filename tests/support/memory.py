"""The control state's key-value store and the event log, kept in memory.

`MemoryStore` is a `trader.state.KeyValueStore`; `MemoryEvents` is both the Control API's
`EventSink` and its `EventReader`. Both behave like the database versions where the tests can
tell: values and payloads go through JSON (so a value the database could not store fails here
too, and a later change to the caller's dict does not leak into what was stored), and
`recent(n)` returns the last `n` events oldest first, as `EventLog.recent` does.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from trader.clock import Clock, FakeClock
from trader.domain import Actor
from trader.events import RecordedEvent


class MemoryStore:
    def __init__(self, values: Mapping[str, Any] | None = None) -> None:
        self.values: dict[str, Any] = _json_copy(dict(values or {}))
        self.writes = 0

    async def get_all(self) -> dict[str, Any]:
        return _json_copy(self.values)

    async def set(self, key: str, value: Any, *, updated_by: str) -> None:
        self.values[key] = _json_copy(value)
        self.writes += 1


@dataclass(frozen=True)
class EventRow:
    seq: int
    ts: datetime
    type: str
    actor: str | None
    correlation_id: str | None
    payload: dict[str, Any]


class MemoryEvents:
    def __init__(self, clock: Clock | None = None) -> None:
        self.rows: list[EventRow] = []
        self._clock = clock or FakeClock()

    def append(
        self,
        type: str,
        payload: Mapping[str, Any] | None = None,
        *,
        correlation_id: str | None = None,
        actor: Actor | str | None = None,
    ) -> None:
        self.rows.append(
            EventRow(
                seq=len(self.rows) + 1,
                ts=self._clock.now(),
                type=type,
                actor=None if actor is None else str(actor),
                correlation_id=correlation_id,
                payload=json.loads(json.dumps(dict(payload or {}), default=str)),
            )
        )

    def record(
        self,
        event: RecordedEvent,
        *,
        correlation_id: str | None = None,
        actor: Actor | str | None = None,
    ) -> None:
        self.append(event.type, event.payload(), correlation_id=correlation_id, actor=actor)

    async def recent(self, limit: int = 50) -> list[EventRow]:
        return self.rows[-limit:]

    def of_type(self, type: str) -> list[EventRow]:
        return [row for row in self.rows if row.type == type]

    def commands(self) -> list[str]:
        """The command of every audited Control API call, in order."""
        return [str(row.payload.get("command")) for row in self.of_type("command")]

    def audited(self, actor_prefix: str = "") -> list[tuple[str, str]]:
        """(actor, command) of every audited Control API call whose actor starts so."""
        return [
            (row.actor or "", str(row.payload.get("command")))
            for row in self.of_type("command")
            if (row.actor or "").startswith(actor_prefix)
        ]


def _json_copy(value: Any) -> Any:
    return json.loads(json.dumps(value))


__all__ = ["EventRow", "MemoryEvents", "MemoryStore"]

"""Operator-controlled state that survives restarts: trading state, approval mode, settings.

Reads are synchronous from an in-memory copy (the risk checks on the hot path read it);
every change is written through to the database before the call returns, and appended to
the event log by the caller (the Control API).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from trader.clock import Clock
from trader.domain import TradingState

TRADING_STATE_KEY = "trading_state"
APPROVAL_MODE_KEY = "approval_mode"


class KeyValueStore(Protocol):
    async def get_all(self) -> dict[str, Any]: ...

    async def set(self, key: str, value: Any, *, updated_by: str) -> None: ...


@dataclass(frozen=True, slots=True)
class TradingStatus:
    state: TradingState
    reason: str
    changed_by: str
    changed_at: datetime | None


class ControlState:
    def __init__(self, store: KeyValueStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        self._values: dict[str, Any] = {}

    async def load(self) -> None:
        self._values = dict(await self._store.get_all())

    async def _set(self, key: str, value: Any, by: str) -> None:
        await self._store.set(key, value, updated_by=by)
        self._values[key] = value

    # trading state --------------------------------------------------------------------

    @property
    def trading(self) -> TradingStatus:
        raw = self._values.get(TRADING_STATE_KEY) or {}
        at = raw.get("at")
        return TradingStatus(
            state=TradingState(raw.get("state", TradingState.RUNNING)),
            reason=str(raw.get("reason", "")),
            changed_by=str(raw.get("by", "")),
            changed_at=datetime.fromisoformat(at) if at else None,
        )

    async def set_trading(self, state: TradingState, reason: str, by: str) -> TradingStatus:
        value = {"state": state.value, "reason": reason, "by": by, "at": self._clock.now().isoformat()}
        await self._set(TRADING_STATE_KEY, value, by)
        return self.trading

    # approval mode --------------------------------------------------------------------

    @property
    def approval_mode(self) -> bool:
        return bool(self._values.get(APPROVAL_MODE_KEY, False))

    async def set_approval_mode(self, on: bool, by: str) -> None:
        await self._set(APPROVAL_MODE_KEY, on, by)

    # generic settings (limits, alert settings) ----------------------------------------

    def get(self, key: str, default: Any = None) -> Any:
        return self._values.get(key, default)

    async def put(self, key: str, value: Any, by: str) -> None:
        await self._set(key, value, by)

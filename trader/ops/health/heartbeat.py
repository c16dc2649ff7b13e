"""The heartbeat: one row in `heartbeats`, rewritten every HEARTBEAT_INTERVAL_S from the loop.

`HeartbeatWriter.run()` is a coroutine the composition root supervises inside the app's event
loop, so a loop that blocks (a synchronous call, a CPU-bound render, a deadlock on the loop's
thread) stops the beats and the separate watchdog process notices. The values in a beat come
from injected providers (trading state, last completed cycle, feed age, open orders), read at
the moment of the beat; a provider that raises leaves its field empty for that beat and is
logged, it never stops the heartbeat.

A failed database write is logged once per failure episode (and once when writes work again),
and the writer keeps its schedule. `heartbeat_age()` is the age of the last *successful*
write, for /metrics and the chat's /health. `write_final()` records a last beat marked
`stopped` at a clean shutdown, so the watchdog can tell a deliberate stop from a crash.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeVar

from trader import __version__
from trader.clock import Clock
from trader.store.tables import HeartbeatRow

log = logging.getLogger(__name__)

APP_COMPONENT = "app"
STOPPED_KEY = "stopped"

T = TypeVar("T")


class HeartbeatSink(Protocol):
    """Where beats go (trader.store.repositories.HeartbeatRepository fits)."""

    async def upsert(self, beat: HeartbeatRow) -> None: ...


def _none() -> None:
    return None


def _zero() -> int:
    return 0


def _empty() -> Mapping[str, Any]:
    return {}


@dataclass(frozen=True, slots=True)
class HeartbeatProviders:
    """What a beat reports. Only the trading state is required; the rest default to empty."""

    trading_state: Callable[[], str]
    last_cycle_at: Callable[[], datetime | None] = _none
    feed_age_s: Callable[[], float | None] = _none
    open_orders: Callable[[], int] = _zero
    details: Callable[[], Mapping[str, Any]] = _empty


@dataclass(slots=True)
class _WriteState:
    beats: int = 0
    failures: int = 0
    failing: bool = False
    last_ok_monotonic: float | None = None
    last_error: str = ""
    bad_providers: set[str] = field(default_factory=set)


class HeartbeatWriter:
    def __init__(
        self,
        sink: HeartbeatSink,
        clock: Clock,
        providers: HeartbeatProviders,
        *,
        interval_s: float,
        component: str = APP_COMPONENT,
        version: str = __version__,
        pid: int | None = None,
    ) -> None:
        if interval_s <= 0:
            raise ValueError("the heartbeat interval must be positive")
        self._sink = sink
        self._clock = clock
        self._providers = providers
        self.interval_s = interval_s
        self.component = component
        self._version = version
        self._pid = os.getpid() if pid is None else pid
        self._state = _WriteState()

    # --- what others read ------------------------------------------------------------------

    def heartbeat_age(self) -> float | None:
        """Seconds since the last successful write, or None before the first one."""
        last = self._state.last_ok_monotonic
        return None if last is None else max(0.0, self._clock.monotonic() - last)

    @property
    def beats(self) -> int:
        """Successful writes so far."""
        return self._state.beats

    @property
    def failures(self) -> int:
        return self._state.failures

    @property
    def last_error(self) -> str:
        return self._state.last_error

    # --- writing ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Beat now, then every `interval_s` (on the clock's schedule) until cancelled."""
        next_at = self._clock.monotonic()
        while True:
            await self.beat()
            next_at += self.interval_s
            now = self._clock.monotonic()
            if next_at < now:  # fell behind (a slow write, a blocked loop): do not burst
                next_at = now + self.interval_s
            await self._clock.sleep(next_at - now)

    async def beat(self, **extra_details: Any) -> bool:
        """Write one beat now. Returns whether the database took it (never raises)."""
        row = self.build_row(extra_details)
        try:
            await self._sink.upsert(row)
        except Exception as error:
            self._on_failure(error)
            return False
        self._on_success()
        return True

    async def write_final(self, reason: str = "shutdown") -> bool:
        """A last beat marked stopped: the watchdog reads it as a clean stop, not a crash."""
        return await self.beat(**{STOPPED_KEY: True, "reason": reason})

    def build_row(self, extra_details: Mapping[str, Any] | None = None) -> HeartbeatRow:
        providers = self._providers
        empty: Mapping[str, Any] = {}
        details = dict(self._read("details", providers.details, empty))
        details.update(extra_details or {})
        return HeartbeatRow(
            component=self.component,
            ts=self._clock.now(),
            pid=self._pid,
            version=self._version,
            trading_state=str(self._read("trading_state", providers.trading_state, "UNKNOWN")),
            last_cycle_at=self._read("last_cycle_at", providers.last_cycle_at, None),
            feed_age_s=self._read("feed_age_s", providers.feed_age_s, None),
            open_orders=int(self._read("open_orders", providers.open_orders, 0)),
            details=details,
        )

    def _read(self, name: str, provider: Callable[[], T], default: T) -> T:
        try:
            value = provider()
        except Exception:
            if name not in self._state.bad_providers:
                self._state.bad_providers.add(name)
                log.exception("heartbeat provider %s failed; reporting it empty", name)
            return default
        self._state.bad_providers.discard(name)
        return value

    def _on_failure(self, error: Exception) -> None:
        state = self._state
        state.failures += 1
        state.last_error = f"{type(error).__name__}: {error}"
        if not state.failing:
            state.failing = True
            log.error("heartbeat write failed (will keep trying): %s", state.last_error)

    def _on_success(self) -> None:
        state = self._state
        state.beats += 1
        state.last_ok_monotonic = self._clock.monotonic()
        if state.failing:
            state.failing = False
            log.warning("heartbeat writes work again after %d failures", state.failures)

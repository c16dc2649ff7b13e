"""Runs each engine as a supervised task.

A crashed component restarts after an exponential backoff (1 s, 2 s, 4 s ... capped at
30 s). Three crashes within five minutes trip its circuit breaker: the component stays
down and `on_trip` is called (the composition root raises a critical alert and halts
trading). A component that returns normally is finished and is not restarted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum

from trader.clock import Clock

log = logging.getLogger(__name__)

ComponentFactory = Callable[[], Awaitable[None]]
TripHandler = Callable[[str, BaseException], Awaitable[None]]
RestartHandler = Callable[[str, BaseException, float], Awaitable[None]]


class ComponentState(StrEnum):
    RUNNING = "running"
    BACKING_OFF = "backing_off"
    TRIPPED = "tripped"
    FINISHED = "finished"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class SupervisorPolicy:
    initial_backoff_s: float = 1.0
    max_backoff_s: float = 30.0
    breaker_crashes: int = 3
    breaker_window_s: float = 300.0

    def backoff(self, consecutive_crashes: int) -> float:
        return float(
            min(self.max_backoff_s, self.initial_backoff_s * 2.0 ** (consecutive_crashes - 1))
        )


@dataclass(slots=True)
class ComponentStatus:
    name: str
    state: ComponentState = ComponentState.RUNNING
    restarts: int = 0
    consecutive_crashes: int = 0
    last_error: str = ""
    crash_times: deque[float] = field(default_factory=deque)


class Supervisor:
    def __init__(
        self,
        clock: Clock,
        *,
        policy: SupervisorPolicy | None = None,
        on_trip: TripHandler | None = None,
        on_restart: RestartHandler | None = None,
    ) -> None:
        self._clock = clock
        self._policy = policy or SupervisorPolicy()
        self._on_trip = on_trip
        self._on_restart = on_restart
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self.status: dict[str, ComponentStatus] = {}

    def start(self, name: str, factory: ComponentFactory) -> None:
        if name in self._tasks and not self._tasks[name].done():
            raise RuntimeError(f"component {name!r} is already running")
        self.status[name] = ComponentStatus(name)
        self._tasks[name] = asyncio.create_task(self._run(name, factory), name=f"sv:{name}")

    @property
    def restarts_total(self) -> int:
        return sum(status.restarts for status in self.status.values())

    def tripped(self) -> list[str]:
        return [s.name for s in self.status.values() if s.state is ComponentState.TRIPPED]

    async def _run(self, name: str, factory: ComponentFactory) -> None:
        status = self.status[name]
        while True:
            status.state = ComponentState.RUNNING
            started = self._clock.monotonic()
            try:
                await factory()
            except asyncio.CancelledError:
                status.state = ComponentState.STOPPED
                raise
            except Exception as error:
                delay = self._record_crash(status, error, started)
                if delay is None:
                    await self._trip(status, error)
                    return
                log.warning("component %s crashed; restarting in %.1fs", name, delay)
                if self._on_restart is not None:
                    await self._safely(self._on_restart(name, error, delay))
                status.state = ComponentState.BACKING_OFF
                await self._clock.sleep(delay)
                status.restarts += 1
            else:
                status.state = ComponentState.FINISHED
                return

    def _record_crash(
        self, status: ComponentStatus, error: BaseException, started: float
    ) -> float | None:
        now = self._clock.monotonic()
        policy = self._policy
        status.last_error = f"{type(error).__name__}: {error}"
        status.crash_times.append(now)
        while status.crash_times and now - status.crash_times[0] > policy.breaker_window_s:
            status.crash_times.popleft()
        if len(status.crash_times) >= policy.breaker_crashes:
            return None
        # A component that ran healthily for a whole window starts its backoff over.
        healthy = now - started >= policy.breaker_window_s
        status.consecutive_crashes = 1 if healthy else status.consecutive_crashes + 1
        return policy.backoff(status.consecutive_crashes)

    async def _trip(self, status: ComponentStatus, error: BaseException) -> None:
        status.state = ComponentState.TRIPPED
        log.error("component %s tripped its circuit breaker: %s", status.name, status.last_error)
        if self._on_trip is not None:
            await self._safely(self._on_trip(status.name, error))

    @staticmethod
    async def _safely(awaitable: Awaitable[None]) -> None:
        try:
            await awaitable
        except Exception:
            log.exception("supervisor callback failed")

    async def stop(self, name: str | None = None) -> None:
        names = [name] if name else list(self._tasks)
        tasks = [self._tasks[n] for n in names if n in self._tasks]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def wait(self) -> None:
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)

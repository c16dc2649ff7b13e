from __future__ import annotations

import asyncio

from tests.support.waiting import eventually
from trader.clock import FakeClock
from trader.ops.supervisor import ComponentState, Supervisor, SupervisorPolicy


class Flaky:
    def __init__(self, crashes: int) -> None:
        self.crashes = crashes
        self.runs = 0

    async def __call__(self) -> None:
        self.runs += 1
        if self.runs <= self.crashes:
            raise RuntimeError(f"boom {self.runs}")


async def test_restarts_with_exponential_backoff_capped_at_30s() -> None:
    clock = FakeClock()
    # A wide breaker window would trip; a narrow one lets us watch the backoff grow.
    supervisor = Supervisor(clock, policy=SupervisorPolicy(breaker_crashes=99))
    component = Flaky(crashes=7)
    supervisor.start("cycle", component)
    await eventually(lambda: supervisor.status["cycle"].state is ComponentState.FINISHED)
    assert clock.sleeps == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert supervisor.status["cycle"].restarts == 7
    assert component.runs == 8


async def test_three_crashes_in_five_minutes_trip_the_breaker_and_call_on_trip() -> None:
    clock = FakeClock()
    tripped: list[tuple[str, str]] = []

    async def on_trip(name: str, error: BaseException) -> None:
        tripped.append((name, str(error)))

    supervisor = Supervisor(clock, on_trip=on_trip)
    component = Flaky(crashes=100)
    supervisor.start("signals", component)
    await eventually(lambda: supervisor.status["signals"].state is ComponentState.TRIPPED)
    assert component.runs == 3
    assert tripped == [("signals", "boom 3")]
    assert supervisor.tripped() == ["signals"]
    await asyncio.sleep(0)
    assert component.runs == 3  # stays down


async def test_crashes_spread_beyond_the_window_do_not_trip() -> None:
    clock = FakeClock()

    class SlowCrasher:
        runs = 0

        async def __call__(self) -> None:
            self.runs += 1
            clock.advance(200)  # each run lives 200 s before crashing
            if self.runs <= 4:
                raise RuntimeError("late crash")

    component = SlowCrasher()
    supervisor = Supervisor(clock)
    supervisor.start("feed", component)
    await eventually(lambda: supervisor.status["feed"].state is ComponentState.FINISHED)
    assert supervisor.tripped() == []
    assert component.runs == 5


async def test_stop_cancels_running_components() -> None:
    clock = FakeClock()
    started = asyncio.Event()

    async def forever() -> None:
        started.set()
        await asyncio.Event().wait()

    supervisor = Supervisor(clock)
    supervisor.start("chat", forever)
    await started.wait()
    await supervisor.stop()
    assert supervisor.status["chat"].state is ComponentState.STOPPED

from __future__ import annotations

import asyncio
from typing import Any, cast

from trader.clock import FakeClock
from trader.venue.base import Maintenance, Venue
from trader.wiring import venue_heartbeats


class FlakyHeartbeats:
    """A venue whose heartbeat fails `failures` times (425 maintenance), then succeeds."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0
        self.sent = 0

    async def heartbeat(self) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise Maintenance("engine restarting", retry_after=None)
        self.sent += 1


async def test_venue_errors_do_not_stop_the_heartbeats() -> None:
    clock = FakeClock()
    venue = FlakyHeartbeats(failures=5)
    task = asyncio.create_task(venue_heartbeats(cast(Venue, venue), clock, 5.0))
    try:
        for _ in range(200):
            if venue.sent >= 3:
                break
            await asyncio.sleep(0)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    assert venue.sent >= 3  # beating again after five failures, not crashed
    retries: list[Any] = clock.sleeps[:5]
    assert all(delay <= 1.0 for delay in retries)  # retried well inside the venue's window
    assert 5.0 in clock.sleeps[5:]  # then back to the normal interval

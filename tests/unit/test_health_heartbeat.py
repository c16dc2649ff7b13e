"""The heartbeat writer: what a beat holds, its schedule, and how it survives failures."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from tests.support.waiting import eventually
from trader.clock import FakeClock
from trader.ops.health import STOPPED_KEY, HeartbeatProviders, HeartbeatWriter
from trader.store.tables import HeartbeatRow

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class MemorySink:
    def __init__(self) -> None:
        self.rows: list[HeartbeatRow] = []
        self.fail = False

    async def upsert(self, beat: HeartbeatRow) -> None:
        if self.fail:
            raise OSError("disk I/O error")
        self.rows.append(beat)


def writer_for(
    sink: MemorySink, clock: FakeClock, providers: HeartbeatProviders | None = None
) -> HeartbeatWriter:
    return HeartbeatWriter(
        sink,
        clock,
        providers or HeartbeatProviders(trading_state=lambda: "RUNNING"),
        interval_s=10,
        pid=4242,
        version="9.9.9",
    )


async def test_a_beat_holds_the_providers_values_at_that_moment() -> None:
    clock, sink = FakeClock(START), MemorySink()
    providers = HeartbeatProviders(
        trading_state=lambda: "PAUSED",
        last_cycle_at=lambda: START,
        feed_age_s=lambda: 1.5,
        open_orders=lambda: 3,
        details=lambda: {"mode": "paper"},
    )
    assert await writer_for(sink, clock, providers).beat()
    row = sink.rows[0]
    assert (row.component, row.pid, row.version, row.ts) == ("app", 4242, "9.9.9", START)
    assert (row.trading_state, row.last_cycle_at, row.feed_age_s, row.open_orders) == (
        "PAUSED",
        START,
        1.5,
        3,
    )
    assert row.details == {"mode": "paper"}


async def test_run_beats_every_interval_on_the_clock() -> None:
    clock, sink = FakeClock(START), MemorySink()
    writer = writer_for(sink, clock)
    task = asyncio.create_task(writer.run())
    await eventually(lambda: len(sink.rows) >= 4, interval=0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [(row.ts - START).total_seconds() for row in sink.rows[:4]] == [0, 10, 20, 30]
    assert set(clock.sleeps) == {10}


async def test_a_failing_provider_leaves_its_field_empty_and_the_beat_goes_on() -> None:
    clock, sink = FakeClock(START), MemorySink()

    def broken() -> int:
        raise RuntimeError("portfolio not ready")

    providers = HeartbeatProviders(trading_state=lambda: "RUNNING", open_orders=broken)
    assert await writer_for(sink, clock, providers).beat()
    assert sink.rows[0].open_orders == 0


async def test_a_failed_write_is_counted_logged_once_and_the_age_keeps_growing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock, sink = FakeClock(START), MemorySink()
    writer = writer_for(sink, clock)
    assert writer.heartbeat_age() is None
    await writer.beat()
    sink.fail = True
    for _ in range(3):
        clock.advance(10)
        assert not await writer.beat()
    assert writer.failures == 3
    assert writer.heartbeat_age() == 30
    assert "disk I/O error" in writer.last_error
    assert sum("heartbeat write failed" in r.message for r in caplog.records) == 1
    sink.fail = False
    assert await writer.beat()
    assert writer.heartbeat_age() == 0
    assert any("work again" in r.message for r in caplog.records)


async def test_write_final_marks_the_beat_stopped() -> None:
    clock, sink = FakeClock(START), MemorySink()
    await writer_for(sink, clock).write_final("shutdown")
    assert sink.rows[-1].details == {STOPPED_KEY: True, "reason": "shutdown"}


def test_the_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        HeartbeatWriter(
            MemorySink(),
            FakeClock(START),
            HeartbeatProviders(trading_state=lambda: "RUNNING"),
            interval_s=0,
        )

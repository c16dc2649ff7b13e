"""The event log: non-blocking appends, batched writes in order, nothing lost on failure."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support.waiting import eventually
from trader.clock import FakeClock
from trader.domain import Actor, OrderStatus, Side
from trader.store import migrate
from trader.store.db import create_engine, session_factory
from trader.store.eventlog import (
    EventLog,
    EventLogClosed,
    EventLogFlushError,
    RunGap,
    find_gaps,
)
from trader.store.tables import EventLogRow, table_of

T0 = datetime(2026, 1, 1, tzinfo=UTC)
EVENTS = table_of(EventLogRow)


async def _stored(engine: AsyncEngine) -> int:
    """Rows in the table, read on the side: not through the log, which would flush."""
    async with engine.connect() as connection:
        return int(await connection.scalar(select(func.count()).select_from(EVENTS)) or 0)


def test_append_is_not_a_coroutine() -> None:
    assert not inspect.iscoroutinefunction(EventLog.append)


async def test_ten_thousand_appends_are_all_stored_in_order(engine: AsyncEngine) -> None:
    log = EventLog(session_factory(engine), FakeClock(T0), batch_size=500)
    await log.start()

    for n in range(10_000):
        log.append("tick", {"n": n}, correlation_id=f"c{n % 7}")
    assert log.pending == 10_000  # appending never waited for the database
    await log.close()

    async with engine.connect() as connection:
        rows = (await connection.execute(select(EVENTS).order_by(EVENTS.c.seq))).all()
    assert [row.payload["n"] for row in rows] == list(range(10_000))
    seqs = [row.seq for row in rows]
    assert seqs == list(range(seqs[0], seqs[0] + 10_000))
    assert log.pending == 0


async def test_a_lone_event_is_written_by_the_timer(engine: AsyncEngine) -> None:
    log = EventLog(session_factory(engine), FakeClock(T0), batch_size=1000, flush_interval=0.02)
    try:
        log.append("started", {}, correlation_id=None)

        async def written() -> bool:
            return await _stored(engine) == 1

        await eventually(written)
    finally:
        await log.close()


async def test_payloads_are_stored_as_json_types(engine: AsyncEngine) -> None:
    clock = FakeClock(T0)
    async with EventLog(session_factory(engine), clock) as log:
        payload = {
            "price": Decimal("0.45"),
            "at": datetime(2026, 1, 1, 14, tzinfo=timezone(timedelta(hours=2))),
            "side": Side.BUY,
            "status": OrderStatus.LIVE,
            "levels": (Decimal("0.1"), Decimal("0.20")),
            "nested": {"ok": True, "ratio": 0.5, "bad": float("nan")},
        }
        log.append("order_submitted", payload, correlation_id="c1", actor=Actor("telegram", "42"))
        payload["price"] = Decimal("0.99")  # history does not change with the caller's dict

        [event] = await log.by_correlation("c1")

    assert event.type == "order_submitted"
    assert event.actor == "telegram:42"
    assert event.ts == T0
    assert event.payload == {
        "price": "0.45",
        "at": "2026-01-01T12:00:00+00:00",
        "side": "BUY",
        "status": "LIVE",
        "levels": ["0.1", "0.20"],
        "nested": {"ok": True, "ratio": 0.5, "bad": "nan"},
    }


async def test_a_payload_that_cannot_be_stored_fails_at_the_caller(engine: AsyncEngine) -> None:
    async with EventLog(session_factory(engine), FakeClock(T0)) as log:
        with pytest.raises(TypeError, match="object"):
            log.append("bad", {"thing": object()}, correlation_id=None)
        with pytest.raises(ValueError, match="naive"):
            log.append("bad", {"at": datetime(2026, 1, 1)}, correlation_id=None)  # noqa: DTZ001
        assert log.pending == 0


async def test_reads_see_every_append_in_order(engine: AsyncEngine) -> None:
    clock = FakeClock(T0)
    async with EventLog(
        session_factory(engine), clock, batch_size=10_000, flush_interval=60
    ) as log:
        for n in range(5):
            clock.advance(1)
            log.append("step", {"n": n}, correlation_id="a" if n % 2 == 0 else "b")

        recent = await log.recent(3)
        by_a = await log.by_correlation("a")
        after = await log.after(recent[0].seq)

    assert [e.payload["n"] for e in recent] == [2, 3, 4]
    assert [e.payload["n"] for e in by_a] == [0, 2, 4]
    assert [e.payload["n"] for e in after] == [3, 4]
    assert [e.ts for e in by_a] == [T0 + timedelta(seconds=s) for s in (1, 3, 5)]


async def test_append_after_close_is_refused(engine: AsyncEngine) -> None:
    log = EventLog(session_factory(engine), FakeClock(T0))
    await log.close()

    with pytest.raises(EventLogClosed):
        log.append("late", {}, correlation_id=None)


async def test_a_failed_flush_keeps_events_and_the_writer_retries(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The table is missing (database not migrated yet): writes fail until it appears."""
    engine = create_engine(database_url)
    log = EventLog(
        session_factory(engine),
        FakeClock(T0),
        batch_size=10,
        flush_interval=0.01,
        max_retry_delay=0.02,
    )
    try:
        with caplog.at_level(logging.ERROR, logger="trader.store.eventlog"):
            for n in range(25):
                log.append("tick", {"n": n}, correlation_id=None)
            with pytest.raises(EventLogFlushError) as caught:
                await log.flush()
            assert caught.value.pending == 25
            assert log.pending == 25
            assert log.last_error is not None

            for n in range(25, 30):  # still accepted while the database refuses
                log.append("tick", {"n": n}, correlation_id=None)
            await migrate.upgrade_async(database_url)

            async def drained() -> bool:
                return log.pending == 0

            await eventually(drained)  # the background writer, not an explicit flush
        assert any("event log flush failed" in r.getMessage() for r in caplog.records)

        events = await log.recent(100)
        assert [e.payload["n"] for e in events] == list(range(30))
        assert log.last_error is None
    finally:
        with contextlib.suppress(EventLogFlushError):  # keep the first failure visible
            await log.close()
        await engine.dispose()


async def test_close_spills_what_it_cannot_write(database_url: str, tmp_path: Path) -> None:
    engine = create_engine(database_url)  # never migrated: every write fails
    spill = tmp_path / "spill" / "events.jsonl"
    log = EventLog(session_factory(engine), FakeClock(T0), max_retry_delay=0.01, spill_path=spill)
    try:
        log.append("first", {"price": Decimal("0.5")}, correlation_id="c1")
        log.append("second", {}, correlation_id="c2")

        with pytest.raises(EventLogFlushError) as caught:
            await log.close()
    finally:
        await engine.dispose()

    assert caught.value.pending == 2
    assert (log.pending, log.spilled) == (0, 2)  # moved to the file, not kept twice
    lines = [json.loads(line) for line in spill.read_text().splitlines()]
    assert [(e["type"], e["correlation_id"]) for e in lines] == [("first", "c1"), ("second", "c2")]
    assert lines[0]["payload"] == {"price": "0.5"}
    assert lines[0]["ts"] == T0.isoformat()


async def test_close_can_be_retried_after_the_database_recovers(database_url: str) -> None:
    engine = create_engine(database_url)
    log = EventLog(session_factory(engine), FakeClock(T0), max_retry_delay=0.01)
    try:
        log.append("kept", {"n": 1}, correlation_id="c1")
        with pytest.raises(EventLogFlushError):
            await log.close()
        assert log.pending == 1

        await migrate.upgrade_async(database_url)
        await log.close()

        assert log.pending == 0
        assert await _stored(engine) == 1
    finally:
        await engine.dispose()


async def test_a_writer_cancelled_from_outside_loses_nothing(engine: AsyncEngine) -> None:
    log = EventLog(session_factory(engine), FakeClock(T0), batch_size=50)
    await log.start()
    for n in range(1000):
        log.append("tick", {"n": n}, correlation_id=None)
    [writer] = [t for t in asyncio.all_tasks() if t.get_name() == "eventlog-writer"]
    await asyncio.sleep(0)  # let the writer start a transaction

    writer.cancel()  # as a task group does on shutdown
    await log.close()

    async with engine.connect() as connection:
        stored = (await connection.execute(select(EVENTS.c.payload).order_by(EVENTS.c.seq))).all()
    assert [row.payload["n"] for row in stored] == list(range(1000))  # once each, in order


async def test_every_event_is_numbered_in_its_run_and_a_full_run_has_no_gap(
    engine: AsyncEngine,
) -> None:
    sessions = session_factory(engine)
    first, second = EventLog(sessions, FakeClock(T0)), EventLog(sessions, FakeClock(T0))
    for n in range(5):
        first.append("tick", {"n": n})
        second.append("tock", {"n": n})
    await first.close()
    await second.close()

    async with engine.connect() as connection:
        rows = (await connection.execute(select(EVENTS).order_by(EVENTS.c.seq))).all()
    runs = {row.run_id for row in rows}
    assert runs == {first.run_id, second.run_id}
    assert [r.run_seq for r in rows if r.run_id == first.run_id] == [1, 2, 3, 4, 5]
    assert await find_gaps(sessions) == []


async def test_the_continuity_check_sees_an_event_lost_before_it_was_written(
    engine: AsyncEngine,
) -> None:
    """A run whose third event never reached the database (created, numbered, then lost with
    the process) shows as a gap after 2; the rows around it are intact."""
    sessions = session_factory(engine)
    row = {"ts": T0, "type": "x", "actor": "system:trader", "correlation_id": None, "payload": {}}
    async with sessions.begin() as session:
        await session.execute(
            insert(EVENTS), [row | {"run_id": "r1", "run_seq": n} for n in (1, 2, 4, 5, 8)]
        )
        await session.execute(insert(EVENTS), [row | {"run_id": "r2", "run_seq": 1}])

    gaps = await find_gaps(sessions)

    assert gaps == [RunGap("r1", after=2, missing=1), RunGap("r1", after=5, missing=2)]

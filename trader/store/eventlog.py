"""The append-only event log: the memory of every decision, order, fill, error and command.

`EventLog.append` never touches the database on the caller's path. It stamps the event with the
injected clock, converts the payload to JSON types (so a later change to the caller's dict does
not change history, and a payload that cannot be stored fails at the caller, not in a flush)
and puts it in an in-memory buffer. A background task writes the buffer in batches: as soon as
`batch_size` events are waiting, or `flush_interval` seconds after the first one arrived.

Nothing is lost on a flush failure: the batch stays at the front of the buffer, the error is
logged, and the writer retries with a backoff (capped at `max_retry_delay`) while new events
queue up behind it in order. A batch is removed from the buffer only once its transaction has
committed, and a batch in flight when the writer is cancelled is seen through to the end
first, so no event is written twice. `close()` flushes everything; if the database is still
refusing after a few attempts it raises `EventLogFlushError`, having first moved the remaining
events to `spill_path` (JSON lines, appended) when one is configured; without one they stay in
memory and calling `close()` again tries again.

Rows are written with `max_rows_per_transaction` rows at most: SQLAlchemy's async layer spends
the per-row CPU on the event loop's thread, so smaller transactions mean shorter stalls for
everything else on the loop (see bench/eventlog.py for the figures).

On a SQLite file the rows go through the engine's `DirectWriter` (trader/store/direct.py):
one synchronous transaction on the loop's thread instead of a thread hop per statement, and
any other transaction through that writer (the execution store's order row) carries the
buffered events with it, committed together.

The flush timer and backoff use the event loop's real time, not the injected `Clock`: they are
I/O batching, and a `FakeClock` would turn them into a busy loop.

Rows are only ever inserted. The database refuses UPDATE and DELETE on `event_log` (triggers
in the initial migration), and this module never tries.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import Any

from sqlalchemy import Select, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from trader.clock import Clock
from trader.domain import SYSTEM_ACTOR, Actor
from trader.events import RecordedEvent
from trader.store.db import to_jsonable
from trader.store.direct import DirectConnection, direct_writer
from trader.store.tables import EventLogRow, table_of

logger = logging.getLogger(__name__)

_TABLE = table_of(EventLogRow)
_INSERT = insert(_TABLE)  # one statement: the direct writer compiles it once
_CLOSE_ATTEMPTS = 3


class EventLogError(RuntimeError):
    pass


class EventLogClosed(EventLogError):
    """`append` after `close`: the event could never be written."""


class EventLogFlushError(EventLogError):
    """The database refused a flush; the events are still buffered (or spilled, on close)."""

    def __init__(self, message: str, *, pending: int) -> None:
        super().__init__(message)
        self.pending = pending


@dataclass(frozen=True, slots=True)
class Event:
    seq: int
    ts: datetime
    type: str
    actor: str
    correlation_id: str | None
    payload: dict[str, Any]
    run_id: str | None = None
    run_seq: int | None = None


class EventLog:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        *,
        batch_size: int = 200,
        flush_interval: float = 0.05,
        max_rows_per_transaction: int = 200,
        max_retry_delay: float = 5.0,
        spill_path: Path | None = None,
        run_id: str | None = None,
    ) -> None:
        if batch_size < 1 or max_rows_per_transaction < 1:
            raise ValueError("batch sizes must be positive")
        self._sessions = sessions
        self._clock = clock
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._max_rows = max_rows_per_transaction
        self._max_retry_delay = max_retry_delay
        self._spill_path = spill_path
        self._buffer: deque[dict[str, Any]] = deque()
        self._appended = 0  # events ever appended; the buffer holds the ones not yet written
        # this process run's id: each event carries it and its number in the run (`run_seq`,
        # 1, 2, 3... as appended), so a lost event leaves a gap `find_gaps` can see
        self.run_id = run_id or uuid.uuid4().hex
        self._written = 0  # events that left the buffer: committed (or spilled, on close)
        self._lock = asyncio.Lock()
        self._has_events = asyncio.Event()
        self._batch_ready = asyncio.Event()
        self._closing = False
        self._writer: asyncio.Task[None] | None = None
        self.last_error: str | None = None
        self.batches_written = 0  # committed transactions, for metrics and the benchmark
        self.spilled = 0  # events written to spill_path instead of the database
        self._direct = direct_writer(sessions)
        if self._direct is not None:
            self._direct.attach(self)

    async def __aenter__(self) -> EventLog:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    @property
    def pending(self) -> int:
        """Events appended and not yet committed to the database."""
        return len(self._buffer)

    async def start(self) -> None:
        """Start the background writer (the first `append` inside a running loop also does)."""
        self._start_writer()

    def _start_writer(self) -> None:
        if self._writer is None and not self._closing:
            self._writer = asyncio.get_running_loop().create_task(
                self._run(), name="eventlog-writer"
            )

    def append(
        self,
        type: str,
        payload: Mapping[str, Any] | None = None,
        *,
        correlation_id: str | None = None,
        actor: Actor | str | None = None,
    ) -> None:
        """Record an event. Never waits for the database; raises only for a bad payload."""
        if self._closing:
            raise EventLogClosed(f"event log closed; cannot record {type!r}")
        row = {
            "ts": self._clock.now(),
            "type": type,
            "actor": str(SYSTEM_ACTOR if actor is None else actor),
            "correlation_id": correlation_id,
            "payload": to_jsonable(dict(payload or {})),
            "run_id": self.run_id,
            "run_seq": self._appended + 1,
        }
        self._buffer.append(row)
        self._appended += 1
        self._has_events.set()
        if len(self._buffer) >= self._batch_size:
            self._batch_ready.set()
        if self._writer is None:
            with contextlib.suppress(RuntimeError):  # no running loop: close() will flush
                self._start_writer()

    def record(
        self,
        event: RecordedEvent,
        *,
        correlation_id: str | None = None,
        actor: Actor | str | None = None,
    ) -> None:
        """Record a typed event as its row (`event.type`, `event.payload()`)."""
        self.append(event.type, event.payload(), correlation_id=correlation_id, actor=actor)

    async def flush(self) -> None:
        """Write every event appended before this call. Raises `EventLogFlushError`."""
        target = self._appended
        try:
            await self._write_until(target)
        except Exception as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
            raise self._flush_error(exc) from exc

    async def close(self) -> None:
        """Stop the writer and flush everything (see the module docstring on failure).

        Calling it again after a failure tries the database again."""
        self._closing = True
        await self._stop_writer()
        delay = min(0.1, self._max_retry_delay)
        for attempt in range(1, _CLOSE_ATTEMPTS + 1):
            try:
                await self._write_until(self._appended)
                return
            except Exception as exc:
                self._report(exc)
                if attempt == _CLOSE_ATTEMPTS:
                    error = self._flush_error(exc)
                    spilled = await self._spill()
                    if spilled is not None:
                        error.add_note(f"unwritten events saved to {spilled}")
                    raise error from exc
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._max_retry_delay)

    async def recent(self, n: int = 50) -> list[Event]:
        """The last `n` events, oldest first (flushes first, so it sees every append)."""
        await self.flush()
        query = select(_TABLE).order_by(_TABLE.c.seq.desc()).limit(n)
        return list(reversed(await self._read(query)))

    async def by_correlation(self, correlation_id: str) -> list[Event]:
        """Every event with this correlation id, in order."""
        await self.flush()
        query = (
            select(_TABLE).where(_TABLE.c.correlation_id == correlation_id).order_by(_TABLE.c.seq)
        )
        return await self._read(query)

    async def latest_of(self, types: Sequence[str], limit: int = 50) -> list[Event]:
        """The last `limit` events of these types, newest first (for /why)."""
        await self.flush()
        query = (
            select(_TABLE)
            .where(_TABLE.c.type.in_(list(types)))
            .order_by(_TABLE.c.seq.desc())
            .limit(limit)
        )
        return await self._read(query)

    async def after(self, seq: int, limit: int = 1000) -> list[Event]:
        """Events with a sequence number above `seq`, in order: for tailing and replay."""
        await self.flush()
        query = select(_TABLE).where(_TABLE.c.seq > seq).order_by(_TABLE.c.seq).limit(limit)
        return await self._read(query)

    # -- the writer ---------------------------------------------------------------------------

    async def _run(self) -> None:
        delay = min(0.1, self._max_retry_delay)
        while not self._closing:
            await self._has_events.wait()
            if len(self._buffer) < self._batch_size and not self._closing:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._flush_interval):
                        await self._batch_ready.wait()
            if self._closing:
                return  # close() takes over the final flush
            try:
                await self._write_until(self._appended)
            except Exception as exc:
                self._report(exc, retry_in=delay)
                await self._pause(delay)
                delay = min(delay * 2, self._max_retry_delay)
            else:
                delay = min(0.1, self._max_retry_delay)

    async def _pause(self, seconds: float) -> None:
        """Wait before a retry, but wake at once when close() is called."""
        self._batch_ready.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                while not self._closing:
                    await self._batch_ready.wait()
                    self._batch_ready.clear()

    async def _stop_writer(self) -> None:
        writer, self._writer = self._writer, None
        if writer is None:
            return
        self._has_events.set()
        self._batch_ready.set()
        # asyncio.wait, not `await writer`: a writer cancelled from outside must not cancel
        # close() (whose own cancellation still propagates).
        await asyncio.wait([writer])
        if not writer.cancelled() and writer.exception() is not None:
            logger.error("event log writer failed", exc_info=writer.exception())

    async def _write_until(self, target: int) -> None:
        async with self._lock:
            if self._direct is not None:
                while self._written < target and self._buffer:
                    await self._direct.transaction()  # takes and marks the rows (below)
                self._settle_events()
                return
            while self._written < target and self._buffer:
                batch = list(islice(self._buffer, min(self._max_rows, target - self._written)))
                await self._insert_exactly_once(batch)
                for _ in batch:
                    self._buffer.popleft()
                self._written += len(batch)
                self.batches_written += 1
                self.last_error = None
            self._settle_events()

    def _settle_events(self) -> None:
        if not self._buffer:
            self._has_events.clear()
        if len(self._buffer) < self._batch_size:
            self._batch_ready.clear()

    # -- rows for the direct writer's transactions (`PendingRows`) --------------------------

    def take_rows(self, *, everything: bool = False) -> list[dict[str, Any]]:
        """The oldest buffered rows, at most a transaction's worth (all of them with
        `everything`); they stay buffered until `rows_committed` (the writer's lock keeps a
        second transaction from taking them)."""
        if everything:
            return list(self._buffer)
        return list(islice(self._buffer, self._max_rows))

    def write_rows(self, connection: DirectConnection, rows: list[dict[str, Any]]) -> None:
        connection.execute(_INSERT, rows)

    def rows_committed(self, count: int) -> None:
        for _ in range(min(count, len(self._buffer))):  # a close may have spilled them since
            self._buffer.popleft()
        self._written += count
        self.batches_written += 1
        self.last_error = None
        self._settle_events()

    async def _insert_exactly_once(self, batch: list[dict[str, Any]]) -> None:
        inserting = asyncio.ensure_future(self._insert(batch))
        try:
            await asyncio.shield(inserting)
        except asyncio.CancelledError:
            # Cancelled while a transaction was in flight: see it through, so that the batch
            # leaves the buffer if and only if it committed, then let the cancellation go on.
            with contextlib.suppress(Exception):
                await inserting
            if inserting.done() and not inserting.cancelled() and not inserting.exception():
                for _ in batch:
                    self._buffer.popleft()
                self._written += len(batch)
                self.batches_written += 1
            raise

    async def _insert(self, batch: list[dict[str, Any]]) -> None:
        async with self._sessions.begin() as session:
            await session.execute(insert(_TABLE), batch)

    async def _read(self, query: Select[Any]) -> list[Event]:
        async with self._sessions() as session:
            rows = (await session.execute(query)).mappings().all()
        return [Event(**row) for row in rows]

    # -- failures -----------------------------------------------------------------------------

    def _report(self, exc: BaseException, *, retry_in: float | None = None) -> None:
        self.last_error = f"{type(exc).__name__}: {exc}"
        retry = f"; retrying in {retry_in:.2f} s" if retry_in is not None else ""
        logger.error(
            "event log flush failed, %d events kept in memory%s: %s",
            len(self._buffer),
            retry,
            self.last_error,
        )

    def _flush_error(self, exc: BaseException) -> EventLogFlushError:
        return EventLogFlushError(
            f"event log flush failed ({type(exc).__name__}: {exc}); "
            f"{len(self._buffer)} events not written",
            pending=len(self._buffer),
        )

    async def _spill(self) -> Path | None:
        if self._spill_path is None or not self._buffer:
            return None
        lines = [
            json.dumps({**row, "ts": row["ts"].isoformat()}, ensure_ascii=False)
            for row in self._buffer
        ]
        path = self._spill_path
        try:
            await asyncio.to_thread(_append_lines, path, lines)
        except OSError:
            logger.exception("could not spill %d unwritten events to %s", len(lines), path)
            return None
        logger.error("spilled %d unwritten events to %s", len(lines), path)
        # They are safe in the file now: keeping them too would write them twice on a retry.
        self._buffer.clear()
        self._written = self._appended
        self.spilled += len(lines)
        return path


def _append_lines(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as spill:
        spill.writelines(line + "\n" for line in lines)


@dataclass(frozen=True, slots=True)
class RunGap:
    """Events a process run numbered but the log does not hold: `missing` of them, the
    first after `after` (0: the run's first events are missing)."""

    run_id: str
    after: int
    missing: int


async def find_gaps(sessions: async_sessionmaker[AsyncSession]) -> list[RunGap]:
    """The continuity check: every run's events must be numbered 1..n with none missing.

    A run's last events may be missing too (the process died with them buffered); only the
    run's own final count could show that, so a caller that knows what it appended (a test, the
    chaos runner after a clean stop) compares `count` itself. Runs before the numbering (no
    run id) are not checked."""
    seq = _TABLE.c.run_seq
    query = (
        select(_TABLE.c.run_id, func.min(seq), func.max(seq), func.count())
        .where(_TABLE.c.run_id.is_not(None))
        .group_by(_TABLE.c.run_id)
    )
    gaps: list[RunGap] = []
    async with sessions() as session:
        runs = (await session.execute(query)).all()
        for run_id, first, last, count in runs:
            if first == 1 and last == count:
                continue
            numbers = (
                await session.execute(select(seq).where(_TABLE.c.run_id == run_id).order_by(seq))
            ).scalars()
            expected = 1
            for number in numbers:
                if number > expected:
                    gaps.append(RunGap(run_id, expected - 1, number - expected))
                expected = number + 1
    return gaps

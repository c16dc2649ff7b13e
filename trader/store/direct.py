"""One writer connection for the hot path's SQLite writes, with no thread hop per statement.

aiosqlite runs every statement on its own thread and wakes the event loop for each answer: a
short transaction is four or five hops (begin, insert, commit, the pool's reset), and on a
busy machine each hop waits for the OS to schedule a thread. That, not SQLite, was most of the
hot path's time with SQLite order rows. `DirectWriter` owns one synchronous SQLAlchemy
connection (pysqlite) to the same file and runs a whole transaction on the event loop's
thread, in one call: a WAL commit at `synchronous=NORMAL` is a write to the WAL file with no
fsync, tens of microseconds, cheaper than one thread hop.

What could block the loop is kept off it:
- waiting for the write lock: the connection's busy timeout is 0, so a transaction that
  finds another connection writing fails at once and is run again on a worker thread with
  the usual 5 s busy timeout (serialised with the fast path by one lock);
- checkpoints (the fsync of WAL mode): this connection never checkpoints by itself
  (`wal_autocheckpoint=0`); every `CHECKPOINT_EVERY` commits a PASSIVE checkpoint runs on a
  worker thread on its own connection, beside the writers.

Durability: `synchronous=NORMAL` with WAL, as every other connection. A committed row
survives the process being killed at any point (it is in the WAL file, which the next open
replays); a power cut or an OS crash may lose the last commits before a checkpoint, never
corrupt the file. `FULL` would fsync the WAL on every commit (a millisecond or more here, per
order) to survive a power cut too; the trader reconciles with the venue on every start, which
finds an order the venue has and the database lost, so NORMAL is the level chosen.

An `EventLog` on the same engine attaches itself (`attach`): every transaction then writes
the log's buffered events too, in order and in the same transaction, so the order row and
the events before it (the intent, the risk decision) commit together.

One writer per engine (`direct_writer(sessions)`): the event log and the execution store
share it. PostgreSQL and in-memory SQLite get None and keep the async path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import weakref
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from sqlalchemy import Connection, Engine, event
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.pool import StaticPool

from trader.store.db import SQLITE_BUSY_TIMEOUT_MS, dumps_json, sqlite_file

log = logging.getLogger(__name__)
T = TypeVar("T")
Work = Callable[[Connection], T]
CHECKPOINT_EVERY = 500  # commits between PASSIVE checkpoints (about 1,000 WAL pages' worth)


class PendingRows(Protocol):
    """What an attached event log offers: rows to write, and the news that they committed."""

    def take_rows(self) -> list[dict[str, Any]]: ...

    def rows_committed(self, count: int) -> None: ...

    def write_rows(self, connection: Connection, rows: list[dict[str, Any]]) -> None: ...


class DirectWriter:
    def __init__(self, url: str) -> None:
        self._engine: Engine = create_sync_engine(
            url,
            poolclass=StaticPool,  # one connection, kept open
            connect_args={"check_same_thread": False},
            pool_reset_on_return=None,  # every use ends its transaction (commit or rollback)
            hide_parameters=True,
            json_serializer=dumps_json,
        )
        self._checkpoint_url = url
        event.listen(self._engine, "connect", _configure)
        event.listen(self._engine, "begin", _begin_immediate)
        self._lock = asyncio.Lock()
        self._logs: list[PendingRows] = []
        self._commits = 0
        self._checkpoint: asyncio.Task[None] | None = None
        self._connection: Connection | None = None
        self._busy_timeout_ms = -1  # unknown until the first transaction sets it
        self.slow_path = 0  # transactions that found the write lock taken and ran on a thread
        self.checkpoints = 0

    def attach(self, rows: PendingRows) -> None:
        """Every later transaction also writes `rows`' pending rows (an event log)."""
        self._logs.append(rows)

    async def transaction(self, work: Work[T] | None = None) -> T | None:
        """Run `work(connection)` and write the attached logs' pending rows, in one transaction
        committed before this returns. Raises what the database raises (rolled back)."""
        async with self._lock:
            taken = [(rows, rows.take_rows()) for rows in self._logs]
            try:
                result = self._run(work, taken, busy_timeout_ms=0)
            except OperationalError as error:
                if not _is_busy(error):
                    raise
                self.slow_path += 1
                result = await self._on_thread(work, taken)
            for rows, batch in taken:
                if batch:
                    rows.rows_committed(len(batch))
            self._after_commit()
            return result

    async def _on_thread(self, work: Work[T] | None, taken: list[Any]) -> T | None:
        running = asyncio.ensure_future(
            asyncio.to_thread(self._run, work, taken, busy_timeout_ms=SQLITE_BUSY_TIMEOUT_MS)
        )
        try:
            return await asyncio.shield(running)
        except asyncio.CancelledError:
            # Cancelled while the thread commits: see it through, so committed rows are marked
            # (never written twice), then let the cancellation go on.
            with contextlib.suppress(Exception):
                await running
            if running.done() and not running.cancelled() and running.exception() is None:
                for rows, batch in taken:
                    if batch:
                        rows.rows_committed(len(batch))
            raise

    def _run(self, work: Work[T] | None, taken: list[Any], *, busy_timeout_ms: int) -> T | None:
        connection = self._connection
        if connection is None or connection.closed:  # kept open between transactions
            connection = self._connection = self._engine.connect()
            self._busy_timeout_ms = -1
        if busy_timeout_ms != self._busy_timeout_ms:
            raw = connection.connection.driver_connection
            assert raw is not None
            raw.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")  # outside a transaction
            self._busy_timeout_ms = busy_timeout_ms
        with connection.begin():
            for rows, batch in taken:
                if batch:
                    rows.write_rows(connection, batch)
            return None if work is None else work(connection)

    def _after_commit(self) -> None:
        self._commits += 1
        if self._commits % CHECKPOINT_EVERY == 0 and (
            self._checkpoint is None or self._checkpoint.done()
        ):
            self._checkpoint = asyncio.get_running_loop().create_task(self._checkpoint_now())

    async def _checkpoint_now(self) -> None:
        try:
            await asyncio.to_thread(_passive_checkpoint, self._engine)
            self.checkpoints += 1
        except Exception:  # the next one tries again; other connections checkpoint too
            log.warning("WAL checkpoint failed", exc_info=True)

    def dispose(self) -> None:
        """Close the connection (a later transaction opens it again)."""
        if self._checkpoint is not None and not self._checkpoint.done():
            self._checkpoint.cancel()  # the thread finishes on its own connection
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()
        self._engine.dispose()


def _configure(dbapi_connection: sqlite3.Connection, _record: object) -> None:
    dbapi_connection.isolation_level = None  # no implicit BEGIN: `_begin_immediate` emits it
    for pragma in (
        "PRAGMA journal_mode=WAL",
        "PRAGMA foreign_keys=ON",
        "PRAGMA synchronous=NORMAL",
        "PRAGMA wal_autocheckpoint=0",  # checkpoints run on a thread (see the module doc)
    ):
        dbapi_connection.execute(pragma)


def _begin_immediate(connection: Connection) -> None:
    # Take the write lock at BEGIN: a busy database fails here, before any statement ran.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _is_busy(error: OperationalError) -> bool:
    original = error.orig
    code = getattr(original, "sqlite_errorcode", None)
    return code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED) or "locked" in str(original)


def _passive_checkpoint(engine: Engine) -> None:
    """On a worker thread, on a connection of its own (the writer's stays free)."""
    url = engine.url.database or ""
    with contextlib.closing(sqlite3.connect(url, timeout=0)) as connection:
        connection.execute("PRAGMA wal_checkpoint(PASSIVE)")


_WRITERS: weakref.WeakKeyDictionary[AsyncEngine, DirectWriter] = weakref.WeakKeyDictionary()


def direct_writer(sessions: async_sessionmaker[AsyncSession]) -> DirectWriter | None:
    """The engine's one direct writer (made on first ask), or None: not a SQLite file."""
    engine = sessions.kw.get("bind")
    if not isinstance(engine, AsyncEngine) or sqlite_file(engine.url) is None:
        return None
    writer = _WRITERS.get(engine)
    if writer is None:
        sync_url = engine.url.set(drivername="sqlite+pysqlite")
        writer = DirectWriter(sync_url.render_as_string(hide_password=False))
        _WRITERS[engine] = writer
        # closed with its engine: `dispose()` closes the writer's connection too
        event.listen(engine.sync_engine, "engine_disposed", lambda _: writer.dispose())
    return writer

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

Statements are SQLAlchemy Core (the same constants the repositories' statements are), compiled
once per statement and set of keys and run on the raw `sqlite3` connection (`DirectConnection`):
SQLAlchemy's per-execution work (the execution context, its events, the result) was about half
of the hot path's time with two or three statements per transaction. The values go through the
columns' own bind processors (Decimal, UTC datetimes, JSON), so the rows are the repositories'.
A `sqlite3` error comes out as SQLAlchemy's (`IntegrityError`, `OperationalError`).

One writer per engine (`direct_writer(sessions)`): the event log and the execution store
share it. PostgreSQL and in-memory SQLite get None and keep the async path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol, TypeVar

from sqlalchemy import Executable, event
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.sql.compiler import SQLCompiler

from trader.store.db import SQLITE_BUSY_TIMEOUT_MS, dumps_json, sqlite_file
from trader.store.types import DecimalType, UTCDateTime

log = logging.getLogger(__name__)
T = TypeVar("T")
Work = Callable[["DirectConnection"], T]
Parameters = Mapping[str, Any]
CHECKPOINT_EVERY = 500  # commits between PASSIVE checkpoints (about 1,000 WAL pages' worth)


class PendingRows(Protocol):
    """What an attached event log offers: rows to write, and the news that they committed."""

    def take_rows(self, *, everything: bool = False) -> list[dict[str, Any]]: ...

    def rows_committed(self, count: int) -> None: ...

    def write_rows(self, connection: DirectConnection, rows: list[dict[str, Any]]) -> None: ...


class DirectWriter:
    def __init__(self, path: str) -> None:
        self._path = path
        self._statements = _Statements(SQLiteDialect_pysqlite(json_serializer=dumps_json))
        self._lock = asyncio.Lock()
        self._logs: list[PendingRows] = []
        self._commits = 0
        self._checkpoint: asyncio.Task[None] | None = None
        self._connection: DirectConnection | None = None
        self._busy_timeout_ms = -1  # unknown until the first transaction sets it
        self.slow_path = 0  # transactions that found the write lock taken and ran on a thread
        self.checkpoints = 0

    @property
    def compiled_statements(self) -> int:
        """How many (statement, keys) compilations are cached: a handful, whatever the load."""
        return len(self._statements)

    @property
    def commits(self) -> int:
        """Transactions committed through this writer."""
        return self._commits

    @property
    def carries_events(self) -> bool:
        """Whether an event log is attached: its buffered rows ride in every transaction."""
        return bool(self._logs)

    def attach(self, rows: PendingRows) -> None:
        """Every later transaction also writes `rows`' pending rows (an event log)."""
        self._logs.append(rows)

    async def transaction(self, work: Work[T] | None = None, *, all_rows: bool = False) -> T | None:
        """Run `work(connection)` and write the attached logs' pending rows, in one transaction
        committed before this returns. Raises what the database raises (rolled back).
        `all_rows`: every pending row, not a transaction's worth (rows that must not commit
        before the events buffered ahead of them: a fill's row and its event)."""
        async with self._lock:
            taken = [(rows, rows.take_rows(everything=all_rows)) for rows in self._logs]
            try:
                result = self._run(work, taken, busy_timeout_ms=0)
            except (OperationalError, sqlite3.OperationalError) as error:
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
        if connection is None:  # kept open between transactions
            connection = self._connection = DirectConnection(_connect(self._path), self._statements)
            self._busy_timeout_ms = -1
        raw = connection.raw
        if busy_timeout_ms != self._busy_timeout_ms:
            raw.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")  # outside a transaction
            self._busy_timeout_ms = busy_timeout_ms
        # Take the write lock at BEGIN: a busy database fails here, before any statement ran.
        raw.execute("BEGIN IMMEDIATE")
        try:
            for rows, batch in taken:
                if batch:
                    rows.write_rows(connection, batch)
            result = None if work is None else work(connection)
            raw.execute("COMMIT")
        except BaseException:
            if raw.in_transaction:
                raw.execute("ROLLBACK")
            raise
        return result

    def _after_commit(self) -> None:
        self._commits += 1
        if self._commits % CHECKPOINT_EVERY == 0 and (
            self._checkpoint is None or self._checkpoint.done()
        ):
            self._checkpoint = asyncio.get_running_loop().create_task(self._checkpoint_now())

    async def _checkpoint_now(self) -> None:
        try:
            await asyncio.to_thread(_passive_checkpoint, self._path)
            self.checkpoints += 1
        except Exception:  # the next one tries again; other connections checkpoint too
            log.warning("WAL checkpoint failed", exc_info=True)

    def dispose(self) -> None:
        """Close the connection (a later transaction opens it again)."""
        if self._checkpoint is not None and not self._checkpoint.done():
            self._checkpoint.cancel()  # the thread finishes on its own connection
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.raw.close()


class Result:
    """What `DirectConnection.execute` answers: the rows the statement changed."""

    __slots__ = ("rowcount",)

    def __init__(self, rowcount: int) -> None:
        self.rowcount = rowcount


class DirectConnection:
    """A transaction's connection: `execute(statement, parameters)` as SQLAlchemy Core's
    (one mapping, or a list of them for many rows), on the raw `sqlite3` connection."""

    def __init__(self, raw: sqlite3.Connection, statements: _Statements) -> None:
        self.raw = raw
        self._statements = statements

    def execute(
        self, statement: Executable, parameters: Parameters | Sequence[Parameters]
    ) -> Result:
        many = not isinstance(parameters, Mapping)
        rows: Sequence[Parameters] = [parameters] if isinstance(parameters, Mapping) else parameters
        if not rows:
            return Result(0)
        prepared = self._statements.prepared(statement, tuple(rows[0]), many=many)
        values = [prepared.values(row) for row in rows]
        try:
            if many:
                cursor = self.raw.executemany(prepared.sql, values)
            else:
                cursor = self.raw.execute(prepared.sql, values[0])
        except sqlite3.Error as error:
            raise DBAPIError.instance(
                prepared.sql, values, error, sqlite3.Error, hide_parameters=True
            ) from error
        return Result(cursor.rowcount)


@dataclass(frozen=True, slots=True)
class _Prepared:
    sql: str
    names: tuple[str, ...]
    processors: tuple[Callable[[Any], Any] | None, ...]
    fixed: Mapping[str, Any]  # binds the statement itself gives a value

    def values(self, row: Parameters) -> tuple[Any, ...]:
        out = []
        for name, process in zip(self.names, self.processors, strict=True):
            value = row[name] if name in row else self.fixed[name]
            out.append(value if process is None or value is None else process(value))
        return tuple(out)


class _Statements:
    """Core statements compiled for SQLite once per (statement, keys). The statements are
    module constants (`DirectTradingWrites`, the event log's insert); a statement built per
    call would be compiled per call, so the cache is bounded and says so when it overflows."""

    LIMIT = 256

    def __init__(self, dialect: SQLiteDialect_pysqlite) -> None:
        self._dialect = dialect
        self._cache: dict[tuple[int, tuple[str, ...], bool], tuple[Executable, _Prepared]] = {}

    def __len__(self) -> int:
        return len(self._cache)

    def prepared(self, statement: Executable, keys: tuple[str, ...], *, many: bool) -> _Prepared:
        key = (id(statement), keys, many)
        cached = self._cache.get(key)
        if cached is not None and cached[0] is statement:
            return cached[1]
        compiled = statement.compile(  # type: ignore[attr-defined]
            dialect=self._dialect, column_keys=list(keys), for_executemany=many
        )
        assert isinstance(compiled, SQLCompiler)
        names = tuple(compiled.positiontup or ())
        fixed = {}
        for name in names:
            if name not in keys:
                fixed[name] = _fixed_value(compiled, name)
        prepared = _Prepared(
            sql=compiled.string,
            names=names,
            processors=tuple(_processor(compiled, name, self._dialect) for name in names),
            fixed=fixed,
        )
        if len(self._cache) >= self.LIMIT:
            log.warning("direct writer: over %d compiled statements; build them once", self.LIMIT)
            self._cache.clear()
        self._cache[key] = (statement, prepared)  # the statement kept: its id stays its own
        return prepared


def _processor(
    compiled: SQLCompiler, name: str, dialect: SQLiteDialect_pysqlite
) -> Callable[[Any], Any] | None:
    """The bind's processor as SQLAlchemy runs it: its type's implementation for SQLite (a
    decorated type's `process_bind_param`, then its SQLite implementation's own), with a
    shortcut for the common value of the two types every row has (`fast_processor`)."""
    kind = compiled.binds[name].type
    processor = kind.dialect_impl(dialect).bind_processor(dialect)
    return processor if processor is None else fast_processor(kind, processor)


def fast_processor(kind: Any, processor: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """`processor`, answering the hot path's usual values without its layers of calls: a
    finite `Decimal` is its string (`DecimalType`), a `datetime` in `UTC` the text SQLAlchemy's
    SQLite DateTime writes (`UTCDateTime`: naive UTC, always six digits of microseconds).
    Anything else goes to `processor`, which checks and converts as before (the same text:
    tests/integration/test_storage_direct.py compares them)."""
    if isinstance(kind, DecimalType):

        def decimal_text(value: Any) -> Any:
            if type(value) is Decimal and value.is_finite():
                return str(value)
            return processor(value)

        return decimal_text
    if isinstance(kind, UTCDateTime):

        def utc_text(value: Any) -> Any:
            if type(value) is datetime and value.tzinfo is UTC:
                return value.replace(tzinfo=None).isoformat(" ", "microseconds")
            return processor(value)

        return utc_text
    return processor


def _fixed_value(compiled: SQLCompiler, name: str) -> Any:
    """A bind the parameters do not name: its value in the statement, or its column's scalar
    default (an insert without that key); anything else is a caller's mistake."""
    prefetch = {c.key: c for c in (*compiled.insert_prefetch, *compiled.update_prefetch)}
    column = prefetch.get(name)
    if column is not None:
        default = column.default
        if default is not None and default.is_scalar:
            return default.arg  # type: ignore[attr-defined]
    elif not compiled.binds[name].required:
        return compiled.binds[name].effective_value
    raise ValueError(f"direct write: no value for {name!r} in {compiled.string[:60]!r}")


def _connect(path: str) -> sqlite3.Connection:
    connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    for pragma in (  # isolation_level None: no implicit BEGIN; `_run` begins IMMEDIATE
        "PRAGMA journal_mode=WAL",
        "PRAGMA foreign_keys=ON",
        "PRAGMA synchronous=NORMAL",
        "PRAGMA wal_autocheckpoint=0",  # checkpoints run on a thread (see the module doc)
    ):
        connection.execute(pragma)
    return connection


def _is_busy(error: OperationalError | sqlite3.OperationalError) -> bool:
    original = error.orig if isinstance(error, OperationalError) else error
    code = getattr(original, "sqlite_errorcode", None)
    return code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED) or "locked" in str(original)


def _passive_checkpoint(path: str) -> None:
    """On a worker thread, on a connection of its own (the writer's stays free)."""
    with contextlib.closing(sqlite3.connect(path, timeout=0)) as connection:
        connection.execute("PRAGMA wal_checkpoint(PASSIVE)")


_WRITERS: weakref.WeakKeyDictionary[AsyncEngine, DirectWriter] = weakref.WeakKeyDictionary()


def direct_writer(sessions: async_sessionmaker[AsyncSession]) -> DirectWriter | None:
    """The engine's one direct writer (made on first ask), or None: not a SQLite file."""
    engine = sessions.kw.get("bind")
    if not isinstance(engine, AsyncEngine) or sqlite_file(engine.url) is None:
        return None
    writer = _WRITERS.get(engine)
    if writer is None:
        path = sqlite_file(engine.url)
        assert path is not None
        writer = DirectWriter(str(path))
        _WRITERS[engine] = writer
        # closed with its engine: `dispose()` closes the writer's connection too
        event.listen(engine.sync_engine, "engine_disposed", lambda _: writer.dispose())
    return writer

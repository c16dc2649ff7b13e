"""The direct writer (issue 21): on a SQLite file the execution store's writes and the event
log's rows commit in one synchronous transaction, without a thread hop; a write lock held by
another connection never blocks the event loop; a failed transaction loses no event."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.support.waiting import eventually
from trader.clock import FakeClock
from trader.domain import Fill, OrderStatus, Position, Side, TradeStatus
from trader.execution.store import OrderRecord, SqlExecutionStore
from trader.store import direct
from trader.store.db import create_engine, session_factory
from trader.store.direct import direct_writer
from trader.store.eventlog import EventLog
from trader.store.migrate import upgrade_async
from trader.store.repositories import DuplicateError, column_values
from trader.store.tables import OrderRow
from trader.store.trading import (
    DirectTradingWrites,
    OrderChange,
    RepositoryTradingWrites,
    TradingWrites,
    trading_writes,
)
from trader.store.types import DecimalType, UTCDateTime

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def order(client_order_id: str = "po-1") -> OrderRecord:
    return OrderRecord(
        client_order_id=client_order_id,
        order_id=f"0x{client_order_id}",
        token_id="tok",
        market="0xm",
        side=Side.BUY,
        price=Decimal("0.52"),
        size=Decimal("10"),
        status=OrderStatus.SUBMITTED,
        created_at=T0,
        correlation_id="c-1",
    )


def rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(path)) as connection:
        return connection.execute(sql).fetchall()


@asynccontextmanager
async def opened(
    database: Path,
) -> AsyncIterator[tuple[async_sessionmaker[AsyncSession], EventLog, SqlExecutionStore]]:
    """The file's sessions, an event log whose timer (an hour) never fires here, and the
    execution store; closed on the way out."""
    engine = create_engine(f"sqlite+aiosqlite:///{database}")
    sessions = session_factory(engine)
    events = EventLog(sessions, FakeClock(T0), flush_interval=3600)
    try:
        yield sessions, events, SqlExecutionStore(sessions, FakeClock(T0))
    finally:
        await events.close()
        await engine.dispose()


@pytest.fixture
async def database(tmp_path: Path) -> Path:
    path = tmp_path / "direct.db"
    await upgrade_async(f"sqlite+aiosqlite:///{path}")
    return path


async def test_the_order_row_and_the_events_before_it_commit_in_one_transaction(
    database: Path,
) -> None:
    async with opened(database) as (sessions, events, store):
        writer = direct_writer(sessions)
        events.append("intent_received", {"n": 1}, correlation_id="c-1")
        events.append("order_created", {"n": 2}, correlation_id="c-1")

        await store.insert_order(order())

        assert events.pending == 0
        assert rows(database, "SELECT type FROM event_log ORDER BY seq") == [
            ("intent_received",),
            ("order_created",),
        ]
        assert rows(database, "SELECT client_order_id, price FROM orders") == [("po-1", "0.52")]
        assert writer is not None
        assert writer.slow_path == 0
        assert events.batches_written == 1  # the order's transaction carried them


async def test_a_refused_order_row_leaves_its_events_buffered_and_written_once(
    database: Path,
) -> None:
    async with opened(database) as (_, events, store):
        await store.insert_order(order())
        events.append("order_created", {"again": True})

        with pytest.raises(DuplicateError):
            await store.insert_order(order())  # the same client order id

        assert events.pending == 1  # rolled back with the row: still in memory
        await events.flush()
        assert rows(database, "SELECT type FROM event_log") == [("order_created",)]


async def test_a_write_lock_held_elsewhere_waits_on_a_thread_not_on_the_loop(
    database: Path,
) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{database}")
    sessions = session_factory(engine)
    store = SqlExecutionStore(sessions, FakeClock(T0))
    writer = direct_writer(sessions)
    assert writer is not None
    other = sqlite3.connect(database, isolation_level=None)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    other.execute("BEGIN IMMEDIATE")  # another connection holds the write lock
    running = asyncio.create_task(ticker())
    try:
        insert = asyncio.create_task(store.insert_order(order()))
        await eventually(lambda: ticks >= 10, timeout=10)  # the loop keeps running meanwhile
        assert not insert.done()
        other.execute("COMMIT")
        await asyncio.wait_for(insert, timeout=10)

        assert writer.slow_path == 1
        assert rows(database, "SELECT client_order_id FROM orders") == [("po-1",)]
    finally:
        running.cancel()
        other.close()
        await engine.dispose()


async def test_checkpoints_run_beside_the_writer(
    database: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(direct, "CHECKPOINT_EVERY", 5)
    async with opened(database) as (sessions, events, _):
        writer = direct_writer(sessions)
        assert writer is not None
        for n in range(12):
            events.append("tick", {"n": n})
            await events.flush()
        await eventually(lambda: writer.checkpoints >= 1, timeout=10)  # one at a time

        assert rows(database, "SELECT count(*) FROM event_log") == [(12,)]


def test_only_a_sqlite_file_gets_a_direct_writer() -> None:
    memory = create_engine("sqlite+aiosqlite://")
    postgres = create_engine("postgresql+asyncpg://postgres@127.0.0.1:5432/none")

    assert direct_writer(session_factory(memory)) is None
    assert direct_writer(session_factory(postgres)) is None


async def test_a_fill_its_position_and_its_event_commit_together(database: Path) -> None:
    """Direct on SQLite: the fill row, the position it leaves and the buffered `fill` event are
    one transaction, so a crash keeps all three or none; a replayed fill moves only the
    position (the row is recorded once)."""
    fill = Fill(
        "t-1", "0xpo-1", "tok", Side.BUY, Decimal("0.52"), Decimal(10), Decimal(0), T0, "0xm"
    )
    held = Position("tok", Decimal(10), Decimal("0.52"), market="0xm", outcome="Yes")
    async with opened(database) as (_, events, store):
        events.append("fill", {"trade_id": "t-1"}, correlation_id="c-1")

        first = await store.record_fill_and_position(fill, "c-1", held)
        again = await store.record_fill_and_position(
            fill, "c-1", dataclasses.replace(held, size=Decimal(12))
        )

        assert (first, again) == (True, False)
        assert events.pending == 0
        assert events.batches_written == 1  # the fill's transaction carried its event
        assert rows(database, "SELECT type FROM event_log") == [("fill",)]
        assert rows(database, "SELECT trade_id, size FROM fills") == [("t-1", "10")]
        assert rows(database, "SELECT token_id, size FROM positions") == [("tok", "12")]


async def test_direct_writes_store_the_rows_the_repositories_store(tmp_path: Path) -> None:
    """The direct writer runs the Core statements on the raw sqlite3 connection: the values go
    through the columns' own conversions (Decimal as its string, UTC datetimes, JSON), so the
    rows on disk are the ones the repositories write."""
    clock = FakeClock(T0)
    fill = Fill(
        "t-1", "0xpo-1", "tok", Side.BUY, Decimal("0.52"), Decimal("10.50"), Decimal("0.01"), T0,
        "0xm",
    )  # fmt: skip
    held = Position("tok", Decimal("10.50"), Decimal("0.52"), market="0xm", outcome="Yes")
    bigger = dataclasses.replace(held, size=Decimal(11))
    row = OrderRow(
        client_order_id="po-1",
        venue_order_id="0xpo-1",
        market="0xm",
        token_id="tok",
        side="BUY",
        price=Decimal("0.52"),
        size=Decimal(10),
        status="SUBMITTED",
        created_at=T0,
        updated_at=T0,
        expires_at=T0 + timedelta(hours=1),
        correlation_id="c-1",
        signed_payload='{"salt": 1}',
    )
    paths = {name: tmp_path / f"{name}.db" for name in ("direct", "repositories")}
    for name, path in paths.items():
        await upgrade_async(f"sqlite+aiosqlite:///{path}")
        engine = create_engine(f"sqlite+aiosqlite:///{path}")
        sessions = session_factory(engine)
        writes: TradingWrites = (
            trading_writes(sessions, clock)
            if name == "direct"
            else RepositoryTradingWrites(sessions, clock)
        )
        clock.set(T0)
        try:
            await writes.insert_order(column_values(row))
            clock.advance(1)
            await writes.update_order("po-1", status=OrderStatus.MATCHED, size_matched=fill.size)
            await writes.record_fill_and_position(fill, "c-1", held)
            await writes.set_fill_status("t-1", "0xpo-1", TradeStatus.CONFIRMED)
            clock.advance(1)
            await writes.record_rows(  # the hot path's one commit for a fill
                [(dataclasses.replace(fill, trade_id="t-2"), "c-1", bigger)],
                [OrderChange("po-1", size_matched=Decimal(11)), OrderChange("po-9", error="x")],
            )
        finally:
            await engine.dispose()

    assert isinstance(
        trading_writes(
            session_factory(create_engine(f"sqlite+aiosqlite:///{paths['direct']}")), clock
        ),
        DirectTradingWrites,
    )
    for table in ("orders", "fills", "positions"):
        query = f"SELECT * FROM {table}"  # noqa: S608 - the table names above
        direct_rows, repository_rows = (
            rows(paths["direct"], query),
            rows(paths["repositories"], query),
        )
        assert direct_rows == repository_rows, table
        assert len(direct_rows) == (2 if table == "fills" else 1)
    assert rows(paths["direct"], "SELECT size, status FROM fills") == [
        ("10.50", "CONFIRMED"),
        ("10.50", "MATCHED"),
    ]
    assert rows(paths["direct"], "SELECT status, size_matched FROM orders") == [("MATCHED", "11")]
    assert rows(paths["direct"], "SELECT size FROM positions") == [("11",)]


async def test_each_statement_is_compiled_once_whatever_the_load(database: Path) -> None:
    held = Position("tok", Decimal(10), Decimal("0.52"), market="0xm")
    async with opened(database) as (sessions, events, store):
        for n in range(30):
            events.append("fill", {"trade_id": f"t-{n}"}, correlation_id="c-1")
            fill = Fill(
                f"t-{n}", "0xpo-1", "tok", Side.BUY, Decimal("0.52"), Decimal(1), Decimal(0), T0
            )
            await store.record_fill_and_position(fill, "c-1", held)
        writer = direct_writer(sessions)

        assert writer is not None
        assert writer.compiled_statements == 3  # the event rows, the fill row, the position
        assert rows(database, "SELECT count(*) FROM fills") == [(30,)]
        assert rows(database, "SELECT count(*) FROM event_log") == [(30,)]


def test_the_shortcut_processors_write_the_text_sqlalchemy_writes() -> None:
    """A finite Decimal and a UTC datetime skip SQLAlchemy's layers of calls; the text is the
    same, and anything else (a naive datetime, a float, NaN) still meets the column's checks."""
    dialect = SQLiteDialect_pysqlite()
    money, stamp = DecimalType(), UTCDateTime()
    plain_money = money.dialect_impl(dialect).bind_processor(dialect)
    plain_stamp = stamp.dialect_impl(dialect).bind_processor(dialect)
    assert plain_money is not None
    assert plain_stamp is not None
    fast_money = direct.fast_processor(money, plain_money)
    fast_stamp = direct.fast_processor(stamp, plain_stamp)
    decimals = ["0", "-0", "0.10", "1E+2", "123456789.123456789", "-0.0000001", "5e-10"]
    stamps = [
        T0,
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(2026, 3, 4, 5, 6, 7, 89, tzinfo=UTC),
        datetime(2026, 3, 4, 5, 6, 7, 999999, tzinfo=UTC),
        datetime(2026, 3, 4, 5, 6, 7, tzinfo=timezone(timedelta(hours=2))),  # the slow path
    ]

    assert [fast_money(Decimal(d)) for d in decimals] == [plain_money(Decimal(d)) for d in decimals]
    assert [fast_money(value) for value in (3, None)] == ["3", None]
    assert [fast_stamp(value) for value in stamps] == [plain_stamp(value) for value in stamps]
    with pytest.raises(TypeError):
        fast_money(0.5)
    with pytest.raises(ValueError, match="non-finite"):
        fast_money(Decimal("NaN"))
    with pytest.raises(ValueError, match="naive"):
        fast_stamp(datetime(2026, 1, 1))  # noqa: DTZ001 - the naive value refused

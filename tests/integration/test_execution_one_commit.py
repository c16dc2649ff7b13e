"""A fill is one commit (issue 21): what a marketable intent's answer changes (the fill's
events, the fill row, the position it leaves, the order's status) is written in one
transaction inside the call, so it is on disk when `handle` returns; on a SQLite file the
whole intent is two commits, the order row before submit and that one after. A locked
database waits on a thread; a refused write falls back to the write-behind queue, events
first."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tests.support.execution_rig import YES, Rig, book, build_rig, buy, market
from tests.support.paper import MemoryJournal
from trader.clock import Clock, FakeClock
from trader.control.types import Outcome
from trader.domain import Fill, Position
from trader.execution.store import ExecutionStore, SqlExecutionStore
from trader.store import migrate
from trader.store.db import create_engine, session_factory
from trader.store.direct import direct_writer
from trader.store.tables import EventLogRow, FillRow, OrderRow, PositionRow, table_of
from trader.store.trading import OrderChange
from trader.venue.base import PreparedOrder, SubmitResult
from trader.venue.paper.feed import StaticMarketData
from trader.venue.paper.venue import PaperVenue

D = Decimal
EVENTS, FILLS, ORDERS, POSITIONS = (
    table_of(EventLogRow),
    table_of(FillRow),
    table_of(OrderRow),
    table_of(PositionRow),
)


async def on_disk(engine: AsyncEngine, correlation_id: str) -> dict[str, Any]:
    """What a crash now would leave, read on the side (the log's reads would flush)."""
    async with engine.connect() as connection:
        types = (
            await connection.execute(
                select(EVENTS.c.type).where(EVENTS.c.correlation_id == correlation_id)
            )
        ).scalars()
        fills = (await connection.execute(select(FILLS.c.trade_id, FILLS.c.size))).all()
        orders = (await connection.execute(select(ORDERS.c.status, ORDERS.c.size_matched))).all()
        positions = (await connection.execute(select(POSITIONS.c.token_id, POSITIONS.c.size))).all()
    return {
        "events": list(types),
        "fills": [(trade, D(size)) for trade, size in fills],
        "orders": [(status, D(matched)) for status, matched in orders],
        "positions": [(token, D(size)) for token, size in positions],
    }


def paper(clock: Clock, data: StaticMarketData, cls: type[PaperVenue] = PaperVenue) -> PaperVenue:
    data.set_book(book(YES, [("0.48", "100")], [("0.52", "100"), ("0.53", "100")]))
    return cls(data, bankroll=D(1000), clock=clock, journal=MemoryJournal())


@pytest.fixture
async def clock_and_data() -> AsyncIterator[tuple[FakeClock, StaticMarketData]]:
    clock = FakeClock()
    data = StaticMarketData(clock, [market(clock=clock)])
    yield clock, data
    data.close()


@asynccontextmanager
async def running(
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    clock_and_data: tuple[FakeClock, StaticMarketData],
    venue: PaperVenue,
    store: ExecutionStore | None = None,
) -> AsyncIterator[Rig]:
    """The venue started and the core over it. No write-behind task runs and the log's timer is
    an hour: only the call writes."""
    clock, data = clock_and_data
    await venue.start()
    rig = await build_rig(
        engine, sessions, venue, clock, data=data, store=store, flush_interval=3600
    )
    try:
        yield rig
    finally:
        await rig.stop()
        await venue.close()
        await rig.events.close()


async def test_the_fill_its_position_and_the_order_status_are_on_disk_when_handle_returns(
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    clock_and_data: tuple[FakeClock, StaticMarketData],
) -> None:
    venue = paper(*clock_and_data)
    async with running(engine, sessions, clock_and_data, venue) as rig:
        writer = direct_writer(sessions)  # None on PostgreSQL: no commit count there
        commits_before = writer.commits if writer is not None else 0
        intent = buy()
        result = await rig.runtime.handle(intent)
        disk = await on_disk(engine, intent.correlation_id)
        queued = rig.runtime._engine.writer.pending

    assert result.outcome is Outcome.PLACED
    assert result.filled == D(20)
    assert disk["events"][:3] == ["intent_received", "risk_passed", "order_created"]
    assert {"fill", "order_submitted"} <= set(disk["events"])
    assert [size for _, size in disk["fills"]] == [D(20)]
    assert disk["positions"] == [(YES, D(20))]
    assert disk["orders"] == [("MATCHED", D(20))]
    assert queued == 0  # nothing left for the write-behind
    if writer is not None:
        assert writer.commits - commits_before == 2  # the order row, then the fill


class LockedAtTheFill(PaperVenue):
    """Another connection takes the write lock while the venue answers, for a moment."""

    path: Path

    async def submit(self, order: PreparedOrder) -> SubmitResult:
        result = await super().submit(order)
        other = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")

        def release() -> None:
            other.execute("COMMIT")
            other.close()

        asyncio.get_running_loop().call_later(0.2, release)
        return result


async def test_a_fill_whose_database_is_locked_commits_on_a_thread_still_once(
    tmp_path: Path,
    clock_and_data: tuple[FakeClock, StaticMarketData],
) -> None:
    path = tmp_path / "locked.db"
    await migrate.upgrade_async(f"sqlite+aiosqlite:///{path}")
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    sessions = session_factory(engine)
    venue = paper(*clock_and_data, LockedAtTheFill)
    assert isinstance(venue, LockedAtTheFill)
    venue.path = path
    try:
        async with running(engine, sessions, clock_and_data, venue) as rig:
            writer = direct_writer(sessions)
            assert writer is not None
            before = writer.commits
            intent = buy()
            result = await rig.runtime.handle(intent)
            disk = await on_disk(engine, intent.correlation_id)
    finally:
        await engine.dispose()

    assert result.filled == D(20)
    assert writer.slow_path == 1  # waited for the lock on a thread, not on the loop
    assert writer.commits - before == 2
    assert disk["positions"] == [(YES, D(20))]
    assert disk["orders"] == [("MATCHED", D(20))]


class RefusesOnce(SqlExecutionStore):
    """The database refuses the fill's transaction once (a full disk, a lock waited out)."""

    refused = 0

    async def record_rows(
        self,
        fills: Sequence[tuple[Fill, str | None, Position]],
        orders: Sequence[OrderChange],
    ) -> None:
        if not self.refused:
            self.refused += 1
            raise OperationalError("INSERT INTO fills", {}, Exception("disk I/O error"))
        await super().record_rows(fills, orders)


async def test_a_refused_fill_commit_leaves_its_rows_to_the_write_behind_behind_its_events(
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    clock_and_data: tuple[FakeClock, StaticMarketData],
) -> None:
    store = RefusesOnce(sessions, clock_and_data[0])
    async with running(engine, sessions, clock_and_data, paper(*clock_and_data), store) as rig:
        intent = buy()
        result = await rig.runtime.handle(intent)
        queued = rig.runtime._engine.writer.pending
        before_drain = await on_disk(engine, intent.correlation_id)
        await rig.runtime.flush()
        after_drain = await on_disk(engine, intent.correlation_id)

    assert result.filled == D(20)
    assert store.refused == 1
    assert queued > 0
    assert "fill" in before_drain["events"]
    assert before_drain["fills"] == []  # the rows wait their turn in the queue
    assert after_drain["positions"] == [(YES, D(20))]
    assert after_drain["orders"] == [("MATCHED", D(20))]
    assert len(after_drain["fills"]) == 1

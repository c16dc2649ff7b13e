"""What the hot path must explain after a crash is on disk before the venue hears of it:
the intent and the order row's event before submit, the fill's event right after it is
applied. The event log's own timer is set to an hour here, so only those points write."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tests.support.execution_rig import YES, book, build_rig, buy, market
from tests.support.paper import MemoryJournal
from tests.support.waiting import eventually
from trader.clock import Clock, FakeClock
from trader.control.types import Outcome
from trader.domain import Fill, Position
from trader.execution.store import SqlExecutionStore, WriteBehind
from trader.store.eventlog import EventLog, find_gaps
from trader.store.tables import EventLogRow, FillRow, PositionRow, table_of
from trader.store.trading import FillWrite, OrderChange
from trader.venue.base import PreparedOrder, SubmitResult
from trader.venue.paper.feed import StaticMarketData
from trader.venue.paper.venue import PaperVenue

EVENTS = table_of(EventLogRow)
D = Decimal


async def stored_types(engine: AsyncEngine, correlation_id: str) -> list[str]:
    """Event types on disk, read on the side (not through the log, which would flush)."""
    async with engine.connect() as connection:
        query = select(EVENTS.c.type).where(EVENTS.c.correlation_id == correlation_id)
        return list((await connection.execute(query.order_by(EVENTS.c.seq))).scalars())


class WitnessVenue(PaperVenue):
    """Paper, recording which events of the order's chain were on disk when submit came."""

    def __init__(self, *args: object, engine: AsyncEngine, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.engine = engine
        self.on_disk_at_submit: list[list[str]] = []
        self.correlation_id = ""

    async def submit(self, order: PreparedOrder) -> SubmitResult:
        self.on_disk_at_submit.append(await stored_types(self.engine, self.correlation_id))
        return await super().submit(order)


async def test_intent_and_order_are_on_disk_before_submit_and_the_fill_right_after(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    clock = FakeClock()
    data = StaticMarketData(clock, [market(clock=clock)])
    data.set_book(book(YES, [("0.48", "100")], [("0.52", "100"), ("0.53", "100")]))
    venue = WitnessVenue(
        data, bankroll=D(1000), clock=clock, journal=MemoryJournal(), engine=engine
    )
    await venue.start()
    rig = await build_rig(engine, sessions, venue, clock, data=data, flush_interval=3600)
    rig.run("execution.writer")
    intent = buy()
    venue.correlation_id = intent.correlation_id
    try:
        result = await rig.runtime.handle(intent)
        after = await stored_types(engine, intent.correlation_id)
        gaps = await find_gaps(sessions)
    finally:
        await rig.stop()
        await venue.close()
        data.close()
        await rig.events.close()

    assert result.outcome is Outcome.PLACED
    (at_submit,) = venue.on_disk_at_submit
    assert at_submit[:3] == ["intent_received", "risk_passed", "order_created"]
    assert "fill" in after  # written when the fill was applied, not an hour later
    assert gaps == []


class DiesAfterTheFill(SqlExecutionStore):
    """The process dies (every later write hangs, as if SIGKILLed) once the first write that
    records a fill has committed: what is on disk then is what a crash there leaves. Once the
    test has read the disk, `bury()` lets the hung writes return without writing."""

    FILL_WRITES = ("record_fill", "record_fill_and_position", "record_rows")
    WRITES = (*FILL_WRITES, "save_position", "update_order", "set_fill_status", "save_equity")

    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock) -> None:
        super().__init__(sessions, clock)
        self.dead = asyncio.Event()
        self.buried = asyncio.Event()

    def bury(self) -> None:
        self.buried.set()

    def __getattribute__(self, name: str) -> Any:
        attribute = super().__getattribute__(name)
        if name not in DiesAfterTheFill.WRITES:
            return attribute
        dead, buried = super().__getattribute__("dead"), super().__getattribute__("buried")

        async def write(*args: Any, **kwargs: Any) -> Any:
            if dead.is_set():
                await buried.wait()  # the process is gone: nothing more reaches the disk
                return None
            result = await attribute(*args, **kwargs)
            if name in DiesAfterTheFill.FILL_WRITES:
                dead.set()
            return result

        return write


async def test_a_crash_after_a_fill_is_written_never_leaves_its_position_unwritten(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """The fill row and the position it leaves are one transaction: a SIGKILL between two
    separate writes left the fill recorded and the position not, and at the restart
    reconciliation found the position off by the whole fill and halted trading."""
    clock = FakeClock()
    data = StaticMarketData(clock, [market(clock=clock)])
    data.set_book(book(YES, [("0.48", "100")], [("0.52", "100"), ("0.53", "100")]))
    venue = PaperVenue(data, bankroll=D(1000), clock=clock, journal=MemoryJournal())
    await venue.start()
    store = DiesAfterTheFill(sessions, clock)
    rig = await build_rig(engine, sessions, venue, clock, data=data, store=store)
    rig.run("execution.writer")
    try:
        result = await rig.runtime.handle(buy())
        await asyncio.wait_for(store.dead.wait(), 5)
        async with engine.connect() as connection:
            fills = (await connection.execute(select(table_of(FillRow)))).all()
            positions = (await connection.execute(select(table_of(PositionRow)))).all()
    finally:
        store.bury()
        await rig.stop()
        await venue.close()
        data.close()
        await rig.events.close()

    assert result.outcome is Outcome.PLACED
    assert result.filled > 0
    assert len(fills) == 1
    assert [(p.token_id, D(p.size)) for p in positions] == [(YES, result.filled)]


class WitnessStore(SqlExecutionStore):
    """Records which event types were on disk when each fill row was written."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], clock: Clock, engine: AsyncEngine
    ):
        super().__init__(sessions, clock)
        self.engine = engine
        self.on_disk_at_fill: list[list[str]] = []
        self.correlation_id = ""

    async def record_fill_and_position(
        self, fill: Fill, correlation_id: str | None, position: Position
    ) -> bool:
        written = await super().record_fill_and_position(fill, correlation_id, position)
        self.on_disk_at_fill.append(await stored_types(self.engine, self.correlation_id))
        return written

    async def record_rows(self, fills: Sequence[FillWrite], orders: Sequence[OrderChange]) -> None:
        await super().record_rows(fills, orders)  # the hot path's one commit for a fill
        self.on_disk_at_fill.extend(
            [await stored_types(self.engine, self.correlation_id)] * len(fills)
        )


def slow_disk(events: EventLog) -> Callable[[], Awaitable[None]]:
    """The durable points' flush on a slow disk: it takes a while to start writing."""

    async def flush() -> None:
        await asyncio.sleep(0.3)
        await events.flush()

    return flush


async def test_a_fill_row_is_never_on_disk_before_its_fill_event(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """The row and the event go by two writers; a SIGKILL after the row and before the event
    left a fill the event log cannot explain (the chaos run found one). The row's write waits
    for the event's."""
    clock = FakeClock()
    data = StaticMarketData(clock, [market(clock=clock)])
    data.set_book(book(YES, [("0.48", "100")], [("0.52", "100"), ("0.53", "100")]))
    venue = PaperVenue(data, bankroll=D(1000), clock=clock, journal=MemoryJournal())
    await venue.start()
    store = WitnessStore(sessions, clock, engine)
    rig = await build_rig(
        engine, sessions, venue, clock, data=data, store=store, durable=slow_disk,
        flush_interval=3600,
    )  # fmt: skip
    rig.run("execution.writer")
    intent = buy()
    store.correlation_id = intent.correlation_id
    try:
        result = await rig.runtime.handle(intent)
        await rig.runtime.flush()
    finally:
        await rig.stop()
        await venue.close()
        data.close()
        await rig.events.close()

    assert result.outcome is Outcome.PLACED
    (at_fill,) = store.on_disk_at_fill
    assert "fill" in at_fill


def failing(times: int, written: list[str], name: str) -> Callable[[], Awaitable[None]]:
    """A write the database refuses `times` times, then takes."""
    left = [times]

    async def write() -> None:
        if left[0] > 0:
            left[0] -= 1
            raise OSError(f"database is locked ({name})")
        written.append(name)

    return write


async def test_a_failing_barrier_keeps_the_rows_behind_it_unwritten_until_it_succeeds() -> None:
    # the settlement's event flush fails 5 times: its rows must not be written without it
    writer = WriteBehind(max_attempts=5, first_backoff_s=0.001)
    written: list[str] = []
    writer.enqueue("settlement event", failing(7, written, "event"), barrier=True)
    writer.enqueue("settlement", failing(0, written, "row"))

    assert not await writer.drain_now()  # five refusals: the drain stops at the barrier
    assert written == []
    assert writer.pending == 2

    assert await writer.drain_now()  # the next run: two more refusals, then it goes through
    assert written == ["event", "row"]
    assert writer.pending == 0


async def test_a_plain_write_that_fails_5_times_is_given_up_and_the_queue_goes_on() -> None:
    writer = WriteBehind(max_attempts=5, first_backoff_s=0.001)
    written: list[str] = []
    writer.enqueue("order", failing(5, written, "order"))
    writer.enqueue("position", failing(0, written, "position"))

    assert await writer.drain_now()
    assert written == ["position"]
    assert writer.failed == 1


async def test_the_writer_task_retries_a_stuck_barrier_by_itself() -> None:
    writer = WriteBehind(max_attempts=2, first_backoff_s=0.001, retry_s=0.05)
    written: list[str] = []
    writer.enqueue("fill event", failing(5, written, "event"), barrier=True)
    writer.enqueue("fill", failing(0, written, "row"))
    task = asyncio.create_task(writer.run())
    try:
        await eventually(lambda: written == ["event", "row"])
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

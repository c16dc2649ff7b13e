"""What the hot path must explain after a crash is on disk before the venue hears of it:
the intent and the order row's event before submit, the fill's event right after it is
applied. The event log's own timer is set to an hour here, so only those points write."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tests.support.execution_rig import YES, book, build_rig, buy, market
from tests.support.paper import MemoryJournal
from trader.clock import FakeClock
from trader.control.types import Outcome
from trader.store.eventlog import find_gaps
from trader.store.tables import EventLogRow, table_of
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

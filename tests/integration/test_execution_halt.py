"""The automatic halt: repeated venue 5xx (the simulator, through the real SDK), a frozen feed
(paper books that stop moving, no socket to ask) and a market socket down past the threshold
each lead to cancel-all, HALTED and one critical alert; a quiet market on a live socket, and a
socket that reconnects between checks, do not."""

from __future__ import annotations

import contextlib
import math
from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from polysim.clob.app import SimServer
from tests.support.execution_rig import (
    YES,
    MemoryJournal,
    Rig,
    book,
    build_rig,
    buy,
    live_rig,
    paper_rig,
    sim,
    sim_endpoints,
    sim_intent,
    sim_market,
)
from tests.support.sim import admin
from tests.support.waiting import eventually
from trader.bus import Subscription
from trader.clock import FakeClock, SystemClock
from trader.control.types import Outcome
from trader.domain import Alert, OrderStatus, Severity, TradingState
from trader.venue.base import VenueUnavailable
from trader.venue.paper.venue import PaperVenue
from trader.venue.polymarket.market_data import PolymarketMarketData

__all__ = ["sim"]  # fixtures used by name below

D = Decimal


def drained(alerts: Subscription[Alert]) -> list[Alert]:
    out = []
    while (envelope := alerts.get_nowait()) is not None:
        out.append(envelope.payload)
    return out


async def test_repeated_venue_5xx_cancel_all_halt_and_alert_once(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], sim: SimServer
) -> None:
    async with live_rig(engine, sessions, sim) as rig:
        alerts = rig.bus.alerts.subscribe()
        market = sim_market(rig)
        resting = await rig.runtime.handle(sim_intent(market, "0.50", "10"))
        assert resting.status is OrderStatus.LIVE
        async with httpx.AsyncClient(base_url=sim.url) as admin:
            fault = {"kind": "server_error", "method": "POST", "path": "/order", "status": 502}
            (await admin.post("/_admin/faults", json=fault)).raise_for_status()

        outcomes = [
            (await rig.runtime.handle(sim_intent(market, "0.52", "5"))).outcome for _ in range(5)
        ]
        await eventually(lambda: rig.runtime.halt.halts == 1)  # cancelled and alerted
        after = await rig.runtime.handle(sim_intent(market, "0.52", "5"))
        for _ in range(5):  # more venue errors while halted: no new halt, no new alert
            rig.runtime.halt.record_venue_error(VenueUnavailable("502"), "submit")
        await rig.runtime.halt.trigger("venue_errors", "again")

        assert outcomes == [Outcome.UNKNOWN] * 5
        assert (after.outcome, after.rule) == (Outcome.DENIED, "halted")
        assert rig.trading.state is TradingState.HALTED
        assert rig.runtime.halt.halts == 1
        assert list(await rig.venue.open_orders()) == []
        halts = [a for a in drained(alerts) if a.kind == "auto_halt"]
        assert len(halts) == 1
        assert halts[0].severity is Severity.CRITICAL
        assert "venue_errors" in halts[0].title
        assert "Cancelled 1 orders" in halts[0].body
        assert rig.trading.reason.startswith("venue_errors")
        alerts.close()


async def test_a_frozen_feed_cancels_halts_and_alerts_once(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    clock = FakeClock()
    async with paper_rig(engine, sessions, clock=clock) as rig:
        assert rig.data is not None
        alerts = rig.bus.alerts.subscribe()
        await rig.runtime.handle(buy())  # a position: the feed matters now
        resting = await rig.runtime.handle(buy(price="0.50", size="10"))
        assert resting.status is OrderStatus.LIVE
        rig.run("execution.books", "execution.book_feed")
        halt = rig.runtime.halt

        await eventually(lambda: rig.runtime.board.feed_age() is not None)
        clock.advance(100)
        rig.data.set_book(book(YES, [("0.48", "90")], [("0.53", "100")]))  # still alive
        await eventually(lambda: rig.runtime.board.feed_age() == 0)
        assert not halt.check_feed()
        rig.run("execution.feed_watch")  # from here the books never move: time runs on

        await eventually(lambda: rig.trading.state is TradingState.HALTED)
        await eventually(lambda: halt.halts == 1)
        clock.advance(600)
        assert not halt.check_feed()  # halted already: nothing more

        assert list(await rig.venue.open_orders()) == []
        halts = [a for a in drained(alerts) if a.kind == "auto_halt"]
        assert [(a.severity, a.title) for a in halts] == [
            (Severity.CRITICAL, "Trading HALTED: feed_down")
        ]
        alerts.close()


# --- feed liveness from the market socket ----------------------------------------------------


@contextlib.asynccontextmanager
async def socket_rig(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], sim: SimServer
) -> AsyncIterator[tuple[Rig, FakeClock, PolymarketMarketData]]:
    """Paper trading on the simulator's market socket (real time), with the execution core on a
    fake clock: the books' silence can be made as long as a test likes while the socket, in
    real time, has just been heard from. A position is held, so the feed matters."""
    clock = FakeClock()
    data = PolymarketMarketData(
        clock=SystemClock(), endpoints=sim_endpoints(sim), reconnect_base=0.5, snapshot_grace=0.3
    )
    await data.start()
    venue = PaperVenue(data, bankroll=D(1000), clock=clock, journal=MemoryJournal())
    await venue.start()
    rig = await build_rig(engine, sessions, venue, clock)
    rig.run("execution.writer", "execution.fills")
    try:
        placed = await rig.runtime.handle(sim_intent(sim_market(rig), "0.62", "10"))
        assert placed.outcome is Outcome.PLACED
        await eventually(lambda: (venue.feed_age() or math.inf) < math.inf)  # connected
        yield rig, clock, data
    finally:
        await rig.stop()
        await rig.events.close()
        await venue.close()
        await data.close()


async def test_a_quiet_market_on_a_live_socket_does_not_halt(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], sim: SimServer
) -> None:
    async with socket_rig(engine, sessions, sim) as (rig, clock, _):
        halt, board = rig.runtime.halt, rig.runtime.board
        limit = float(rig.state.risk_limits.halt_feed_down_s)

        clock.advance(10 * limit)  # no book has moved for ten times the limit

        assert (board.feed_age() or 0) > limit  # by the books' silence, the feed is down
        assert not halt.check_feed()
        assert rig.trading.state is TradingState.RUNNING
        assert halt.halts == 0


async def test_a_socket_back_before_the_threshold_does_not_halt(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], sim: SimServer
) -> None:
    async with socket_rig(engine, sessions, sim) as (rig, clock, data):
        halt = rig.runtime.halt
        limit = float(rig.state.risk_limits.halt_feed_down_s)
        connects = data.books.socket.connects

        await admin(sim, "POST", "drop_ws", {"channel": "market"})
        await eventually(lambda: data.feed_age() == math.inf)
        seen_down = halt.check_feed()  # the outage starts being timed here
        await eventually(lambda: data.books.socket.connects == connects + 1)
        clock.advance(limit + 1)

        assert not seen_down
        assert not halt.check_feed()  # reconnected: the outage is over
        assert rig.trading.state is TradingState.RUNNING


async def test_a_socket_down_past_the_threshold_halts_once(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], sim: SimServer
) -> None:
    async with socket_rig(engine, sessions, sim) as (rig, clock, data):
        alerts = rig.bus.alerts.subscribe()
        halt = rig.runtime.halt
        limit = float(rig.state.risk_limits.halt_feed_down_s)

        await sim.close()  # the venue is gone: the socket cannot come back
        await eventually(lambda: data.feed_age() == math.inf)
        first = halt.check_feed()
        clock.advance(limit / 2)
        early = halt.check_feed()
        clock.advance(limit)
        late = halt.check_feed()
        await eventually(lambda: halt.halts == 1)
        clock.advance(10 * limit)
        after = halt.check_feed()

        assert (first, early, late, after) == (False, False, True, False)
        assert rig.trading.state is TradingState.HALTED
        (alert,) = [a for a in drained(alerts) if a.kind == "auto_halt"]
        assert alert.title == "Trading HALTED: feed_down"
        assert "market socket disconnected" in alert.body
        alerts.close()

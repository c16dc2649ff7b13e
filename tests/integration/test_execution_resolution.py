"""Market resolution in the simulator settles positions and realizes PnL: the live venue reads
each resolved market's payout vector from Gamma through the official SDK (1/0, or 0.5/0.5)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from decimal import Decimal

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from polysim.clob.app import SimServer
from tests.support.execution_rig import (
    CONDITION,
    NO,
    YES,
    MemoryJournal,
    build_rig,
    buy,
    live_rig,
    sim,
    sim_intent,
    sim_market,
)
from tests.support.execution_rig import book as rig_book
from tests.support.execution_rig import market as rig_market
from tests.support.waiting import eventually
from trader.clock import FakeClock, SystemClock
from trader.domain import OrderStatus, TradeStatus
from trader.execution.ledger import SETTLEMENT_LIQUIDITY
from trader.store.eventlog import EventLog
from trader.store.trading import FillRepository, OrderRepository
from trader.venue.base import PreparedOrder, SubmitResult
from trader.venue.paper.feed import StaticMarketData
from trader.venue.paper.venue import PaperVenue

__all__ = ["sim"]  # fixtures used by name below

D = Decimal


async def test_resolution_settles_positions_realizes_pnl_and_says_what_to_redeem(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], sim: SimServer
) -> None:
    async with live_rig(engine, sessions, sim) as rig:  # the venue is the resolution source
        alerts = rig.bus.alerts.subscribe()
        market = sim_market(rig)
        yes, no = (t.token_id for t in market.tokens)
        await rig.runtime.handle(sim_intent(market, "0.62", "20"))
        await rig.runtime.handle(sim_intent(market, "0.42", "10", outcome=1, model="0.55"))
        portfolio = rig.runtime
        await eventually(lambda: portfolio.position(yes) is not None)
        await eventually(lambda: portfolio.position(no) is not None)
        cost = {t: p.size * p.average_price for t in (yes, no) if (p := portfolio.position(t))}
        cash_before = portfolio.summary().cash
        async with httpx.AsyncClient(base_url=sim.url) as admin:
            body = {"condition_id": market.condition_id, "outcome": "Yes"}
            (await admin.post("/_admin/resolve", json=body)).raise_for_status()

        result = await rig.runtime.reconcile("test")

        assert portfolio.positions() == []
        realized = {r.token_id: r.pnl for r in portfolio.realizations()}
        assert realized == {yes: D(20) - cost[yes], no: -cost[no]}
        # the simulator pays winners out at once: the venue's cash shows the 20 pUSD
        assert not any(c.kind == "set_position" for c in result.corrections)
        assert portfolio.summary().cash == cash_before + D(20)
        assert portfolio.summary().redeemable == 0
        settled = [a for a in _drain(alerts) if a.kind == "market_resolved"]
        assert len(settled) == 1
        assert "redeemable 20.00 pUSD" in settled[0].body
        fills = await FillRepository(sessions, rig.clock).for_order("settlement")
        assert {(f.token_id, f.price, f.liquidity) for f in fills} == {
            (yes, D(1), SETTLEMENT_LIQUIDITY),
            (no, D(0), SETTLEMENT_LIQUIDITY),
        }
        assert all(f.status is TradeStatus.MATCHED for f in fills)
        alerts.close()


async def test_a_yes_and_a_50_50_resolution_both_pay_out_and_the_alerts_say_so(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], sim: SimServer
) -> None:
    async with live_rig(engine, sessions, sim) as rig:
        alerts = rig.bus.alerts.subscribe()
        first, second = sim_market(rig), sim_market(rig, "Will the other market matter?")
        yes, no = first.tokens[0].token_id, second.tokens[1].token_id
        await rig.runtime.handle(sim_intent(first, "0.62", "20"))  # YES in the first
        await rig.runtime.handle(sim_intent(second, "0.72", "10", outcome=1, model="0.80"))  # NO
        portfolio = rig.runtime
        await eventually(lambda: portfolio.position(yes) is not None)
        await eventually(lambda: portfolio.position(no) is not None)
        cost = {t: p.size * p.average_price for t in (yes, no) if (p := portfolio.position(t))}
        cash_before = portfolio.summary().cash
        async with httpx.AsyncClient(base_url=sim.url) as admin:
            for market, outcome in ((first, "Yes"), (second, "50/50")):
                body = {"condition_id": market.condition_id, "outcome": outcome}
                (await admin.post("/_admin/resolve", json=body)).raise_for_status()

        await rig.runtime.reconcile("test")

        assert portfolio.positions() == []
        assert portfolio.summary().exposure == 0
        assert portfolio.summary().cash == cash_before + D(20) + D(5)  # 20 x 1 and 10 x 0.5
        realized = {r.token_id: r.pnl for r in portfolio.realizations()}
        assert realized == {yes: D(20) - cost[yes], no: D(5) - cost[no]}
        settled = {a.title: a.body for a in _drain(alerts) if a.kind == "market_resolved"}
        assert settled.keys() == {
            f"Market resolved: {first.question}",
            f"Market resolved 50/50 (0.5 a share each side): {second.question}",
        }
        assert (
            "10 shares of No paid 0.5 each"
            in settled[f"Market resolved 50/50 (0.5 a share each side): {second.question}"]
        )
        assert (
            "redeemable 5.00 pUSD"
            in settled[f"Market resolved 50/50 (0.5 a share each side): {second.question}"]
        )
        alerts.close()


def _drain(subscription):  # type: ignore[no-untyped-def]
    out = []
    while (envelope := subscription.get_nowait()) is not None:
        out.append(envelope.payload)
    return out


class FillsLater(PaperVenue):
    """Paper, but a matched order's answer carries no fills (they come on the stream later),
    as the live venue answers a marketable order."""

    async def submit(self, order: PreparedOrder) -> SubmitResult:
        result = await super().submit(order)
        return dataclasses.replace(result, fills=())


async def test_a_matched_order_awaiting_its_fills_stays_matched_when_its_market_resolves(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    clock = FakeClock()
    data = StaticMarketData(clock, [rig_market(clock=clock)])
    data.set_book(rig_book(YES, [("0.48", "100")], [("0.52", "100")]))
    data.set_book(rig_book(NO, [("0.47", "100")], [("0.51", "100")]))
    venue = FillsLater(data, bankroll=D(1000), clock=clock, journal=MemoryJournal())
    await venue.start()
    rig = await build_rig(engine, sessions, venue, clock, data=data)
    rig.run("execution.writer")
    try:
        taken = await rig.runtime.handle(buy("0.52", "10"))
        resting = await rig.runtime.handle(buy("0.45", "10"))
        assert (taken.status, resting.status) == (OrderStatus.MATCHED, OrderStatus.LIVE)
        assert len(rig.runtime.working_orders()) == 2  # the matched one awaits its fills

        await rig.runtime.accounts.settle(CONDITION, {YES: D(1), NO: D(0)})
        await rig.runtime.flush()

        orders = OrderRepository(sessions, clock)
        matched = await orders.get_by_venue_id(taken.order_id or "")
        ended = await orders.get_by_venue_id(resting.order_id or "")
        assert matched is not None
        assert ended is not None
        assert (matched.status, ended.status) == ("MATCHED", "CANCELED_MARKET_RESOLVED")
    finally:
        await rig.stop()
        await venue.close()
        data.close()
        await rig.events.close()


async def test_the_settlement_event_is_durable_before_the_settlement_rows_are_written(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], sim: SimServer
) -> None:
    # a SIGKILL between the two must never leave a settlement row no event explains
    fills = FillRepository(sessions, SystemClock())
    seen: list[tuple[int, int]] = []  # at each flush: settled events on record, settlement rows

    def durable(events: EventLog) -> Callable[[], Awaitable[None]]:
        async def flush() -> None:
            await events.flush()
            settled = await events.latest_of(["market_settled"])
            seen.append((len(settled), len(await fills.for_order("settlement"))))

        return flush

    async with live_rig(engine, sessions, sim, durable=durable) as rig:
        market = sim_market(rig)
        await rig.runtime.handle(sim_intent(market, "0.62", "20"))
        await eventually(lambda: rig.runtime.position(market.tokens[0].token_id) is not None)
        async with httpx.AsyncClient(base_url=sim.url) as admin:
            body = {"condition_id": market.condition_id, "outcome": "Yes", "redeem": False}
            (await admin.post("/_admin/resolve", json=body)).raise_for_status()

        await rig.runtime.reconcile("test")

        assert (1, 0) in seen  # the event was on record while no settlement row existed yet
        assert len(await fills.for_order("settlement")) == 1


async def test_what_is_remembered_never_runs_ahead_of_the_rows_still_queued(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], sim: SimServer
) -> None:
    # a settlement remembered while its rows wait (a locked database) would be settled and
    # paid a second time after a SIGKILL: the memory waits for the queued writes
    async with live_rig(engine, sessions, sim) as rig:
        accounts, writer = rig.runtime.accounts, rig.runtime._engine.writer
        release = asyncio.Event()
        written: list[str] = []

        async def slow_write() -> None:
            await release.wait()
            written.append("row")

        writer.enqueue("a row the database is slow to take", slow_write)
        remembering = asyncio.create_task(accounts.remember())
        await asyncio.sleep(0.2)
        assert not remembering.done()  # waits for the row
        release.set()
        await asyncio.wait_for(remembering, 5)
        assert written == ["row"]

"""Paper trading on market data streamed from the CLOB simulator (through the public SDK), alone
and under the execution runtime with its fills in the database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from polysim.clob.app import SimServer, serve
from tests.support.execution_rig import build_rig, sim_intent, sim_market
from tests.support.live_adapter_rig import SCENARIO, endpoints_for
from tests.support.paper import MemoryJournal
from tests.support.waiting import eventually
from trader.clock import SystemClock
from trader.control.types import Outcome
from trader.domain import Market, OrderRequest, OrderStatus, OrderType, Side
from trader.store.trading import FillRepository
from trader.venue.paper.journal import DatabaseFillJournal
from trader.venue.paper.venue import PaperVenue
from trader.venue.polymarket.market_data import PolymarketMarketData


@pytest.fixture
async def sim() -> AsyncIterator[SimServer]:
    server = await serve(scenario=SCENARIO, seed=3)
    yield server
    await server.close()


@pytest.fixture
async def data(sim: SimServer) -> AsyncIterator[PolymarketMarketData]:
    source = PolymarketMarketData(  # FEE_RATE_OVERRIDE_BPS=100 on markets that charge none
        clock=SystemClock(),
        endpoints=endpoints_for(sim),
        reconnect_base=0.05,
        snapshot_grace=0.3,
        fee_override_bps=Decimal(100),
    )
    await source.start()
    yield source
    await source.close()


@pytest.fixture
async def paper(data: PolymarketMarketData) -> AsyncIterator[PaperVenue]:
    venue = PaperVenue(
        data,
        bankroll=Decimal(1000),
        clock=SystemClock(),
        journal=MemoryJournal(),
    )
    await venue.start()
    yield venue
    await venue.close()


async def rig_market(paper: PaperVenue) -> Market:
    return next(m for m in await paper.list_markets() if m.question == "Will the rig pass?")


def request(market: Market, side: Side, price: str, size: str, kind: OrderType) -> OrderRequest:
    return OrderRequest(
        token_id=market.tokens[0].token_id,
        side=side,
        price=Decimal(price),
        size=Decimal(size),
        client_order_id=f"{side}-{price}",
        order_type=kind,
        market=market.condition_id,
    )


async def test_paper_on_simulated_data_takes_the_real_asks(paper: PaperVenue) -> None:
    market = await rig_market(paper)
    book = await paper.get_book(market.tokens[0].token_id)

    result = await paper.submit(
        await paper.prepare(request(market, Side.BUY, "0.62", "60", OrderType.FAK))
    )

    assert book.best_ask == Decimal("0.61")
    assert [(f.price, f.size) for f in result.fills] == [
        (Decimal("0.61"), Decimal(50)),
        (Decimal("0.62"), Decimal(10)),
    ]
    assert all(f.fee > 0 for f in result.fills)
    (position,) = await paper.positions()
    assert position.size == Decimal(60)


async def test_paper_resting_order_fills_when_the_simulated_market_moves_through(
    sim: SimServer, paper: PaperVenue
) -> None:
    market = await rig_market(paper)
    resting = await paper.submit(
        await paper.prepare(request(market, Side.BUY, "0.55", "20", OrderType.GTC))
    )
    assert resting.status is OrderStatus.LIVE
    stream = paper.fills()

    async with httpx.AsyncClient(base_url=sim.url) as admin:
        await admin.post(
            "/_admin/price", json={"condition_id": market.condition_id, "fair": "0.40"}
        )
    fill = await asyncio.wait_for(anext(stream), 5)

    assert (fill.order_id, fill.price, fill.liquidity) == (
        resting.order_id,
        Decimal("0.55"),
        "MAKER",
    )

    async def done() -> bool:
        order = await paper.get_order(resting.order_id)
        return order is not None and order.status is OrderStatus.MATCHED

    await eventually(done)


async def test_paper_rebuilt_over_the_database_resumes_the_fills_the_engine_recorded(
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    sim: SimServer,
    data: PolymarketMarketData,
) -> None:
    clock = SystemClock()

    def paper_venue() -> PaperVenue:
        journal = DatabaseFillJournal(sessions, clock)
        return PaperVenue(data, bankroll=Decimal(1000), clock=clock, journal=journal)

    venue = paper_venue()
    await venue.start()
    rig = await build_rig(engine, sessions, venue, clock)
    rig.run("execution.writer", "execution.fills")
    try:
        market = sim_market(rig, "Will the rig pass?")
        yes = market.tokens[0].token_id
        taken = await rig.runtime.handle(sim_intent(market, "0.62", "20"))  # takes the asks
        sold = await rig.runtime.handle(sim_intent(market, "0.55", "8", side=Side.SELL))
        resting = await rig.runtime.handle(sim_intent(market, "0.55", "10"))
        async with httpx.AsyncClient(base_url=sim.url) as admin:
            body = {"condition_id": market.condition_id, "fair": "0.40"}
            (await admin.post("/_admin/price", json=body)).raise_for_status()
        position = rig.runtime.position
        await eventually(lambda: (p := position(yes)) is not None and p.size == Decimal(22))
    finally:
        await rig.stop()  # drains the write-behind queue
        await rig.events.close()
    before = (await venue.balance(), await venue.positions(), await venue.trades())
    await venue.close()

    rebuilt = paper_venue()
    await rebuilt.start()
    after = (await rebuilt.balance(), await rebuilt.positions(), await rebuilt.trades())
    await rebuilt.close()

    assert [r.outcome for r in (taken, resting, sold)] == [Outcome.PLACED] * 3
    assert {f.liquidity for f in before[2]} == {"TAKER", "MAKER"}
    assert after[:2] == before[:2]
    assert after[1][0].size == Decimal(22)
    assert sorted(f.key for f in after[2]) == sorted(f.key for f in before[2])
    recorded = await FillRepository(sessions, clock).since(before[2][0].timestamp)
    assert len(recorded) == len(before[2])


async def test_a_markets_fee_schedule_arrives_through_the_sdk_from_gamma() -> None:
    """The simulator's Gamma states a 400 bps schedule; the SDK's market model carries it to
    our Market, and a paper taker fill is charged by it: 10 x 0.04 x 0.61 x 0.39."""
    scenario = {
        **SCENARIO,
        "markets": [{**SCENARIO["markets"][0], "fee_rate_bps": 400, "fee_exponent": 1}],
    }
    server = await serve(scenario=scenario, seed=3)
    source = PolymarketMarketData(clock=SystemClock(), endpoints=endpoints_for(server))
    await source.start()
    venue = PaperVenue(source, bankroll=Decimal(1000), clock=SystemClock(), journal=MemoryJournal())
    await venue.start()
    try:
        (market,) = [m for m in await venue.list_markets() if m.question == "Will the rig pass?"]
        assert (market.fees.rate, market.fees.exponent) == (Decimal("0.04"), 1)
        result = await venue.submit(
            await venue.prepare(request(market, Side.BUY, "0.61", "10", OrderType.FAK))
        )
        assert [f.fee for f in result.fills] == [
            Decimal(10) * Decimal("0.04") * Decimal("0.61") * Decimal("0.39")
        ]
    finally:
        await venue.close()
        await source.close()
        await server.close()

"""Paper trading on market data streamed from the CLOB simulator (through the public SDK)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import pytest

from tests.helpers import eventually
from tests.integration.test_live_adapter_rig import SCENARIO, endpoints_for
from trader.clock import SystemClock
from trader.domain import Fill, Market, OrderRequest, OrderStatus, OrderType, Side
from trader.venue.paper import PaperVenue
from trader.venue.polymarket_market_data import PolymarketMarketData
from trader.venue.sim.app import SimServer, serve


class MemoryJournal:
    def __init__(self) -> None:
        self.fills: list[Fill] = []

    async def load(self) -> list[Fill]:
        return list(self.fills)

    async def record(self, fill: Fill) -> None:
        self.fills.append(fill)


@pytest.fixture
async def sim() -> AsyncIterator[SimServer]:
    server = await serve(scenario=SCENARIO, seed=3)
    yield server
    await server.close()


@pytest.fixture
async def data(sim: SimServer) -> AsyncIterator[PolymarketMarketData]:
    source = PolymarketMarketData(
        clock=SystemClock(), endpoints=endpoints_for(sim), reconnect_base=0.05, snapshot_grace=0.3
    )
    await source.start()
    yield source
    await source.close()


@pytest.fixture
async def paper(data: PolymarketMarketData) -> AsyncIterator[PaperVenue]:
    venue = PaperVenue(
        data,
        bankroll=Decimal(1000),
        fee_rate_bps=Decimal(100),
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

"""Fixtures for the live adapter tests: the CLOB simulator on 127.0.0.1 and the real SDK in
`PolymarketVenue` pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx
import pytest

from polysim.clob.app import SimServer, serve
from trader.clock import SystemClock
from trader.domain import Market, OrderRequest, OrderType, Side
from trader.venue.polymarket.adapter import PolymarketVenue
from trader.venue.polymarket.market_data import PolymarketEndpoints

KEY_A = "0x" + "a1" * 32
KEY_B = "0x" + "b2" * 32
SCENARIO: dict[str, Any] = {
    "seed": 3,
    "tick_interval_s": 0.1,
    "settlement_delay_s": 0.2,
    "markets": [
        {
            "question": "Will the rig pass?",
            "fair_price": "0.60",
            "volatility": 0,
            "flow_rate": 0,
            "depth": 3,
            "level_size": "50",
        },
        {
            "question": "Will the second market matter?",
            "fair_price": "0.30",
            "volatility": 0,
            "flow_rate": 0,
        },
        {
            "question": "Will the neg-risk leg win?",
            "fair_price": "0.20",
            "volatility": 0,
            "flow_rate": 0,
            "neg_risk": True,
        },
    ],
}


@dataclass
class RecordingClock(SystemClock):
    """The system clock, remembering every sleep it was asked for."""

    sleeps: list[float] = field(default_factory=list)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        await super().sleep(seconds)


def endpoints_for(sim: SimServer) -> PolymarketEndpoints:
    return PolymarketEndpoints(
        clob_url=sim.url,
        gamma_url=sim.gamma_url,
        data_url=sim.data_url,
        market_ws_url=sim.market_ws_url,
        user_ws_url=sim.user_ws_url,
    )


def make_venue(sim: SimServer, key: str, clock: SystemClock, **kwargs: Any) -> PolymarketVenue:
    options: dict[str, Any] = {
        "submit_timeout": 2.0,
        "fill_poll_interval": None,
        "reconnect_base": 0.05,
        "snapshot_grace": 0.3,
        "read_backoff": 0.05,
    }
    options.update(kwargs)
    return PolymarketVenue(private_key=key, clock=clock, endpoints=endpoints_for(sim), **options)


@pytest.fixture
async def sim() -> AsyncIterator[SimServer]:
    server = await serve(scenario=SCENARIO, seed=3)
    yield server
    await server.close()


@pytest.fixture
def clock() -> RecordingClock:
    return RecordingClock()


@pytest.fixture
async def venue(sim: SimServer, clock: RecordingClock) -> AsyncIterator[PolymarketVenue]:
    live = make_venue(sim, KEY_A, clock)
    await live.start()
    yield live
    await live.close()


@pytest.fixture
async def admin(sim: SimServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sim.url + "/_admin", timeout=5.0) as client:
        yield client


@pytest.fixture
async def market(venue: PolymarketVenue) -> Market:
    markets = await venue.list_markets()
    return next(m for m in markets if m.question == "Will the rig pass?")


async def add_fault(admin: httpx.AsyncClient, **rule: Any) -> None:
    response = await admin.post("/faults", json=rule)
    response.raise_for_status()


def buy(
    market: Market,
    price: str,
    size: str = "10",
    order_type: OrderType = OrderType.GTC,
    *,
    outcome: int = 0,
    side: Side = Side.BUY,
    client_order_id: str = "c-1",
) -> OrderRequest:
    return OrderRequest(
        token_id=market.tokens[outcome].token_id,
        side=side,
        price=Decimal(price),
        size=Decimal(size),
        client_order_id=client_order_id,
        order_type=order_type,
        market=market.condition_id,
    )

"""A submit the venue accepted and filled, answered with an HTML 503 (the simulator's
`error_after_accept`, through the real SDK): the outcome is unknown, never REJECTED, and
reconciliation gives the order the venue's status and matched size."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from polysim.clob.app import SimServer
from tests.support.execution_rig import live_rig, sim, sim_intent, sim_market
from tests.support.sim import admin
from trader.control.types import Outcome
from trader.domain import OrderStatus
from trader.store.trading import OrderRepository

__all__ = ["sim"]  # fixtures used by name below

D = Decimal


@pytest.mark.parametrize(
    "components", [("execution.writer", "execution.fills"), ("execution.writer",)]
)
async def test_html_503_after_the_venue_filled_ends_with_the_venues_status_and_size(
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    sim: SimServer,
    components: tuple[str, ...],
) -> None:
    async with live_rig(engine, sessions, sim, components=components) as rig:
        market = sim_market(rig)
        fault = {"kind": "error_after_accept", "method": "POST", "path": "/order", "count": 1}
        await admin(sim, "POST", "faults", fault)

        result = await rig.runtime.handle(sim_intent(market, "0.70", "5"))
        assert result.order_id is not None
        venue_order = await rig.venue.get_order(result.order_id)
        await rig.runtime.reconcile("periodic")
        await rig.runtime.flush()
        row = await OrderRepository(sessions, rig.clock).get_by_venue_id(result.order_id)
        position = rig.runtime.position(market.tokens[0].token_id)

        assert result.outcome is Outcome.UNKNOWN
        assert venue_order is not None
        assert (venue_order.status, venue_order.size_matched) == (OrderStatus.MATCHED, D(5))
        assert row is not None
        assert (row.status, row.size_matched) == (OrderStatus.MATCHED, D(5))
        assert position is not None
        assert position.size == D(5)
        working = {o.order_id for o in rig.runtime.working_orders()}
        assert result.order_id not in working  # reservation released

"""A /kill during a reconciliation sweep that a slow venue drags out: the kill waits only for
the decision in flight (reconciliation gathers outside the decision lock), so it completes in
about the time of its own cancel calls, well under the sweep's."""

from __future__ import annotations

import asyncio
import time

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from polysim.clob.app import SimServer
from tests.support.execution_rig import live_rig, sim, sim_intent, sim_market
from tests.support.waiting import eventually
from trader.domain import Actor, OrderStatus, TradingState

__all__ = ["sim"]  # fixtures used by name below

OPERATOR = Actor("telegram", "42", "ops")
SWEEP_LATENCY_MS = 2500  # the venue's trades endpoint answers the sweep this late
KILL_BOUND_S = 1.0  # the kill's own calls (cancel-all, open orders) are loopback-fast


async def test_kill_during_a_slow_reconciliation_waits_only_for_its_own_cancels(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], sim: SimServer
) -> None:
    async with live_rig(engine, sessions, sim) as rig, httpx.AsyncClient(base_url=sim.url) as admin:
        market = sim_market(rig)
        resting = await rig.runtime.handle(sim_intent(market, "0.50", "10"))
        assert resting.status is OrderStatus.LIVE
        fault = {
            "kind": "latency",
            "method": "GET",
            "path": "/data/trades",
            "ms": SWEEP_LATENCY_MS,
            "count": 1,
        }
        (await admin.post("/_admin/faults", json=fault)).raise_for_status()

        sweep = asyncio.create_task(rig.runtime.reconcile("periodic"))

        async def slow_request_started() -> bool:  # the count-1 rule is used up once it matched
            return (await admin.get("/_admin/faults")).json() == []

        await eventually(slow_request_started)
        started = time.monotonic()
        report = await rig.runtime.kill_switch.kill(OPERATOR, flatten=False)
        took = time.monotonic() - started

        assert not sweep.done()  # the sweep is still waiting on the venue
        assert took < KILL_BOUND_S < SWEEP_LATENCY_MS / 1000
        assert report.state is TradingState.KILLED
        assert (report.canceled, report.open_orders_left) == (1, 0)
        await sweep
        assert rig.trading.state is TradingState.KILLED
        assert list(await rig.venue.open_orders()) == []

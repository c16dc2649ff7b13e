"""A fill that lands while reconciliation reads the venue is no position difference.

The execution core over the live adapter (the real SDK) against the simulator, with the
venue's fill stream consumed as in the app. Each of the first two times the venue's positions
are read, the simulator's market maker re-quotes through one more of our resting bids right
after the read, and the stream delivers that fill before reconciliation looks at our own
positions: ours then hold a fill the venue's positions read does not. Read naively, that is a
position difference worth the fill: the "read again" pass meets the next fill the same way,
sets our position back to the venue's stale size and the automatic halt stops trading at 3am
over nothing. Reconciliation reads the positions again after the trades and our own state,
sees the token moved, and claims no difference for it this run.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from polysim.clob.app import SimServer, serve
from tests.support.execution_rig import live_rig, sim_intent, sim_market
from tests.support.sim import avoid_ca_bundle
from tests.support.waiting import eventually
from trader.control.types import Outcome
from trader.domain import Position
from trader.execution.reconcile import SetPosition

D = Decimal
QUESTION = "Will the read race halt trading?"
SCENARIO: dict[str, Any] = {
    "seed": 7,
    "tick_interval_s": 0.1,
    "settlement_delay_s": 0.2,
    "initial_collateral": "1000",
    "markets": [
        {
            "question": QUESTION,
            "fair_price": "0.60",
            "volatility": 0,
            "flow_rate": 0,
            "depth": 3,
            "level_size": "200",
        }
    ],
}


@pytest.fixture
async def sim(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> AsyncIterator[SimServer]:
    avoid_ca_bundle(monkeypatch, tmp_path)
    server = await serve(scenario=SCENARIO, seed=7)
    yield server
    await server.close()


async def test_a_fill_landing_while_the_venue_is_read_is_no_position_difference(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], sim: SimServer
) -> None:
    async with live_rig(engine, sessions, sim) as rig:
        market = sim_market(rig, QUESTION)
        token = market.tokens[0].token_id
        for price in ("0.56", "0.52"):  # two resting bids below the 0.60 touch
            placed = await rig.runtime.handle(sim_intent(market, price, "10", model="0.95"))
            assert placed.outcome is Outcome.PLACED, placed.message
        assert rig.runtime.position(token) is None

        real_positions = rig.venue.positions
        moves = iter(["0.53", "0.48"])  # each crosses one more of our bids

        def ours() -> Decimal:
            position = rig.runtime.position(token)
            return position.size if position is not None else D(0)

        async def positions_then_a_fill() -> Sequence[Position]:
            seen = await real_positions()
            fair = next(moves, None)
            if fair is not None:
                before = ours()
                async with httpx.AsyncClient(base_url=sim.url) as client:
                    moved = await client.post(
                        "/_admin/price", json={"condition_id": market.condition_id, "fair": fair}
                    )
                    moved.raise_for_status()
                await eventually(lambda: ours() > before)  # the stream delivered it
            return seen

        rig.venue.positions = positions_then_a_fill  # type: ignore[method-assign]
        result = await rig.runtime.reconcile("test")

        assert result.position_mismatch_value == 0, result
        assert not [c for c in result.corrections if isinstance(c, SetPosition)]
        venue = {p.token_id: p.size for p in await real_positions()}
        assert ours() == venue[token] == D(20)  # both fills, none undone
        assert rig.runtime.trading_status().state.value == "RUNNING"

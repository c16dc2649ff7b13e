"""Neg-risk events end to end: the simulator's Gamma lists three outcome markets under one
event; the live adapter (the real SDK) reads the event onto each market, the board groups
them, and risk's per-event limit denies an entry that would take the event's exposure past
it while the same entry in a market of no event passes."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from polysim.clob.app import SimServer, serve
from tests.support.execution_rig import TEST_LIMITS, live_rig, sim_intent, sim_market
from tests.support.sim import avoid_ca_bundle
from tests.support.waiting import eventually
from trader.control.types import Outcome

D = Decimal
OUTCOMES = ("Will Alice win?", "Will Bob win?", "Will Carol win?")


def _outcome(question: str, fair: str) -> dict[str, Any]:
    return {
        "question": question,
        "fair_price": fair,
        "volatility": 0,
        "flow_rate": 0,
        "depth": 3,
        "level_size": "200",
        "neg_risk": True,
        "event": "who-wins",
    }


SCENARIO: dict[str, Any] = {
    "seed": 11,
    "tick_interval_s": 0.1,
    "settlement_delay_s": 0.2,
    "initial_collateral": "1000",
    "markets": [
        _outcome(OUTCOMES[0], "0.50"),
        _outcome(OUTCOMES[1], "0.30"),
        _outcome(OUTCOMES[2], "0.20"),
        {"question": "Will it snow?", "fair_price": "0.50", "volatility": 0, "flow_rate": 0},
    ],
}
LIMITS = dataclasses.replace(TEST_LIMITS, max_order_notional=D(100), max_event_exposure=D(40))


@pytest.fixture
async def sim(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> AsyncIterator[SimServer]:
    avoid_ca_bundle(monkeypatch, tmp_path)
    server = await serve(scenario=SCENARIO, seed=11)
    yield server
    await server.close()


async def test_an_events_outcomes_are_grouped_and_capped_together(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], sim: SimServer
) -> None:
    async with live_rig(engine, sessions, sim, limits=LIMITS) as rig:
        alice, bob, carol = (sim_market(rig, q) for q in OUTCOMES)
        snow = sim_market(rig, "Will it snow?")
        assert {m.event_id for m in (alice, bob, carol)} == {"who-wins"}
        assert snow.event_id == ""
        board = rig.runtime.board
        assert sorted(board.event_markets(alice.condition_id)) == sorted(
            m.condition_id for m in (alice, bob, carol)
        )

        first = await rig.runtime.handle(sim_intent(alice, "0.52", "50", model="0.70"))
        assert first.outcome is Outcome.PLACED, first.message
        yes = alice.tokens[0].token_id
        await eventually(lambda: (p := rig.runtime.position(yes)) is not None and p.size == 50)
        # Alice's ~$25.5 plus Bob's 50 x 0.32 = $16 would pass $40 for the event
        denied = await rig.runtime.handle(sim_intent(bob, "0.32", "50", model="0.60"))
        allowed = await rig.runtime.handle(sim_intent(snow, "0.52", "50", model="0.70"))

    assert denied.outcome is Outcome.DENIED
    assert denied.rule == "max_event_exposure"
    assert "exposure to this event's outcomes would be" in denied.message
    assert allowed.outcome is Outcome.PLACED, allowed.message

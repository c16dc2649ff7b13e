"""Market resolution in the simulator settles positions and realizes PnL."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from polysim.clob.app import SimServer, serve
from tests.support.execution_rig import SIM_SCENARIO, live_rig, sim_intent, sim_market
from tests.support.sim import avoid_ca_bundle
from tests.support.waiting import eventually
from trader.domain import TradeStatus
from trader.execution.ledger import SETTLEMENT_LIQUIDITY
from trader.store.trading import FillRepository

D = Decimal


class GammaResolutions:
    """Resolved markets from Gamma: closed, with an outcome price of 1 (the winner)."""

    def __init__(self, gamma_url: str) -> None:
        self._url = gamma_url

    async def resolved_markets(self, condition_ids: Sequence[str]) -> dict[str, str]:
        params = [("condition_ids", c) for c in condition_ids]
        async with httpx.AsyncClient(base_url=self._url, timeout=5.0) as http:
            response = await http.get("/markets", params=params)
            response.raise_for_status()
        resolved = {}
        for item in response.json():
            prices = [D(p) for p in json.loads(item["outcomePrices"])]
            tokens = json.loads(item["clobTokenIds"])
            if item["closed"] and D(1) in prices:
                resolved[item["conditionId"]] = tokens[prices.index(D(1))]
        return resolved


@pytest.fixture
async def sim(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> AsyncIterator[SimServer]:
    avoid_ca_bundle(monkeypatch, tmp_path)
    server = await serve(scenario=SIM_SCENARIO, seed=5)
    yield server
    await server.close()


async def test_resolution_settles_positions_realizes_pnl_and_says_what_to_redeem(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], sim: SimServer
) -> None:
    source = GammaResolutions(sim.gamma_url)
    async with live_rig(engine, sessions, sim, resolutions=source) as rig:
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


def _drain(subscription):  # type: ignore[no-untyped-def]
    out = []
    while (envelope := subscription.get_nowait()) is not None:
        out.append(envelope.payload)
    return out

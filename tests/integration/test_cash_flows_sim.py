"""Cash flows end to end: the execution core over the live adapter (the real SDK) against the
simulator. A withdrawal made at the venue (`/_admin/balances`) is found at reconciliation as
a cash flow and moves neither /pnl, the day's PnL (so the daily loss limit), nor the drawdown
mode; partial redemptions (`/_admin/redeem`) are counted once, including one made while the
trader was down, recognised at its next start."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from polysim.clob.app import SimServer, serve
from tests.support.execution_rig import TEST_LIMITS, Rig, live_rig, sim_intent, sim_market
from tests.support.sim import avoid_ca_bundle
from tests.support.waiting import eventually
from trader.control.types import ControlError, Outcome, PnlPeriod
from trader.domain import DrawdownMode
from trader.execution.risk import drawdown_mode
from trader.execution.store import SqlExecutionStore
from trader.store.eventlog import EventLog

D = Decimal
CENT = D("0.01")
SCENARIO: dict[str, Any] = {
    "seed": 7,
    "tick_interval_s": 0.1,
    "settlement_delay_s": 0.2,
    "initial_collateral": "1000",
    "markets": [
        {
            "question": "Will the first market pay 100?",
            "fair_price": "0.60",
            "volatility": 0,
            "flow_rate": 0,
            "depth": 3,
            "level_size": "200",
        },
        {
            "question": "Will the second market pay 80?",
            "fair_price": "0.30",
            "volatility": 0,
            "flow_rate": 0,
            "depth": 3,
            "level_size": "200",
        },
    ],
}
LIMITS = replace(TEST_LIMITS, max_order_notional=D(100), daily_loss_limit=D(100))


@pytest.fixture
async def sim(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> AsyncIterator[SimServer]:
    avoid_ca_bundle(monkeypatch, tmp_path)
    server = await serve(scenario=SCENARIO, seed=7)
    yield server
    await server.close()


async def _admin(sim: SimServer, path: str, body: dict[str, Any]) -> Any:
    async with httpx.AsyncClient(base_url=sim.url) as client:
        response = await client.post(f"/_admin/{path}", json=body)
        response.raise_for_status()
        return response.json()


def _wallet(rig: Rig) -> str:
    return str(rig.venue.client.wallet)  # type: ignore[attr-defined]


async def _buy(rig: Rig, question: str, price: str, size: str) -> str:
    market = sim_market(rig, question)
    result = await rig.runtime.handle(sim_intent(market, price, size, model="0.95"))
    assert result.outcome is Outcome.PLACED, result.message
    token = market.tokens[0].token_id
    await eventually(lambda: (p := rig.runtime.position(token)) is not None and p.size == D(size))
    return market.condition_id


async def _flows(sessions: async_sessionmaker[AsyncSession], rig: Rig) -> list[Decimal]:
    store = SqlExecutionStore(sessions, rig.clock)
    return [f.amount for f in await store.cash_flows(rig.clock.now().replace(year=2000))]


async def _events(rig: Rig, kind: str) -> list[dict[str, Any]]:
    assert isinstance(rig.events, EventLog)
    await rig.events.flush()
    return [e.payload for e in await rig.events.recent(500) if e.type == kind]


async def test_a_withdrawal_moves_neither_pnl_nor_the_daily_limit_nor_the_drawdown_mode(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], sim: SimServer
) -> None:
    async with live_rig(engine, sessions, sim, limits=LIMITS) as rig:
        alerts = rig.bus.alerts.subscribe()
        await _buy(rig, "Will the first market pay 100?", "0.63", "50")
        await rig.runtime.accounts.snapshot()  # equity of the day so far
        before = rig.runtime.summary()
        pnl_before = await rig.runtime.accounts.pnl(PnlPeriod.DAY)

        await _admin(sim, "balances", {"address": _wallet(rig), "withdraw": "300"})
        await rig.runtime.reconcile("test")  # seen once: not yet a flow, and not PnL either
        assert rig.runtime.summary().equity == before.equity
        assert await _flows(sessions, rig) == []
        await rig.runtime.reconcile("test")  # seen again: a withdrawal
        await rig.runtime.accounts.snapshot()  # watches the limits, as the job does

        after = rig.runtime.summary()
        assert after.equity == before.equity - D(300)
        assert abs(after.day_pnl - before.day_pnl) <= CENT
        assert after.drawdown <= before.drawdown + CENT
        assert drawdown_mode(after.drawdown, LIMITS) is DrawdownMode.FULL
        pnl_after = await rig.runtime.accounts.pnl(PnlPeriod.DAY)
        assert pnl_before.pnl is not None
        assert pnl_after.pnl is not None
        assert abs(pnl_after.pnl - pnl_before.pnl) <= CENT
        assert pnl_after.cash_flows == D(-300)
        assert await _flows(sessions, rig) == [D(-300)]
        with pytest.raises(ControlError, match="on-chain"):  # live: found, never entered
            await rig.runtime.accounts.record_cash_flow("telegram:ada", D(-300), "")
        [event] = await _events(rig, "cash_flow")
        assert (D(event["amount"]), event["kind"]) == (D(-300), "withdrawal")
        kinds = [a.kind for a in _drain(alerts)]
        assert "cash_flow" in kinds
        assert "daily_loss" not in kinds
        assert "drawdown_mode" not in kinds
        # the daily loss limit (100) did not trip: a new entry is still allowed
        second = sim_market(rig, "Will the second market pay 80?")
        allowed = await rig.runtime.handle(sim_intent(second, "0.33", "10", model="0.95"))
        assert allowed.outcome is Outcome.PLACED, allowed.message
        await eventually(lambda: rig.runtime.position(second.tokens[0].token_id) is not None)
        await rig.runtime.accounts.snapshot()
        last = await rig.runtime.accounts.pnl(PnlPeriod.DAY)  # the second buy's spread
        alerts.close()

    async with live_rig(engine, sessions, sim, limits=LIMITS) as rig:  # a restart
        assert await _flows(sessions, rig) == [D(-300)]  # not found a second time
        restarted = await rig.runtime.accounts.pnl(PnlPeriod.DAY)
        assert restarted.pnl is not None
        assert last.pnl is not None
        assert abs(restarted.pnl - last.pnl) <= CENT
        # the day's PnL the daily loss limit reads is not the withdrawal either
        assert abs(rig.runtime.summary().day_pnl) <= D("1.5")  # spreads only


async def test_partial_redemptions_count_once_including_one_made_while_down(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], sim: SimServer
) -> None:
    async with live_rig(engine, sessions, sim, limits=LIMITS) as rig:
        await rig.runtime.accounts.snapshot()  # the day starts at 1000
        first = await _buy(rig, "Will the first market pay 100?", "0.63", "100")
        second = await _buy(rig, "Will the second market pay 80?", "0.33", "80")
        for market in (first, second):  # both YES; the venue pays nobody by itself
            body = {"condition_id": market, "outcome": "Yes", "redeem": False}
            await _admin(sim, "resolve", body)
        await rig.runtime.reconcile("test")
        settled = rig.runtime.summary()
        settled_pnl = await rig.runtime.accounts.pnl(PnlPeriod.DAY)
        assert settled.redeemable == D(180)
        assert rig.runtime.positions() == []

        paid = await _admin(sim, "redeem", {"condition_id": first, "address": _wallet(rig)})
        assert D(paid["paid"]) == D(100)
        await rig.runtime.reconcile("test")
        once = rig.runtime.summary()
        assert once.redeemable == D(80)
        assert once.cash == settled.cash + D(100)
        assert once.equity == settled.equity  # a redemption is not PnL, and counted once
        await rig.runtime.reconcile("test")  # again: nothing new
        assert rig.runtime.summary().equity == settled.equity
        assert await _flows(sessions, rig) == []
        assert [D(e["amount"]) for e in await _events(rig, "redemption_received")] == [D(100)]
        wallet = _wallet(rig)

    # while the trader is down: the second market is redeemed and 50 withdrawn
    await _admin(sim, "redeem", {"condition_id": second, "address": wallet})
    await _admin(sim, "balances", {"address": wallet, "withdraw": "50"})

    async with live_rig(engine, sessions, sim, limits=LIMITS) as rig:
        # the start's reconciliation recognised the redemption and saw the 50 once
        assert rig.runtime.summary().redeemable == D(0)
        assert await _flows(sessions, rig) == []
        await rig.runtime.reconcile("test")
        restarted = rig.runtime.summary()
        assert restarted.redeemable == D(0)
        assert restarted.cash == settled.cash + D(180) - D(50)
        assert restarted.equity == settled.equity - D(50)
        assert await _flows(sessions, rig) == [D(-50)]
        pnl = await rig.runtime.accounts.pnl(PnlPeriod.DAY)
        assert pnl.pnl == settled_pnl.pnl  # neither the redemption nor the withdrawal
        assert pnl.cash_flows == D(-50)


async def test_a_difference_seen_by_one_run_only_is_no_flow(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], sim: SimServer
) -> None:
    """What a fill landing between the venue's balance and trades reads looks like: a
    difference one run sees and the next does not. It never becomes a deposit or withdrawal."""
    async with live_rig(engine, sessions, sim, limits=LIMITS) as rig:
        before = rig.runtime.summary()
        await _admin(sim, "balances", {"address": _wallet(rig), "withdraw": "300"})
        await rig.runtime.reconcile("test")
        await _admin(sim, "balances", {"address": _wallet(rig), "deposit": "300"})
        await rig.runtime.reconcile("test")
        await rig.runtime.reconcile("test")

        assert await _flows(sessions, rig) == []
        assert rig.runtime.summary().equity == before.equity
        seen = await _events(rig, "cash_difference_seen")
        assert [D(e["amount"]) for e in seen] == [D(-300)]


def _drain(subscription):  # type: ignore[no-untyped-def]
    out = []
    while (envelope := subscription.get_nowait()) is not None:
        out.append(envelope.payload)
    return out

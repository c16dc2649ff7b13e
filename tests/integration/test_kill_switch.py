"""Kill with flatten against the CLOB simulator, through the live adapter (the real SDK)."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from polysim.clob.app import SimServer
from tests.support.execution_rig import (
    live_rig,
    sim,
    sim_intent,
    sim_market,
)
from tests.support.waiting import eventually
from trader.control.types import Outcome
from trader.domain import Actor, OrderStatus, Side, TradingState

__all__ = ["sim"]  # fixtures used by name below

D = Decimal
OPERATOR = Actor("telegram", "42", "ops")


async def test_kill_with_flatten_cancels_everything_sells_within_the_cap_and_survives_restart(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], sim: SimServer
) -> None:
    async with live_rig(engine, sessions, sim) as rig:
        market = sim_market(rig)
        token = market.tokens[0].token_id
        bought = await rig.runtime.handle(sim_intent(market, "0.62", "20"))
        resting = await rig.runtime.handle(sim_intent(market, "0.55", "10"))
        assert bought.outcome is Outcome.PLACED
        assert resting.status is OrderStatus.LIVE
        await eventually(lambda: rig.runtime.position(token) is not None)

        preview = await rig.runtime.kill_switch.preview(D("0.05"))
        (exit_,) = preview.exits
        assert preview.open_orders == 1
        assert exit_.best_bid == D("0.59")
        assert exit_.floor_price == D("0.57")  # 0.59 * 0.95 = 0.5605, rounded up to the tick
        assert (exit_.sellable, exit_.estimated_proceeds) == (D(20), D("11.80"))

        report = await rig.runtime.kill_switch.kill(OPERATOR, flatten=True, slippage=D("0.05"))

        assert report.state is TradingState.KILLED
        assert report.canceled >= 1
        assert report.open_orders_left == 0
        assert list(await rig.venue.open_orders()) == []
        (sold,) = report.exits
        assert sold.sold == D(20)
        await eventually(lambda: rig.runtime.position(token) is None)
        sells = [
            f for f in await rig.venue.trades(market=market.condition_id) if f.side is Side.SELL
        ]
        assert sum(f.size for f in sells) == D(20)
        assert all(f.price >= D("0.57") for f in sells)
        assert await rig.venue.positions() == [] or all(
            p.size == 0 for p in await rig.venue.positions()
        )
        denied = await rig.runtime.handle(sim_intent(market, "0.62", "10"))
        assert (denied.outcome, denied.rule) == (Outcome.DENIED, "killed")

    # A restart: new objects on the same database.
    async with live_rig(engine, sessions, sim) as again:
        assert again.trading.state is TradingState.KILLED
        market = sim_market(again)
        denied = await again.runtime.handle(sim_intent(market, "0.62", "10"))
        assert denied.rule == "killed"

        assert (await again.runtime.kill_switch.rearm(OPERATOR)).after is TradingState.RUNNING
        placed = await again.runtime.handle(sim_intent(market, "0.62", "10"))

        assert placed.outcome is Outcome.PLACED
        assert again.trading.state is TradingState.RUNNING


async def test_kill_without_flatten_keeps_positions_and_alerts_once(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], sim: SimServer
) -> None:
    async with live_rig(engine, sessions, sim) as rig:
        alerts = rig.bus.alerts.subscribe()
        market = sim_market(rig)
        token = market.tokens[0].token_id
        await rig.runtime.handle(sim_intent(market, "0.62", "10"))
        await rig.runtime.handle(sim_intent(market, "0.50", "10"))
        await eventually(lambda: rig.runtime.position(token) is not None)

        report = await rig.runtime.kill_switch.kill(OPERATOR, flatten=False)

        assert (report.canceled, report.open_orders_left, report.exits) == (1, 0, ())
        position = rig.runtime.position(token)
        assert position is not None
        assert position.size == D(10)
        kinds = []
        while (envelope := alerts.get_nowait()) is not None:
            kinds.append(envelope.payload.kind)
        assert kinds == ["kill"]
        alerts.close()

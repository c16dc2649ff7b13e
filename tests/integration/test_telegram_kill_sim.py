"""The Telegram kill flow with flatten, against the CLOB simulator: the real aiogram client
on the fake Bot API, the real execution core over the live adapter (the real SDK)."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from polysim.clob.app import SimServer
from tests.support.chat_stack import ask, start_chat, tap
from tests.support.execution_rig import live_rig, sim, sim_intent, sim_market
from tests.support.telegram_server import OPERATOR_ID, FakeBotAPI
from tests.support.waiting import eventually
from trader.domain import Side, TradingMode, TradingState

__all__ = ["sim"]  # fixtures used by name below


async def test_kill_with_flatten_from_telegram_leaves_nothing_open_on_the_simulator(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], sim: SimServer
) -> None:
    async with FakeBotAPI() as api, live_rig(engine, sessions, sim) as rig:
        market = sim_market(rig)
        token = market.tokens[0].token_id
        await rig.runtime.handle(sim_intent(market, "0.62", "20"))
        await rig.runtime.handle(sim_intent(market, "0.55", "10"))  # rests below the book
        await eventually(lambda: rig.runtime.position(token) is not None)
        control = rig.control(TradingMode.LIVE)
        chat = await start_chat(api, control, rig.clock)
        try:
            prompt = await ask(api, OPERATOR_ID, "/kill")
            await tap(api, OPERATOR_ID, prompt, "flatten")
            await eventually(lambda: prompt.plain.startswith("⚠️ Flatten preview"))
            assert "floor 0.57" in prompt.plain  # best bid 0.59 less the 5% slippage cap
            await tap(api, OPERATOR_ID, prompt, "Confirm")
            await eventually(lambda: prompt.plain.startswith("🛑 Trading KILLED"), timeout=20)
        finally:
            await chat.stop()

        assert rig.trading.state is TradingState.KILLED
        assert list(await rig.venue.open_orders()) == []
        sells = [
            f for f in await rig.venue.trades(market=market.condition_id) if f.side is Side.SELL
        ]
        assert sum(f.size for f in sells) == Decimal(20)
        assert all(f.price >= Decimal("0.57") for f in sells)
        await eventually(lambda: rig.runtime.position(token) is None)

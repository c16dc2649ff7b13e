"""Telegram over the real execution core: the paper venue, the real database and event log,
the real Control API, kill with flatten and an approval, all tapped through the real aiogram
client against the fake Bot API server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tests.fakes.chat_stack import Chat, ask, start_chat, tap
from tests.fakes.telegram_server import OPERATOR_ID, FakeBotAPI
from tests.helpers import eventually
from tests.integration.test_execution_rig import YES, Rig, buy, paper_rig
from trader.control import ControlAPI, Outcome
from trader.domain import TradingMode, TradingState


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI() as server:
        yield server


@pytest.fixture
async def rig(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> AsyncIterator[Rig]:
    async with paper_rig(engine, sessions) as paper:
        yield paper


@pytest.fixture
async def chat(api: FakeBotAPI, rig: Rig) -> AsyncIterator[Chat]:
    control = ControlAPI(
        state=rig.state,
        events=rig.events,
        event_reader=rig.events,
        clock=rig.clock,
        mode=TradingMode.PAPER,
        desk=rig.runtime.desk,
    )
    started = await start_chat(api, control, rig.clock)
    try:
        yield started
    finally:
        await started.stop()


async def test_kill_with_flatten_over_the_real_execution_core(
    chat: Chat, api: FakeBotAPI, rig: Rig
) -> None:
    await rig.engine.handle(buy())
    positions = await ask(api, OPERATOR_ID, "/positions")
    assert "Will it rain tomorrow? — Yes" in positions.plain

    prompt = await ask(api, OPERATOR_ID, "/kill")
    await tap(api, OPERATOR_ID, prompt, "flatten")
    await eventually(lambda: prompt.plain.startswith("⚠️ Flatten preview"))
    assert "floor 0.46" in prompt.plain
    assert rig.engine.portfolio.position(YES) is not None
    await tap(api, OPERATOR_ID, prompt, "Confirm")

    await eventually(lambda: prompt.plain.startswith("🛑 Trading KILLED"))
    assert rig.engine.portfolio.position(YES) is None
    assert rig.state.trading.state is TradingState.KILLED
    await eventually(lambda: any("Acknowledge" in str(m.buttons) for m in api.to(OPERATOR_ID)))


async def test_an_approval_over_the_real_execution_core(
    chat: Chat, api: FakeBotAPI, rig: Rig
) -> None:
    turned_on = await ask(api, OPERATOR_ID, "/approve on")
    assert "off → on" in turned_on.plain
    before = len(api.to(OPERATOR_ID))

    waiting = await rig.engine.handle(buy(size="10"))

    assert waiting.outcome is Outcome.AWAITING_APPROVAL
    await eventually(lambda: len(api.to(OPERATOR_ID)) > before)
    card = next(m for m in api.to(OPERATOR_ID)[before:] if m.plain.startswith("🗳"))
    assert "BUY 10 @ 0.53" in card.plain
    await tap(api, OPERATOR_ID, card, "half")
    await eventually(lambda: card.plain.startswith("✅ Approved by"))
    assert "5 shares, filled 5" in card.plain
    assert rig.engine.portfolio.position(YES).size == Decimal(5)

"""Telegram over the real execution core: the paper venue, the real database and event log,
the real Control API, kill with flatten and an approval, all tapped through the real aiogram
client against the fake Bot API server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.render.common import RenderContext
from tests.support.chat_stack import ask, tap
from tests.support.execution_rig import CONDITION, YES, Rig, buy, paper_chat
from tests.support.telegram_server import OPERATOR_ID, FakeBotAPI
from tests.support.waiting import eventually
from trader.control.api import Outcome
from trader.domain import TradingState
from trader.execution.approvals import ApprovalQueue
from trader.execution.market_data import MarketBoard
from trader.store.repositories import ApprovalRepository


@pytest.fixture
async def rig(
    api: FakeBotAPI, engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> AsyncIterator[Rig]:
    async with paper_chat(api, engine, sessions) as paper:
        yield paper


async def test_kill_with_flatten_over_the_real_execution_core(api: FakeBotAPI, rig: Rig) -> None:
    await rig.runtime.handle(buy())
    positions = await ask(api, OPERATOR_ID, "/positions")
    assert "Will it rain tomorrow? — Yes" in positions.plain
    # 20 bought at 0.52 into a book bidding 0.48: valued at the bid, the mid shown beside it
    assert "20 @ 0.52 · mid 0.5 · value $9.60 · unrealized -$0.80" in positions.plain

    prompt = await ask(api, OPERATOR_ID, "/kill")
    await tap(api, OPERATOR_ID, prompt, "flatten")
    await eventually(lambda: prompt.plain.startswith("⚠️ Flatten preview"))
    assert "floor 0.46" in prompt.plain
    assert rig.runtime.position(YES) is not None
    await tap(api, OPERATOR_ID, prompt, "Confirm")

    await eventually(lambda: prompt.plain.startswith("🛑 Trading KILLED"))
    assert rig.runtime.position(YES) is None
    assert rig.trading.state is TradingState.KILLED
    await eventually(lambda: any("Acknowledge" in str(m.buttons) for m in api.to(OPERATOR_ID)))


async def test_an_approval_over_the_real_execution_core(api: FakeBotAPI, rig: Rig) -> None:
    turned_on = await ask(api, OPERATOR_ID, "/approve on")
    assert "off → on" in turned_on.plain
    before = len(api.to(OPERATOR_ID))

    waiting = await rig.runtime.handle(buy(size="10", market_probability=Decimal("0.51")))

    assert waiting.outcome is Outcome.AWAITING_APPROVAL
    await eventually(lambda: len(api.to(OPERATOR_ID)) > before)
    card = next(m for m in api.to(OPERATOR_ID)[before:] if m.plain.startswith("🗳"))
    assert "BUY 10 @ 0.53" in card.plain
    assert "Model 65.0% vs market 51.0% · edge +12.0 pts at this price" in card.plain
    market = rig.runtime.board.market(CONDITION)
    assert market is not None
    assert market.end_date is not None
    utc = RenderContext(ZoneInfo("UTC"))  # the stack's notifier has no OPERATOR_TZ: UTC
    assert f"Resolves {utc.local(market.end_date)}" in card.plain
    assert "Sources: none recorded" in card.plain  # OrderIntent carries no sources yet
    await tap(api, OPERATOR_ID, card, "half")
    await eventually(lambda: card.plain.startswith("✅ Approved by"))
    assert "5 shares, filled 5" in card.plain
    assert rig.runtime.position(YES).size == Decimal(5)


async def test_an_approval_keeps_its_question_and_resolution_date_across_a_restart(
    api: FakeBotAPI, rig: Rig, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await ask(api, OPERATOR_ID, "/approve on")
    waiting = await rig.runtime.handle(buy(size="10", market_probability=Decimal("0.51")))
    market = rig.runtime.board.market(CONDITION)
    assert market is not None
    assert waiting.approval_key is not None

    # After a restart the board is empty until the markets are fetched again.
    empty = MarketBoard(rig.venue, rig.clock)
    restarted = ApprovalQueue(
        repository=ApprovalRepository(sessions, rig.clock),
        engine=SimpleNamespace(board=empty),  # type: ignore[arg-type]  # only .board is read
        bus=rig.bus,
        events=rig.events,
        clock=rig.clock,
        timeout_s=600,
    )
    (request,) = await restarted.pending()

    assert request.key == waiting.approval_key
    assert request.question == market.question
    assert request.end_date == market.end_date
    assert request.market_probability == Decimal("0.51")
    assert request.sources == ()

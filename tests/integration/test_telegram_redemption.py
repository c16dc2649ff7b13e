"""`/redeem` and `/merge` over Telegram (the real aiogram client against the fake Bot API), the
real Control API and execution core on the paper venue: a viewer sees what is redeemable, only
an operator redeems, after a confirmation that says what it pays; cash rises by the payout."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tests.support.chat_stack import ask, tap
from tests.support.execution_rig import CONDITION, NO, YES, Rig, buy, paper_chat
from tests.support.telegram_server import OPERATOR_ID, VIEWER_ID, FakeBotAPI
from tests.support.waiting import eventually

D = Decimal


@pytest.fixture
async def rig(
    api: FakeBotAPI, engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> AsyncIterator[Rig]:
    async with paper_chat(api, engine, sessions) as paper:
        yield paper


async def test_redeem_lists_for_a_viewer_and_redeems_for_an_operator_once_confirmed(
    api: FakeBotAPI, rig: Rig
) -> None:
    await rig.runtime.handle(buy())  # 20 YES at 0.52
    assert rig.data is not None
    rig.data.resolve(CONDITION, {YES: D(1), NO: D(0)})
    await rig.runtime.reconcile("test")
    cash = rig.runtime.summary().cash

    listed = await ask(api, VIEWER_ID, "/redeem")
    refused = await ask(api, VIEWER_ID, "/redeem 1")
    prompt = await ask(api, OPERATOR_ID, "/redeem 1")
    asked = prompt.plain  # the message is edited once the redemption confirms
    await tap(api, OPERATOR_ID, prompt, "Redeem for")

    assert "1. Will it rain tomorrow?: 20 Yes pay $20.00" in listed.plain
    assert "operator" in refused.plain
    assert "20 Yes pay $20.00" in asked
    await eventually(lambda: prompt.plain.startswith("Redemption confirmed"))
    assert rig.runtime.summary().cash == cash + D(20)
    after = await ask(api, VIEWER_ID, "/redeem")
    assert "Nothing to redeem" in after.plain
    assert "$20.00, confirmed" in after.plain


async def test_merge_shows_merged_against_sold_and_merges_once_confirmed(
    api: FakeBotAPI, rig: Rig
) -> None:
    await rig.runtime.handle(buy())  # 20 YES at 0.52
    await rig.runtime.handle(buy(price="0.51", size="10", token_id=NO, model="0.7"))
    cash = rig.runtime.summary().cash

    listed = await ask(api, VIEWER_ID, "/merge")
    too_many = await ask(api, OPERATOR_ID, "/merge 1 11")
    prompt = await ask(api, OPERATOR_ID, "/merge 1 4")
    await tap(api, OPERATOR_ID, prompt, "Merge for")

    assert "10 pairs merge into $10.00, sold at the bids $9.50 (merging pays more)" in listed.plain
    assert "At most 10 pairs" in too_many.plain
    await eventually(lambda: prompt.plain.startswith("Merge confirmed"))
    assert rig.runtime.summary().cash == cash + D(4)
    no = rig.runtime.position(NO)
    assert no is not None
    assert no.size == D(6)

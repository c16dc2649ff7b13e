"""One approval per market: a new request for a market with one pending supersedes it.

In the execution core only one request per market is ever pending (the old row is marked
superseded, and approving it does nothing); through the real aiogram client against the fake
Bot API the first card is edited to say so, and its stale Approve button does nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tests.support.chat_stack import Chat, ask, chat_over, tap_data
from tests.support.execution_rig import NO, YES, Rig, buy, paper_rig
from tests.support.telegram_server import OPERATOR_ID, FakeBotAPI, Sent
from tests.support.waiting import eventually
from trader.control.api import Outcome
from trader.domain import SYSTEM_ACTOR
from trader.execution.approvals import group_of
from trader.store.repositories import ApprovalRepository

D = Decimal
Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture
async def rig(engine: AsyncEngine, sessions: Sessions) -> AsyncIterator[Rig]:
    async with paper_rig(engine, sessions) as paper:
        await paper.state.set_approval_mode(True, "test")
        yield paper


async def test_a_second_request_for_a_market_supersedes_the_pending_one(
    rig: Rig, sessions: Sessions
) -> None:
    first = await rig.runtime.handle(buy(size="10", market_probability=D("0.51")))
    second = await rig.runtime.handle(buy(size="12", market_probability=D("0.51")))

    assert first.outcome is Outcome.AWAITING_APPROVAL
    assert second.outcome is Outcome.AWAITING_APPROVAL
    desk = rig.runtime.desk
    assert [r.key for r in await desk.pending_approvals()] == [second.approval_key]
    row = await ApprovalRepository(sessions, rig.clock).get(str(first.approval_key))
    assert row is not None
    assert (row.status, row.decided_by) == ("superseded", second.approval_key)
    decision = await desk.approve(SYSTEM_ACTOR, str(first.approval_key), None)
    assert (decision.acted, decision.status) == (False, "superseded")
    assert rig.runtime.position(YES) is None  # nothing was traded
    await rig.events.flush()
    superseded = [e for e in await rig.events.recent(50) if e.type == "approval_superseded"]
    assert [e.payload for e in superseded] == [
        {"key": first.approval_key, "by": second.approval_key}
    ]


async def test_the_legs_of_one_group_do_not_supersede_each_other(rig: Rig) -> None:
    yes_leg = buy(size="10", correlation_id="g1-1", market_probability=D("0.51"))
    no_leg = buy(
        price="0.51", size="10", token_id=NO, correlation_id="g1-2", market_probability=D("0.4")
    )

    await rig.runtime.handle(yes_leg)
    await rig.runtime.handle(no_leg)

    pending = await rig.runtime.desk.pending_approvals()
    assert sorted(r.token_id for r in pending) == [NO, YES]
    assert group_of("g1-2") == group_of("g1-1") == "g1"
    assert group_of("0f3a9c") == "0f3a9c"


@pytest.fixture
async def chat(api: FakeBotAPI, rig: Rig) -> AsyncIterator[Chat]:
    async with chat_over(api, rig.control(), rig.clock) as started:
        yield started


async def test_the_first_card_is_edited_to_superseded_and_its_approve_does_nothing(
    chat: Chat, api: FakeBotAPI, rig: Rig
) -> None:
    await ask(api, OPERATOR_ID, "/status")  # the chat is up
    before = len(api.to(OPERATOR_ID))
    await rig.runtime.handle(buy(size="10", market_probability=D("0.51")))
    await eventually(lambda: any(m.plain.startswith("🗳") for m in api.to(OPERATOR_ID)[before:]))
    first = next(m for m in api.to(OPERATOR_ID)[before:] if m.plain.startswith("🗳"))
    stale_approve = next(data for label, data in first.buttons if "Approve" in label)

    await rig.runtime.handle(buy(size="12", market_probability=D("0.51")))

    await eventually(lambda: first.plain.startswith("↪️ Superseded"))
    assert first.buttons == []

    def cards() -> list[Sent]:
        return [m for m in api.to(OPERATOR_ID)[before:] if m.plain.startswith("🗳")]

    await eventually(lambda: len(cards()) == 1)  # only the new request asks for a decision
    assert cards()[0] is not first
    assert "BUY 12 @ 0.53" in cards()[0].plain
    answer = await tap_data(api, OPERATOR_ID, first, stale_approve)
    assert "superseded" in str(answer.get("text", ""))
    assert first.plain.startswith("↪️ Superseded")
    assert rig.runtime.position(YES) is None

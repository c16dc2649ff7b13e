"""The kill switch, re-arm and approvals over WhatsApp: reply buttons whose ids carry the
core's bound, expiring confirmation tokens; list messages for longer choices; approval cards
held while a number is outside its 24-hour window."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from tests.support.chat_stack import FakeDesk, position
from tests.support.graph_server import (
    OPERATOR,
    VIEWER,
    FakeGraphAPI,
    Sent,
    WhatsAppStack,
    api,
    button_reply,
    inbound,
    whatsapp_stack,
)
from tests.support.waiting import eventually
from trader.domain import TradingState

__all__ = ["api"]  # fixtures used by name below

SECOND_OPERATOR = "447700900009"
KEY = "ap-0123456789ab"


@pytest.fixture
async def stack(api: FakeGraphAPI) -> AsyncIterator[WhatsAppStack]:
    async with whatsapp_stack(api, operators=(OPERATOR, SECOND_OPERATOR)) as chat:
        assert chat.desk is not None
        chat.desk.positions_ = [position("Will it rain in Paris on 1 May?", "100", "0.40", "0.45")]
        yield chat


def desk(stack: WhatsAppStack) -> FakeDesk:
    assert stack.desk is not None
    return stack.desk


def kills(stack: WhatsAppStack) -> list[tuple[str, str, object]]:
    return [call for call in desk(stack).calls if call[0] == "kill"]


async def test_kill_offers_three_short_buttons_then_flattens_after_a_second_confirmation(
    stack: WhatsAppStack,
) -> None:
    (prompt,) = await stack.say(OPERATOR, "kill")
    (preview,) = await stack.tap(OPERATOR, prompt, "Flatten")
    (done,) = await stack.tap(OPERATOR, preview, "Confirm")

    assert prompt.kind == "button"
    assert [title for _, title in prompt.choices] == [
        "🛑 Cancel & halt",
        "🔻 Flatten & halt",
        "Abort",
    ]
    assert all(choice_id.startswith("confirm ") for choice_id, _ in prompt.choices)
    assert [title for _, title in preview.choices] == ["🔻 Confirm flatten", "Abort"]
    assert preview.context is not None  # the answer to a tap quotes the tapped message
    assert done.text.startswith("*🛑 Trading KILLED*")
    assert kills(stack) == [
        ("kill", f"whatsapp:{OPERATOR}", {"flatten": True, "slippage": Decimal("0.05")})
    ]
    assert stack.trading.state is TradingState.KILLED


async def test_a_replayed_or_foreign_confirmation_does_nothing(stack: WhatsAppStack) -> None:
    (prompt,) = await stack.say(OPERATOR, "kill")
    cancel_id = next(i for i, t in prompt.choices if "Cancel" in t)

    (foreign,) = await stack.say(SECOND_OPERATOR, cancel_id)  # another operator types it
    (done,) = await stack.tap(OPERATOR, prompt, "Cancel")
    (again,) = await stack.tap(OPERATOR, prompt, "Cancel")  # a second tap, a new message id

    assert foreign.text == "*Only the person who asked can confirm this.*"
    assert done.text.startswith("*🛑 Trading KILLED*")
    assert again.text == "*This confirmation is no longer valid (already used or unknown).*"
    assert kills(stack) == [("kill", f"whatsapp:{OPERATOR}", {"flatten": False, "slippage": None})]


async def test_kill_abort_and_an_expired_confirmation_do_nothing(stack: WhatsAppStack) -> None:
    (first,) = await stack.say(OPERATOR, "kill")
    (aborted,) = await stack.tap(OPERATOR, first, "Abort")
    (second,) = await stack.say(OPERATOR, "kill")
    stack.clock.advance(3 * 60)
    (late,) = await stack.tap(OPERATOR, second, "Cancel")

    assert aborted.text == "*Cancelled: nothing was done.*"
    assert late.text == "*This confirmation has expired; send the command again.*"
    assert kills(stack) == []


async def test_a_viewer_cannot_press_an_operators_button(stack: WhatsAppStack) -> None:
    (prompt,) = await stack.say(OPERATOR, "kill")
    cancel_id = next(i for i, t in prompt.choices if "Cancel" in t)
    before = len(stack.api.to(VIEWER))

    await stack.deliver(
        inbound(VIEWER, button_reply(cancel_id, "🛑 Cancel & halt"), stack.clock.now())
    )

    (refused,) = stack.api.to(VIEWER)[before:]
    assert "needs the operator role" in refused.text
    assert kills(stack) == []


async def test_rearm_after_a_kill_confirms_first(stack: WhatsAppStack) -> None:
    (prompt,) = await stack.say(OPERATOR, "kill")
    await stack.tap(OPERATOR, prompt, "Cancel")

    (ask,) = await stack.say(OPERATOR, "rearm")
    (done,) = await stack.tap(OPERATOR, ask, "Re-arm")

    assert [title for _, title in ask.choices] == ["✅ Re-arm", "Abort"]
    assert done.text.startswith("*Re-armed: trading RUNNING.*")
    assert stack.trading.state is TradingState.RUNNING


async def test_a_risk_limit_button_gets_a_short_title(stack: WhatsAppStack) -> None:
    (ask,) = await stack.say(OPERATOR, "set max_order_notional 75")
    (done,) = await stack.tap(OPERATOR, ask, "Confirm")

    assert "50 → 75" in ask.text
    assert [title for _, title in ask.choices] == ["✅ Confirm change", "Abort"]
    assert done.text == "Set max_order_notional: 50 → 75"  # "_" in it: no bold
    assert stack.state.risk_limits.max_order_notional == Decimal(75)


# approvals ------------------------------------------------------------------------------


async def approval_card(stack: WhatsAppStack, number: str = OPERATOR, **kwargs: object) -> Sent:
    before = len(stack.api.to(number))
    desk(stack).request_approval("Will it rain in Paris on 1 May?", **kwargs)  # type: ignore[arg-type]
    await eventually(lambda: len(stack.api.to(number)) > before)
    await stack.transport.idle()
    return stack.api.to(number)[-1]


async def test_an_approval_card_has_three_buttons_and_acts_once(stack: WhatsAppStack) -> None:
    await stack.say(OPERATOR, "status")  # opens the 24-hour window
    card = await approval_card(stack)

    answers = await stack.tap(OPERATOR, card, "✅ Approve")
    replay = await stack.tap(OPERATOR, card, "✅ Approve")

    assert card.kind == "button"
    assert card.text.startswith("*🗳 Approve this trade?*")
    assert [title for _, title in card.choices] == ["✅ Approve", "½ Approve half", "❌ Reject"]
    assert [choice_id for choice_id, _ in card.choices] == [
        f"decide {KEY} approve",
        f"decide {KEY} half",
        f"decide {KEY} reject",
    ]
    assert [m.text.split("\n")[0] for m in answers] == ["*✅ Approved by Pat: order placed*"]
    assert answers[0].context == card.id
    assert [m.text for m in replay] == ["*Nothing done: already approved.*"]
    approvals = [call for call in desk(stack).calls if call[0] == "approve"]
    assert approvals == [("approve", f"whatsapp:{OPERATOR}", {"key": KEY, "size": None})]
    assert stack.api.to(VIEWER) == []  # approval requests go to operators only


async def test_the_other_operator_hears_the_decision(stack: WhatsAppStack) -> None:
    await stack.say(OPERATOR, "status")
    await stack.say(SECOND_OPERATOR, "status")
    card = await approval_card(stack)
    other_before = len(stack.api.to(SECOND_OPERATOR))

    await stack.tap(OPERATOR, card, "Reject")

    (told,) = stack.api.to(SECOND_OPERATOR)[other_before:]
    assert told.text.startswith("*❌ Rejected by Pat*")
    their_card = stack.api.to(SECOND_OPERATOR)[other_before - 1]
    assert their_card.text.startswith("*🗳 Approve this trade?*")
    assert told.context == their_card.id  # a reply to the copy that operator received


async def test_outside_the_window_the_card_is_a_template_and_follows_when_they_write(
    stack: WhatsAppStack,
) -> None:
    template = await approval_card(stack)

    answers = await stack.say(OPERATOR, "pending")
    card = next(m for m in answers if m.text.startswith("*🗳 Approve this trade?*"))
    (decided,) = await stack.tap(OPERATOR, card, "half")

    assert template.kind == "template"
    assert template.text.startswith("🗳 Approve this trade? · Will it rain in Paris")
    assert template.text.endswith("Reply to this message to get the full version.")
    assert "\n" not in template.text
    assert [m.kind for m in answers] == ["button", "button"]  # the held card, then /pending
    assert decided.text.startswith("*✅ Approved by Pat: order placed*")
    approvals = [call for call in desk(stack).calls if call[0] == "approve"]
    assert approvals == [("approve", f"whatsapp:{OPERATOR}", {"key": KEY, "size": Decimal(50)})]


async def test_pending_lists_more_than_three_choices_in_a_list_message(
    stack: WhatsAppStack,
) -> None:
    await stack.say(OPERATOR, "status")
    await approval_card(stack)
    await approval_card(stack, key="ap-ffffffffffff")

    (listed,) = await stack.say(OPERATOR, "pending")
    (rejected,) = await stack.tap(OPERATOR, listed, "❌ 2")

    assert listed.kind == "list"
    assert [title for _, title in listed.choices] == ["✅ 1", "½ 1", "❌ 1", "✅ 2", "½ 2", "❌ 2"]
    rows = listed.payload["interactive"]["action"]["sections"][0]["rows"]
    assert rows[1]["description"] == "Approve at half the size"
    assert rejected.text.startswith("*❌ Rejected by Pat*")
    assert [c for c in desk(stack).calls if c[0] == "reject"] == [
        ("reject", f"whatsapp:{OPERATOR}", {"key": "ap-ffffffffffff"})
    ]


async def test_an_expired_card_is_followed_by_the_news_and_cannot_be_approved(
    stack: WhatsAppStack,
) -> None:
    await stack.say(OPERATOR, "status")
    card = await approval_card(stack)

    stack.clock.advance(11 * 60)
    await stack.notifier.tick()
    await stack.transport.idle()
    expired = stack.api.to(OPERATOR)[-1]
    (late,) = await stack.tap(OPERATOR, card, "✅ Approve")

    assert expired.text.startswith("*⌛ Expired: not traded*")
    assert expired.context == card.id
    assert expired.kind == "text"  # no buttons on the news
    assert late.text == "*Nothing done: the request has expired.*"
    assert [call for call in desk(stack).calls if call[0] == "approve"] == []

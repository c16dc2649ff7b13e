"""Approvals over Telegram with the real aiogram client: the request card, approve, approve
half, reject, expiry, a double tap, a vanished edge, a restart while pending, forged taps."""

from __future__ import annotations

from decimal import Decimal

from bot.access import REFUSAL
from tests.support.chat_stack import ChatStack, ask, start_chat_stack, tap, tap_data
from tests.support.telegram_fixtures import stack
from tests.support.telegram_server import OPERATOR_ID, STRANGER_ID, VIEWER_ID, FakeBotAPI, Sent
from tests.support.waiting import eventually

__all__ = ["stack"]  # fixtures used by name below

KEY = "ap-0123456789ab"
TITLE = "Will <Trump> & <Harris> debate before 1 May?"


async def request_card(stack: ChatStack, api: FakeBotAPI, **kwargs: object) -> Sent:
    assert stack.desk is not None
    before = len(api.to(OPERATOR_ID))
    stack.desk.request_approval(TITLE, **kwargs)  # type: ignore[arg-type]
    await eventually(lambda: len(api.to(OPERATOR_ID)) > before)
    return api.to(OPERATOR_ID)[-1]


def approvals(stack: ChatStack) -> list[tuple[str, str, object]]:
    assert stack.desk is not None
    return [call for call in stack.desk.calls if call[0] in ("approve", "reject")]


async def test_the_request_card_shows_what_the_operator_needs(
    stack: ChatStack, api: FakeBotAPI
) -> None:
    card = await request_card(stack, api)

    text = card.plain
    assert text.startswith("🗳 Approve this trade?")
    assert f"{TITLE} — Yes" in text
    assert "BUY 100 @ 0.41 = $41.00" in text
    assert "Worst case: lose $41.00" in text
    assert "Model 55.0% vs market 43.0% · edge +14.0 pts at this price" in text
    assert "Why: Forecasts agree on rain" in text
    assert "Sources: Météo-France bulletin; https://news.example/rain?a=1&b=<2>" in text
    assert "Resolves 2026-01-07 03:00 UTC (in 6d)" in text
    assert card.parse_mode == "HTML"  # the sources' < and & were escaped, not dropped
    assert "expires" in text
    labels = [label for label, _ in card.buttons]
    assert labels == ["✅ Approve", "½ Approve half", "❌ Reject", "❓ Why"]
    assert card.buttons[-1][1].startswith("cm:why:")  # opens /why for the request's chain
    assert api.to(VIEWER_ID) == []  # approval requests go to operators only


async def test_the_card_says_plainly_what_the_request_does_not_know(
    stack: ChatStack, api: FakeBotAPI
) -> None:
    card = await request_card(
        stack, api, market_probability=None, sources=(), resolves_in=None, key="ap-bare"
    )

    assert "Model 55.0% vs market n/a (price 0.41)" in card.plain
    assert "Sources: none recorded" in card.plain
    assert "Resolves: date unknown" in card.plain


async def test_approve_acts_once_even_on_a_double_tap(stack: ChatStack, api: FakeBotAPI) -> None:
    card = await request_card(stack, api)
    data = next(d for label, d in card.buttons if label == "✅ Approve")

    first = api.press(OPERATOR_ID, card, data)
    second = api.press(OPERATOR_ID, card, data)
    await eventually(lambda: None not in (api.answer_for(first), api.answer_for(second)))
    await eventually(lambda: card.plain.startswith("✅ Approved by"))

    assert approvals(stack) == [("approve", f"telegram:{OPERATOR_ID}", {"key": KEY, "size": None})]
    texts = [api.answer_for(q).get("text", "") for q in (first, second)]  # type: ignore[union-attr]
    assert sum("Nothing done" in t or "Already being handled" in t for t in texts) == 1
    assert card.buttons == []


async def test_approve_half_and_reject(stack: ChatStack, api: FakeBotAPI) -> None:
    half = await request_card(stack, api)
    await tap(api, OPERATOR_ID, half, "half")
    await eventually(lambda: half.plain.startswith("✅ Approved by"))
    rejected = await request_card(stack, api, key="ap-ffffffffffff")
    await tap(api, OPERATOR_ID, rejected, "Reject")
    await eventually(lambda: rejected.plain.startswith("❌ Rejected by"))

    assert approvals(stack) == [
        ("approve", f"telegram:{OPERATOR_ID}", {"key": KEY, "size": Decimal(50)}),
        ("reject", f"telegram:{OPERATOR_ID}", {"key": "ap-ffffffffffff"}),
    ]


async def test_an_expired_request_is_edited_and_cannot_be_approved(
    stack: ChatStack, api: FakeBotAPI
) -> None:
    card = await request_card(stack, api)
    approve = next(d for label, d in card.buttons if label == "✅ Approve")

    stack.clock.advance(11 * 60)
    await stack.notifier.tick()
    await eventually(lambda: card.plain.startswith("⌛ Expired: not traded"))
    late = await tap_data(api, OPERATOR_ID, card, approve)

    assert card.buttons == []
    assert "expired" in late["text"]
    assert approvals(stack) == []


async def test_a_vanished_edge_is_refused_with_the_new_numbers(
    stack: ChatStack, api: FakeBotAPI
) -> None:
    assert stack.desk is not None
    stack.desk.edge_gone.add(KEY)
    card = await request_card(stack, api)

    await tap(api, OPERATOR_ID, card, "✅ Approve")

    await eventually(lambda: "not traded: denied (min_edge)" in card.plain)
    assert "price now 0.56" in card.plain


async def test_viewers_and_strangers_cannot_decide(stack: ChatStack, api: FakeBotAPI) -> None:
    card = await request_card(stack, api)

    stranger = await tap(api, STRANGER_ID, card, "✅ Approve")
    forged = await tap_data(api, STRANGER_ID, None, f"ap:{KEY}:approve")
    viewer = await tap(api, VIEWER_ID, card, "✅ Approve")

    assert stranger["text"] == forged["text"] == REFUSAL.title
    assert "operator" in viewer["text"]
    assert approvals(stack) == []
    assert card.buttons != []


async def test_a_pending_request_survives_a_restart_and_stays_answerable(
    stack: ChatStack, api: FakeBotAPI
) -> None:
    card = await request_card(stack, api)
    await stack.stop()

    restarted = await start_chat_stack(api, store=stack.store, desk=stack.desk, clock=stack.clock)
    try:
        await eventually(lambda: len(api.to(OPERATOR_ID)) == 2)
        again = api.to(OPERATOR_ID)[1]
        assert "still pending after a restart" in again.plain
        await tap(api, OPERATOR_ID, card, "✅ Approve")  # the old message's button
        await eventually(lambda: card.plain.startswith("✅ Approved by"))
        await eventually(lambda: again.plain.startswith("✅ Approved by"))
        assert approvals(restarted) == [
            ("approve", f"telegram:{OPERATOR_ID}", {"key": KEY, "size": None})
        ]
    finally:
        await restarted.stop()


async def test_approval_mode_and_pending_list(stack: ChatStack, api: FakeBotAPI) -> None:
    viewer_on = await ask(api, VIEWER_ID, "/approve on")
    viewer_read = await ask(api, VIEWER_ID, "/approve")
    turned_on = await ask(api, OPERATOR_ID, "/approve on")
    await request_card(stack, api)
    listed = await ask(api, VIEWER_ID, "/pending")

    assert "needs the operator role" in viewer_on.plain
    assert viewer_read.plain.startswith("Approval mode is off.")
    assert turned_on.plain.startswith("Approval mode off → on.")
    assert stack.state.approval_mode is True
    assert listed.plain.startswith("1 trade(s) waiting for approval")
    assert TITLE in listed.plain

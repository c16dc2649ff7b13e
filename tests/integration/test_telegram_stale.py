"""Stale chat commands over Telegram: what was typed during an outage and waits in
getUpdates is not acted on at start-up if it changes something; reads are answered.
The real aiogram client against the fake Bot API; the chat's clock is a FakeClock."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.telegram.callbacks import pack
from tests.support.chat_stack import ChatStack, Sent, start_chat_stack, tap, tap_data
from tests.support.telegram_server import OPERATOR_ID, FakeBotAPI
from tests.support.waiting import eventually
from trader.clock import FakeClock
from trader.domain import TradingState

SIX_HOURS = timedelta(hours=6)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


async def start(api: FakeBotAPI, clock: FakeClock) -> ChatStack:
    return await start_chat_stack(api, clock=clock)


async def replies(api: FakeBotAPI, count: int) -> list[str]:
    await api.wait_sent(OPERATOR_ID, count)
    return [m.plain for m in api.to(OPERATOR_ID)]


async def test_a_pause_typed_six_hours_ago_is_refused_at_start_up_with_the_reason(
    api: FakeBotAPI, clock: FakeClock
) -> None:
    api.send_text(OPERATOR_ID, "/pause outage", at=clock.now() - SIX_HOURS)
    api.send_text(OPERATOR_ID, "/status", at=clock.now() - SIX_HOURS)
    stack = await start(api, clock)
    try:
        stale_pause, old_status = sorted(await replies(api, 2), key=lambda t: "status" in t)
        state_after_backlog = stack.trading.state

        api.send_text(OPERATOR_ID, "/pause fresh")
        *_, fresh_pause = await replies(api, 3)
    finally:
        await stack.stop()

    assert stale_pause.splitlines() == [
        "Not done: /pause was sent 6 h ago.",
        "Commands that change something are not acted on when older than 5 min: "
        "it may not be meant any more.",
        "Send it again if you still want it.",
    ]
    assert state_after_backlog is TradingState.RUNNING
    assert old_status.startswith("Polyops status")
    assert "Trading: RUNNING" in old_status
    assert fresh_pause.startswith("Paused: no new entries.")
    assert stack.trading.state is TradingState.PAUSED
    assert stack.trading.reason == "fresh"
    assert stack.events.commands().count("pause") == 1


async def test_a_command_just_inside_the_age_is_acted_on(api: FakeBotAPI, clock: FakeClock) -> None:
    stack = await start(api, clock)
    try:
        api.send_text(OPERATOR_ID, "/pause", at=clock.now() - timedelta(minutes=4, seconds=59))
        (reply,) = await replies(api, 1)
    finally:
        await stack.stop()

    assert reply.startswith("Paused: no new entries.")
    assert stack.trading.state is TradingState.PAUSED


async def test_a_state_changing_button_on_an_old_message_is_refused_and_a_read_is_not(
    api: FakeBotAPI, clock: FakeClock
) -> None:
    stack = await start(api, clock)
    try:
        api.send_text(OPERATOR_ID, "/help")
        (card,) = await api.wait_sent(OPERATOR_ID, 1)
        clock.advance(SIX_HOURS.total_seconds())
        pause, status = pack("pause"), pack("status")
        assert pause is not None
        assert status is not None

        pressed = await tap_data(api, OPERATOR_ID, card, pause)
        refreshed = await tap_data(api, OPERATOR_ID, card, status)
        (_, shown) = await api.wait_sent(OPERATOR_ID, 2)
    finally:
        await stack.stop()

    assert pressed["text"] == "Not done: this /pause button is on a message sent 6 h ago."
    assert stack.trading.state is TradingState.RUNNING
    assert refreshed.get("text") is None  # answered with a fresh status message
    assert shown.plain.startswith("Polyops status")


async def approval_card(api: FakeBotAPI, stack: ChatStack, *, minutes: int) -> Sent:
    assert stack.desk is not None
    stack.desk.request_approval(minutes=minutes)
    (card,) = await api.wait_sent(OPERATOR_ID, 1)
    return card


async def test_an_approval_card_is_valid_for_the_request_s_own_expiry_not_the_chat_age(
    api: FakeBotAPI, clock: FakeClock
) -> None:
    stack = await start(api, clock)
    try:
        card = await approval_card(api, stack, minutes=60)
        clock.advance(20 * 60)  # older than CHAT_COMMAND_MAX_AGE_S, inside the approval's hour
        await tap(api, OPERATOR_ID, card, "✅ Approve")
        await eventually(lambda: "Approved" in card.plain)
    finally:
        await stack.stop()

    assert stack.desk is not None
    assert [call[0] for call in stack.desk.calls] == ["approve"]

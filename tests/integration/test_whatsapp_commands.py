"""WhatsApp commands over the real webhook: the handshake, signed deliveries to the app's
aiohttp server, roles by phone number, replays, late deliveries, and the replies as the fake
Graph API received them."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tests.support.chat_stack import position
from tests.support.graph_server import (
    APP_SECRET,
    OPERATOR,
    STRANGER,
    VERIFY_TOKEN,
    VIEWER,
    FakeGraphAPI,
    WhatsAppStack,
    api,
    encode,
    inbound,
    signed,
    stack,
    text,
)
from trader.control.api import OrderView
from trader.domain import OrderStatus, Side, TradingState

__all__ = ["api", "stack"]  # fixtures used by name below


def audited(stack: WhatsAppStack, command: str) -> list[str]:
    return [actor for actor, name in stack.events.audited("whatsapp:") if name == command]


async def test_the_verification_handshake_answers_the_challenge_only_with_the_token(
    stack: WhatsAppStack,
) -> None:
    query = {"hub.mode": "subscribe", "hub.challenge": "1158201444"}

    async with stack.session.get(
        stack.url, params={**query, "hub.verify_token": VERIFY_TOKEN}
    ) as ok:
        good = (ok.status, await ok.text())
    async with stack.session.get(stack.url, params={**query, "hub.verify_token": "guess"}) as bad:
        wrong = bad.status

    assert good == (200, "1158201444")
    assert wrong == 403


async def test_status_for_operator_and_viewer_with_or_without_a_slash(
    stack: WhatsAppStack,
) -> None:
    (operator,) = await stack.say(OPERATOR, "status")
    (viewer,) = await stack.say(VIEWER, "/status")

    for reply in (operator, viewer):
        assert reply.kind == "button"  # the Refresh button
        assert reply.text.startswith("*Polyops status*\nMode: paper · Trading: RUNNING")
        assert reply.choices == [("status", "🔄 Refresh")]
    assert audited(stack, "status") == [f"whatsapp:{OPERATOR}", f"whatsapp:{VIEWER}"]


async def test_operator_pauses_and_resumes(stack: WhatsAppStack) -> None:
    (paused,) = await stack.say(OPERATOR, "pause slow news day")
    state_after_pause = stack.trading.state
    (resumed,) = await stack.say(OPERATOR, "/resume")

    assert paused.text.startswith("*Paused: no new entries.*\nReason: slow news day")
    assert state_after_pause is TradingState.PAUSED
    assert resumed.text == "*Resumed: trading.*"
    assert stack.trading.state is TradingState.RUNNING
    assert audited(stack, "pause") == [f"whatsapp:{OPERATOR}"]


async def test_a_viewer_reads_but_cannot_control(stack: WhatsAppStack) -> None:
    (refused,) = await stack.say(VIEWER, "pause")
    (helped,) = await stack.say(VIEWER, "help")

    assert "needs the operator role; you are a viewer" in refused.text
    assert stack.trading.state is TradingState.RUNNING
    assert audited(stack, "pause") == []
    assert "/status - " in helped.text
    assert "/pause" not in helped.text
    assert "(You are a viewer: you can read, not control.)" in helped.text


async def test_help_and_events_for_the_operator(stack: WhatsAppStack) -> None:
    (helped,) = await stack.say(OPERATOR, "help")
    await stack.say(OPERATOR, "pause")
    (events,) = await stack.say(OPERATOR, "events 3")

    for name in ("/status", "/pause", "/resume", "/kill", "/events", "/whoami"):
        assert f"{name} - " in helped.text
    assert events.text.startswith("*Last 3 events*")
    assert f"by whatsapp:{OPERATOR}" in events.text


async def test_a_stranger_gets_one_short_refusal_and_learns_only_their_number(
    stack: WhatsAppStack,
) -> None:
    first = await stack.say(STRANGER, "status")
    second = await stack.say(STRANGER, "pause")
    (who,) = await stack.say(STRANGER, "whoami")

    assert [m.text for m in first] == [
        "*Not authorised. Send /whoami to get your id for the operator to add.*"
    ]
    assert second == []
    assert who.text == f"*Your whatsapp id is {STRANGER}*"
    assert stack.events.audited("whatsapp:") == []  # nothing reached the Control API


async def test_a_bad_or_missing_signature_is_refused_and_nothing_happens(
    stack: WhatsAppStack, api: FakeGraphAPI
) -> None:
    body = encode(inbound(OPERATOR, text("pause"), stack.clock.now()))

    forged = await stack.post(body, {"X-Hub-Signature-256": signed(body, "not-the-app-secret")})
    missing = await stack.post(body)
    tampered = await stack.post(
        body.replace(b"pause", b"kill!"), {"X-Hub-Signature-256": signed(body, APP_SECRET)}
    )
    await stack.transport.idle()

    assert (forged[0], missing[0], tampered[0]) == (403, 401, 403)
    assert stack.trading.state is TradingState.RUNNING
    assert api.sent == []
    assert stack.transport.receiver.stats == {"bad_signature": 2, "unsigned": 1}


async def test_a_replayed_delivery_is_acted_on_once(
    stack: WhatsAppStack, api: FakeGraphAPI
) -> None:
    payload = inbound(OPERATOR, text("pause replayed"), stack.clock.now())

    statuses = [await stack.deliver(payload) for _ in range(3)]

    assert statuses == [200, 200, 200]
    assert audited(stack, "pause") == [f"whatsapp:{OPERATOR}"]
    assert len(api.to(OPERATOR)) == 1
    assert stack.transport.receiver.stats["duplicate_messages"] == 2


async def test_a_late_control_command_is_not_acted_on_but_a_late_read_is(
    stack: WhatsAppStack,
) -> None:
    an_hour_ago = stack.clock.now() - timedelta(hours=1)

    (late_pause,) = await stack.say_at(OPERATOR, "pause", an_hour_ago)
    (late_status,) = await stack.say_at(OPERATOR, "status", an_hour_ago)

    assert late_pause.text.startswith("*Not done: /pause was sent 60 min ago.*")
    assert "Send it again if you still want it." in late_pause.text
    assert stack.trading.state is TradingState.RUNNING
    assert late_status.text.startswith("*Polyops status*")


async def test_a_message_that_is_not_text_gets_a_hint(stack: WhatsAppStack) -> None:
    sticker = {"type": "sticker", "sticker": {"id": "media-9", "mime_type": "image/webp"}}
    before = len(stack.api.to(OPERATOR))

    await stack.deliver(inbound(OPERATOR, sticker, stack.clock.now()))

    (hint,) = stack.api.to(OPERATOR)[before:]
    assert hint.text == "*I read text commands only. Send help for the list.*"


async def test_messages_for_another_phone_number_of_the_account_are_ignored(
    stack: WhatsAppStack, api: FakeGraphAPI
) -> None:
    payload = inbound(OPERATOR, text("pause"), stack.clock.now())
    payload["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = "999"

    assert await stack.deliver(payload) == 200

    assert stack.trading.state is TradingState.RUNNING
    assert api.sent == []


async def test_each_senders_messages_are_answered_in_order(
    stack: WhatsAppStack, api: FakeGraphAPI
) -> None:
    payloads = [inbound(OPERATOR, text(f"events {n}"), stack.clock.now()) for n in (1, 2, 3)]

    for payload in payloads:
        body = encode(payload)
        await stack.post(body, {"X-Hub-Signature-256": signed(body)})
    await stack.transport.idle()

    titles = [m.text.split("\n", 1)[0] for m in api.to(OPERATOR)]
    assert titles == ["*Last 1 events*", "*Last 2 events*", "*Last 3 events*"]


@pytest.mark.parametrize(
    ("command", "title"),
    [
        ("health", "*Health: all components running*"),
        ("positions", "*1 open position(s)*"),
        ("orders", "*No open orders.*"),
        ("pnl week", "*PnL this week*"),
        ("pending", "*No trades waiting for approval.*"),
        ("limits", "*Risk limits*"),
        ("approve", "*Approval mode is off.*"),
        ("approve on", "*Approval mode off → on.*"),
        ("alerts", "*Alert settings*"),
        ("quiet 22:00-07:00", "*Quiet hours 22:00-07:00 (UTC).*"),
        ("cancel 0xnope", "*Refused: no open order 0xnope (or the venue would not cancel it)*"),
        ("cycle", "*Refused: no signal cycle is scheduled in this process*"),
        ("bogus", "*Unknown command 'bogus'. Commands:*"),
    ],
)
async def test_every_other_command_answers_over_whatsapp(
    stack: WhatsAppStack, command: str, title: str
) -> None:
    assert stack.desk is not None
    stack.desk.positions_ = [position("Will it rain in Paris on 1 May?", "100", "0.40", "0.45")]

    (reply,) = await stack.say(OPERATOR, command)

    assert reply.text.split("\n")[0] == title


async def test_cancel_an_open_order(stack: WhatsAppStack) -> None:
    assert stack.desk is not None
    (listed,) = await stack.say(OPERATOR, "orders")
    stack.desk.orders_ = [order("0xabc")]

    (cancelled,) = await stack.say(OPERATOR, "cancel 0xabc")

    assert listed.text == "*No open orders.*"
    assert cancelled.text == "*Cancelled order 0xabc.*"
    assert stack.desk.calls == [("cancel", f"whatsapp:{OPERATOR}", "0xabc")]


def order(order_id: str) -> OrderView:
    return OrderView(
        order_id,
        "cid-1",
        "mkt-1",
        "Will it rain in Paris on 1 May?",
        "tok-1",
        "Yes",
        Side.BUY,
        Decimal("0.41"),
        Decimal(100),
        Decimal(0),
        OrderStatus.LIVE,
        datetime(2026, 1, 1, tzinfo=UTC),
        "llm",
        "c" * 32,
    )


async def test_a_delivery_after_stop_is_refused_for_meta_to_retry(stack: WhatsAppStack) -> None:
    await stack.transport.stop()
    body = encode(inbound(OPERATOR, text("pause"), stack.clock.now()))

    code, _ = await stack.post(body, {"X-Hub-Signature-256": signed(body)})

    assert code == 503
    assert stack.trading.state is TradingState.RUNNING


async def test_a_signed_but_deeply_nested_body_is_refused_400_and_the_next_one_served(
    stack: WhatsAppStack,
) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000  # 200 kB, under the server's body limit
    headers = {"X-Hub-Signature-256": signed(deep)}

    async with stack.session.post(stack.url, data=io.BytesIO(deep), headers=headers) as response:
        code, answer = response.status, await response.text()
    (paused,) = await stack.say(OPERATOR, "pause deep")

    assert (code, answer) == (400, "too deeply nested\n")
    assert stack.transport.receiver.stats["too_deep"] == 1
    assert paused.text.startswith("*Paused: no new entries.*")

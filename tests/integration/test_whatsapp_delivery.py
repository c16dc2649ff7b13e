"""Delivery over WhatsApp against the fake Graph API: alerts inside and outside the 24-hour
window (the template), the daily report's chart uploaded as media, rate limits and other
Graph API errors, long messages, and status callbacks."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from pydantic import SecretStr

from bot.reply import Button, Reply, Role
from bot.whatsapp import SendPolicy, WhatsAppConfig, WhatsAppError, build_whatsapp
from tests.support.graph_server import (
    APP_SECRET,
    OPERATOR,
    TEMPLATE,
    TITLES,
    TOKEN,
    VIEWER,
    FakeGraphAPI,
    Sent,
    WhatsAppStack,
    api,
    stack,
    start_whatsapp_stack,
    status,
)
from tests.support.waiting import eventually
from trader.domain import Alert, Severity
from trader.ops.httpserver import HttpServer

__all__ = ["api", "stack"]  # fixtures used by name below

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
REPORT = Reply("📊 Daily report, 1 January", ("Equity $1,012.40 (+1.2%)", "3 trades, 2 won"))


async def alert(stack: WhatsAppStack, item: Alert, number: str = OPERATOR) -> list[Sent]:
    """Publish through the Control API's alert stream; what `number` received."""
    assert stack.desk is not None
    before = len(stack.api.to(number))
    stack.desk.publish_alert(item)
    await eventually(lambda: len(stack.api.to(number)) > before)
    await stack.transport.idle()
    return stack.api.to(number)[before:]


async def publish(stack: WhatsAppStack, reply: Reply, number: str = OPERATOR) -> list[Sent]:
    before = len(stack.api.to(number))
    await stack.transport.channel.publish(reply, audience=Role.VIEWER)
    await stack.transport.idle()
    return stack.api.to(number)[before:]


FILL = Alert("order_filled", Severity.INFO, "Filled 100 @ 0.41", "Will it rain?\nYes side")


async def test_an_alert_outside_the_window_goes_out_as_the_template(
    stack: WhatsAppStack,
) -> None:
    (sent,) = await alert(stack, FILL)
    await stack.say(VIEWER, "status")  # the viewer's window is open: free-form for them
    inside = await alert(stack, Alert("order_filled", Severity.INFO, "Filled 5 @ 0.50"), VIEWER)

    assert sent.kind == "template"
    template = sent.payload["template"]
    assert (template["name"], template["language"]["code"]) == TEMPLATE
    assert sent.text.startswith("ℹ️ Filled 100 @ 0.41 · Will it rain? · Yes side · info · order")
    assert "\n" not in sent.text
    assert [m.kind for m in inside] == ["text"]
    assert inside[0].text.startswith("*ℹ️ Filled 5 @ 0.50*\ninfo · order filled")


async def test_a_critical_alert_outside_the_window_brings_its_button_when_they_write(
    stack: WhatsAppStack,
) -> None:
    sent = await alert(stack, Alert("auto_halt", Severity.CRITICAL, "Trading halted"))
    (template,) = sent

    answers = await stack.say(OPERATOR, "status")
    held = answers[0]
    (acknowledged,) = await stack.tap(OPERATOR, held, "Acknowledge")  # the update, no notice

    assert template.kind == "template"
    assert template.text.endswith("Reply to this message to get the full version.")
    assert held.kind == "button"
    assert held.text.startswith("*🚨 Trading halted*")
    assert answers[1].text.startswith("*Polyops status*")
    assert stack.notifier.unacknowledged == []
    assert acknowledged.text.startswith("*🚨 Trading halted*\nAcknowledged by Pat at")
    assert acknowledged.context == held.id


async def test_the_daily_report_uploads_the_chart_then_sends_it_as_an_image(
    stack: WhatsAppStack, api: FakeGraphAPI, tmp_path: Path
) -> None:
    chart = tmp_path / "dashboard.png"
    chart.write_bytes(PNG)
    await stack.say(OPERATOR, "status")

    (image,) = await publish(stack, Reply(REPORT.title, REPORT.lines, images=(chart,)))

    (upload,) = api.uploads
    assert (upload.data, upload.mime_type, upload.filename) == (PNG, "image/png", "dashboard.png")
    assert image.kind == "image"
    assert image.payload["image"]["id"] == upload.id
    assert image.text == "*📊 Daily report, 1 January*\nEquity $1,012.40 (+1.2%)\n3 trades, 2 won"


async def test_a_long_report_goes_as_text_then_the_image(
    stack: WhatsAppStack, api: FakeGraphAPI
) -> None:
    await stack.say(OPERATOR, "status")
    lines = tuple(f"position {n}: " + "x" * 60 for n in range(40))

    sent = await publish(stack, Reply("Daily report", lines, images=(PNG,)))

    assert [m.kind for m in sent] == ["text", "image"]
    assert sent[1].text == ""
    assert api.uploads[0].data == PNG


async def test_outside_the_window_the_report_is_a_template_and_the_chart_follows(
    stack: WhatsAppStack, api: FakeGraphAPI
) -> None:
    (template,) = await publish(stack, Reply(REPORT.title, REPORT.lines, images=(PNG,)))
    answers = await stack.say(OPERATOR, "status")

    assert template.kind == "template"
    assert template.text.startswith("📊 Daily report, 1 January · Equity $1,012.40")
    assert [m.kind for m in answers] == ["image", "button"]
    assert len(api.uploads) == 1


async def test_rate_limits_are_waited_out_and_the_message_arrives_once(
    stack: WhatsAppStack, api: FakeGraphAPI
) -> None:
    api.fail(130429, 429, times=2)  # throughput
    api.fail(131056, 400, times=1)  # pair rate limit, answered with 400 as Meta sometimes does

    (sent,) = await stack.say(OPERATOR, "whoami")

    assert sent.text == f"*Your whatsapp id is {OPERATOR}*"
    assert [code for code, _ in api.refused] == [130429, 130429, 131056]
    assert [s for s in stack.clock.sleeps if s >= 2] == [2.0, 4.0, 8.0]  # the backoff
    assert stack.transport.outbox.stats["rate_limit"] == 3


async def test_transient_errors_are_retried(stack: WhatsAppStack, api: FakeGraphAPI) -> None:
    api.fail(131000, 500, times=2)

    (sent,) = await stack.say(OPERATOR, "whoami")

    assert sent.text.startswith("*Your whatsapp id")
    assert stack.transport.outbox.stats["transient"] == 2


async def test_a_closed_window_reported_by_whatsapp_falls_back_to_the_template(
    stack: WhatsAppStack, api: FakeGraphAPI
) -> None:
    await stack.say(OPERATOR, "status")
    api.closed_windows.add(OPERATOR)  # WhatsApp disagrees with our clock

    (sent,) = await alert(stack, FILL)

    assert sent.kind == "template"
    assert [code for code, _ in api.refused] == [131047]
    assert not stack.transport.window.is_open(OPERATOR)


async def test_a_10000_character_reply_arrives_as_several_messages_in_order(
    stack: WhatsAppStack,
) -> None:
    await stack.say(OPERATOR, "status")
    lines = tuple(f"line {n:04d} " + "y" * 90 for n in range(100))

    sent = await publish(stack, Reply("Long", lines))

    assert len(sent) == 3
    assert all(len(m.text) <= 4096 for m in sent)
    assert "\n".join(m.text for m in sent) == "*Long*\n" + "\n".join(lines)


async def test_a_refused_interactive_message_is_sent_as_text_with_the_commands(
    stack: WhatsAppStack, api: FakeGraphAPI
) -> None:
    await stack.say(OPERATOR, "status")
    api.fail(100, 400, type="interactive")

    (sent,) = await publish(stack, Reply("Pick", buttons=((Button("Refresh", "status"),),)))

    assert sent.kind == "text"
    assert sent.text == "*Pick*\n\nReply with one of:\nRefresh: status"


async def test_an_unreachable_number_is_alerted_elsewhere_and_blocks_nobody(
    stack: WhatsAppStack, api: FakeGraphAPI
) -> None:
    api.fail(131026, 400, to=OPERATOR)  # undeliverable
    await stack.say(VIEWER, "status")

    viewer_got = await alert(stack, FILL, VIEWER)
    await eventually(lambda: len(problems(stack)) == 1)

    assert problems(stack) == ["⚠️ WhatsApp delivery problem: a message to …0001 was not sent"]
    assert viewer_got[0].text.startswith("*ℹ️ Filled 100 @ 0.41*")
    assert all("WhatsApp delivery problem" not in m.text for m in api.sent)


async def test_a_missing_template_is_alerted_on_the_other_channels(
    stack: WhatsAppStack, api: FakeGraphAPI
) -> None:
    api.templates.clear()  # WHATSAPP_TEMPLATE_NAME was never registered (or not approved)
    assert stack.desk is not None

    stack.desk.publish_alert(FILL)
    await eventually(lambda: len(problems(stack)) == 1)

    assert problems(stack) == ["⚠️ WhatsApp delivery problem: the alert template was refused"]
    assert (132001, TITLES[132001]) in api.refused
    assert all("WhatsApp delivery problem" not in m.text for m in api.sent)


def problems(stack: WhatsAppStack) -> list[str]:
    return [title for title in stack.other.titles() if "WhatsApp delivery problem" in title]


async def test_status_callbacks_are_recorded_and_a_failure_is_alerted_once(
    stack: WhatsAppStack, api: FakeGraphAPI
) -> None:
    (sent,) = await stack.say(OPERATOR, "whoami")
    now = stack.clock.now()

    for state in ("sent", "delivered", "read"):
        await stack.deliver(status(sent.id, state, OPERATOR, now))
    failed = status("wamid.other", "failed", OPERATOR, now, code=131026)
    await stack.deliver(failed)
    await stack.deliver(failed)  # WhatsApp retries the delivery
    await eventually(lambda: len(problems(stack)) >= 1)

    assert stack.transport.statuses[sent.id] == "read"
    assert stack.transport.statuses["wamid.other"] == "failed"
    (problem,) = [r for r in stack.other.published if "WhatsApp delivery problem" in r.title]
    assert problem.title == "⚠️ WhatsApp delivery problem: a message to …0001 failed"
    assert problem.lines[0] == "#131026 Message undeliverable: Message undeliverable"
    assert stack.transport.receiver.stats["duplicate_statuses"] == 1


async def test_a_message_failed_for_the_window_is_resent_as_the_template(
    stack: WhatsAppStack, api: FakeGraphAPI
) -> None:
    await stack.say(OPERATOR, "status")
    (sent,) = await alert(stack, FILL)

    await stack.deliver(status(sent.id, "failed", OPERATOR, stack.clock.now(), code=131047))

    assert sent.kind == "text"
    assert [m.kind for m in api.to(OPERATOR)][-1] == "template"
    assert problems(stack) == []  # handled: nobody needs to hear of it


async def test_a_refused_token_stops_the_start_with_a_plain_reason(
    stack: WhatsAppStack, api: FakeGraphAPI
) -> None:
    config = WhatsAppConfig(
        token=SecretStr("revoked-token-value"),
        phone_number_id=api.phone_number_id,
        app_secret=SecretStr(APP_SECRET),
        verify_token=None,
        api_base=api.base_url,
        operator_numbers=frozenset({OPERATOR}),
        viewer_numbers=frozenset(),
        template_name=TEMPLATE[0],
        template_language=TEMPLATE[1],
    )
    http = HttpServer("127.0.0.1", 0)
    transport = build_whatsapp(config, stack.core, stack.notifier, stack.clock, http)

    with pytest.raises(WhatsAppError) as error:
        await transport.start()
    state = transport.state
    await transport.stop()

    assert "Meta refused WHATSAPP_TOKEN" in str(error.value)
    assert "revoked-token-value" not in str(error.value)
    assert state == "unauthorized"


async def test_the_pair_rate_paces_messages_to_one_number(api: FakeGraphAPI) -> None:
    paced = await start_whatsapp_stack(api, policy=SendPolicy(pair_rate=1 / 6, pair_burst=2))
    try:
        await paced.say(OPERATOR, "status")
        before = len(paced.clock.sleeps)

        sent = await publish(paced, Reply("Long", tuple("w" * 3000 for _ in range(4))))

        waits = paced.clock.sleeps[before:]
        assert len(sent) == 4
        assert api.refused == []  # paced, never refused
        assert len([w for w in waits if w > 1]) == 3  # one wait per message past the burst
    finally:
        await paced.stop()


async def test_the_token_and_the_app_secret_never_reach_the_logs(
    stack: WhatsAppStack, api: FakeGraphAPI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    # the client's own logger too: an earlier test's setup_logging may have quieted it
    caplog.set_level(logging.DEBUG, logger="httpx")
    api.fail(130429, 429)
    api.fail(131026, 400, to=VIEWER)

    await stack.say(OPERATOR, "status")
    await alert(stack, FILL)
    await stack.post(b"{}", {"X-Hub-Signature-256": "sha256=00"})

    assert "HTTP Request: POST" in caplog.text  # the client's own request log is captured
    assert TOKEN not in caplog.text
    assert APP_SECRET not in caplog.text


async def test_after_stop_alerts_are_dropped_quietly(
    stack: WhatsAppStack, api: FakeGraphAPI
) -> None:
    await stack.say(OPERATOR, "status")
    await stack.transport.stop()

    await stack.notifier.notify(FILL)

    assert [m.kind for m in api.to(OPERATOR)] == ["button"]  # only the status reply
    assert stack.transport.outbox.stats["after_close"] == 2  # operator and viewer
    assert "WhatsApp" not in " ".join(stack.other.titles())


async def test_alerts_raised_while_the_transport_starts_are_delivered_after_start() -> None:
    async with FakeGraphAPI(phone_delay=0.8) as slow:  # Meta takes 0.8 s to check the number
        chat = await start_whatsapp_stack(slow, start=False)
        try:
            started_alert = Alert("startup", Severity.INFO, "Polyops started")
            await chat.notifier.notify(started_alert)  # before start, as the app's is
            starting = asyncio.create_task(chat.transport.start())
            await chat.notifier.notify(FILL)  # the first cycle's fill, while it starts
            await starting
            await eventually(lambda: len(slow.to(OPERATOR)) >= 2)
            await chat.transport.idle()

            texts = slow.texts(OPERATOR)
            assert len(texts) == 2
            assert texts[0].startswith("ℹ️ Polyops started")
            assert texts[1].startswith("ℹ️ Filled 100 @ 0.41")
            assert chat.other.titles()[:2] == ["ℹ️ Polyops started", "ℹ️ Filled 100 @ 0.41"]
        finally:
            await chat.stop()


async def test_a_transport_that_cannot_start_drops_what_was_queued_for_it(
    api: FakeGraphAPI,
) -> None:
    chat = await start_whatsapp_stack(api, start=False)
    try:
        await chat.notifier.notify(Alert("startup", Severity.INFO, "Polyops started"))
        api.token = "another-token"  # Meta refuses ours
        with pytest.raises(WhatsAppError):
            await chat.transport.start()
        await chat.notifier.notify(FILL)  # WhatsApp is off: not kept for it
        refused = list(api.sent)
        api.token = TOKEN  # fixed; started again
        await chat.transport.start()
        await chat.notifier.notify(Alert("order_filled", Severity.INFO, "Filled 5 @ 0.50"))
        await eventually(lambda: bool(api.sent))
        await chat.transport.idle()

        assert refused == []
        assert [m.text.split(" · ")[0] for m in api.to(OPERATOR)] == ["ℹ️ Filled 5 @ 0.50"]
    finally:
        await chat.stop()

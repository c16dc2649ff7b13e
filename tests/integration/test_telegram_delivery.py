"""Delivery through the real aiogram client: flood control, splitting, escaping, fallbacks,
the getUpdates conflict, photos."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import json
import weakref

from aiogram.methods import Response, SendMessage
from aiogram.types import Message

from bot.reply import Button, Reply
from bot.telegram.middlewares import USED_METHODS
from tests.support.chat_stack import ChatStack
from tests.support.telegram_fixtures import stack
from tests.support.telegram_server import (
    OPERATOR_ID,
    VIEWER_ID,
    FakeBotAPI,
)
from tests.support.waiting import eventually
from trader.domain import Alert, Severity

__all__ = ["stack"]  # fixtures used by name below

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


async def test_429_is_honoured_and_the_message_arrives_once(
    stack: ChatStack, api: FakeBotAPI
) -> None:
    api.fail("sendMessage", 429, "Too Many Requests: retry after 7", retry_after=7)

    api.send_text(OPERATOR_ID, "/status")

    await eventually(lambda: len(api.to(OPERATOR_ID)) == 1)
    await stack.transport.outbox.drain()
    assert len(api.to(OPERATOR_ID)) == 1
    assert api.refused == [("sendMessage", "Too Many Requests: retry after 7")]
    assert 7.0 in stack.clock.sleeps


async def test_a_10000_character_reply_arrives_as_several_messages_in_order(
    stack: ChatStack, api: FakeBotAPI
) -> None:
    lines = tuple(f"{i:04d} " + "x" * 45 for i in range(200))
    reply = Reply("Long report", lines, buttons=((Button("Refresh", "status"),),))
    assert len(reply.text) > 10_000

    ids = await stack.transport.outbox.send(OPERATOR_ID, reply)

    messages = api.to(OPERATOR_ID)
    assert len(messages) == len(ids) == 3
    assert "\n".join(m.plain for m in messages) == reply.text
    assert [m.buttons for m in messages] == [[], [], [("Refresh", "cm:status:")]]


async def test_link_previews_are_turned_off_only_where_a_link_could_show_one(
    stack: ChatStack, api: FakeBotAPI
) -> None:
    def previews(method: str) -> list[object]:
        sent = [params.get("link_preview_options") for name, params in api.calls if name == method]
        return [None if value is None else json.loads(value) for value in sent]

    outbox = stack.transport.outbox
    (linked,) = await outbox.send(OPERATOR_ID, Reply("Read", ("see polymarket.com/event/x",)))
    await outbox.send(OPERATOR_ID, Reply("Up 3s", ("Equity $500.00 · v0.1.0 · 2.0%",)))
    await outbox.edit(OPERATOR_ID, linked, Reply("Read", ("now https://t.me/polyops",)))
    await outbox.edit(OPERATOR_ID, linked, Reply("Read", ("no link left",)))

    off = {"is_disabled": True}
    assert previews("sendMessage") == [off, None]
    assert previews("editMessageText") == [off, None]
    # the transport's session sent each of them (and the start-up's calls) as JSON
    assert api.json_bodies == len(api.calls)


async def test_a_title_full_of_markup_characters_arrives_intact(
    stack: ChatStack, api: FakeBotAPI
) -> None:
    reason = 'Will <Trump> & <Harris> debate? a<b>c &amp; </b> "q"'
    api.send_text(OPERATOR_ID, f"/pause '{reason}'")

    await eventually(lambda: len(api.to(OPERATOR_ID)) == 1)

    (message,) = api.to(OPERATOR_ID)
    assert message.parse_mode == "HTML"
    assert f"Reason: {reason}" in message.plain
    assert api.refused == []


async def test_a_message_refused_for_its_formatting_is_resent_as_plain_text(
    stack: ChatStack, api: FakeBotAPI
) -> None:
    api.fail("sendMessage", 400, "Bad Request: can't parse entities: unsupported start tag")

    api.send_text(VIEWER_ID, "/status")

    await eventually(lambda: len(api.to(VIEWER_ID)) == 1)
    (message,) = api.to(VIEWER_ID)
    assert message.parse_mode is None
    assert message.text.startswith("Polyops status")


async def test_network_and_server_errors_are_retried(stack: ChatStack, api: FakeBotAPI) -> None:
    api.fail("sendMessage", 502, "Bad Gateway", times=2)

    await stack.transport.outbox.send(OPERATOR_ID, Reply("still here"))

    assert api.texts(OPERATOR_ID) == ["still here"]


async def test_stop_returns_while_telegram_refuses_a_command_answer(
    stack: ChatStack, api: FakeBotAPI
) -> None:
    # Telegram answers every sendMessage with 502 (an outage): the /status answer is retried
    # for ever in the update's task; stopping must not wait for it for ever
    poller = stack.transport.poller
    poller.config = dataclasses.replace(poller.config, finish_timeout=0.5)
    api.fail("sendMessage", 502, "Bad Gateway", times=10**9)
    api.send_text(OPERATOR_ID, "/status")
    await eventually(lambda: len(api.refused) >= 3)

    await asyncio.wait_for(stack.stop(), timeout=15)

    assert api.to(OPERATOR_ID) == []


async def test_a_chat_that_blocked_the_bot_does_not_block_the_queue(
    stack: ChatStack, api: FakeBotAPI
) -> None:
    api.fail("sendMessage", 403, "Forbidden: bot was blocked by the user")

    assert await stack.transport.outbox.send(VIEWER_ID, Reply("first")) == []
    await stack.transport.outbox.send(VIEWER_ID, Reply("second"))

    assert api.texts(VIEWER_ID) == ["second"]


async def test_charts_are_sent_as_photos(stack: ChatStack, api: FakeBotAPI) -> None:
    reply = Reply("Equity <7d>", ("pnl +12.40",), images=(PNG,))

    await stack.transport.outbox.send(OPERATOR_ID, reply)

    (photo,) = api.to(OPERATOR_ID)
    assert photo.method == "sendPhoto"
    assert photo.photo == PNG
    assert photo.plain == "Equity <7d>\npnl +12.40"


async def test_getupdates_conflict_is_alerted_explained_and_recovery_said(
    stack: ChatStack, api: FakeBotAPI
) -> None:
    api.conflict = True

    await eventually(lambda: stack.transport.state == "conflict")
    await eventually(lambda: any("another process" in t for t in api.texts(OPERATOR_ID)))
    alert = next(t for t in api.texts(OPERATOR_ID) if "another process" in t)
    assert "TELEGRAM_BOT_TOKEN" in alert
    assert "pid" in alert
    assert api.token not in alert
    await eventually(lambda: stack.transport.poller.conflicts >= 3)
    assert sum("another process" in t for t in api.texts(OPERATOR_ID)) == 1

    api.conflict = False

    await eventually(lambda: stack.transport.state == "polling")
    await eventually(lambda: any("token again" in t for t in api.texts(OPERATOR_ID)))
    api.send_text(OPERATOR_ID, "/status")
    await eventually(lambda: any(t.startswith("Polyops status") for t in api.texts(OPERATOR_ID)))


async def test_alerts_reach_operators_and_viewers(stack: ChatStack, api: FakeBotAPI) -> None:
    await stack.notifier.notify(Alert("feed_stale", Severity.WARNING, "Feed <stale> & slow"))

    await eventually(lambda: len(api.to(OPERATOR_ID)) == 1 and len(api.to(VIEWER_ID)) == 1)
    assert api.texts(VIEWER_ID)[0].startswith("⚠️ Feed <stale> & slow")


async def test_a_long_command_reply_is_split_in_order(stack: ChatStack, api: FakeBotAPI) -> None:
    for i in range(60):
        stack.events.append("venue_error", {"detail": f"{i:02d} " + "<&>" * 80}, actor="system")

    api.send_text(VIEWER_ID, "/events 60")

    await eventually(lambda: len(api.to(VIEWER_ID)) >= 3)
    await stack.transport.outbox.drain()
    texts = api.texts(VIEWER_ID)
    joined = "\n".join(texts)
    assert len(joined) > 10_000
    assert joined.startswith("Last 60 events")
    lines = [line for line in joined.splitlines() if "detail=" in line]
    numbers = [int(line.split("detail=")[1][:2]) for line in lines]
    assert numbers == list(range(1, 60))  # the newest 59 oldest first (the 60th is /events)
    assert "<&><&>" in texts[-1]


async def test_an_alert_storm_from_the_control_api_sends_a_handful(
    stack: ChatStack, api: FakeBotAPI
) -> None:
    assert stack.desk is not None
    for i in range(1000):
        stack.desk.publish_alert(Alert("venue_errors", Severity.WARNING, "Venue error", f"#{i}"))

    await eventually(lambda: stack.notifier.stats["received"] == 1000)
    stack.clock.advance(120)
    await stack.notifier.tick()
    await stack.transport.outbox.drain()

    assert 2 <= len(api.to(OPERATOR_ID)) <= 7
    assert "Digest: 995 more alert(s)" in api.texts(OPERATOR_ID)[-1]


async def test_run_as_a_supervised_component_restarts_cleanly(
    stack: ChatStack, api: FakeBotAPI
) -> None:
    (polling,) = [t for t in stack.tasks if "run" in repr(t.get_coro())][:1]
    polling.cancel()
    await asyncio.gather(polling, return_exceptions=True)
    assert stack.transport.state == "ready"
    stack.tasks.remove(polling)
    stack.tasks.append(asyncio.create_task(stack.transport.run()))  # the supervisor's restart
    await eventually(lambda: stack.transport.state == "polling")

    await stack.notifier.notify(Alert("startup", Severity.INFO, "Started"))
    api.send_text(OPERATOR_ID, "/status")

    await eventually(lambda: len(api.to(OPERATOR_ID)) == 2)
    assert sum(t.startswith("ℹ️ Started") for t in api.texts(OPERATOR_ID)) == 1  # one channel


async def test_the_answer_models_are_built_once_not_after_every_collection(
    stack: ChatStack, api: FakeBotAPI
) -> None:
    """aiogram reads each answer as `Response[T]`, a pydantic class pydantic keeps only
    weakly: without the transport holding it, every garbage collection made the next reply
    build it again (issue 21: milliseconds on a /status round trip)."""
    api.send_text(OPERATOR_ID, "/status")
    await eventually(lambda: len(api.to(OPERATOR_ID)) == 1)
    (status,) = api.to(OPERATOR_ID)
    api.press(OPERATOR_ID, status, "cm:status:")  # a button: answerCallbackQuery
    await eventually(lambda: len(api.to(OPERATOR_ID)) == 2)
    await stack.transport.outbox.edit(OPERATOR_ID, status.message_id, Reply("Edited"))
    await stack.transport.outbox.send(OPERATOR_ID, Reply("Equity", images=(PNG,)))
    answers = [weakref.ref(Response[method.__returning__]) for method in USED_METHODS]

    gc.collect()

    assert all(answer() is not None for answer in answers)
    assert weakref.ref(Response[Message])() is answers[USED_METHODS.index(SendMessage)]()
    # every method the transport called is one whose answer it holds
    called = {name for name, _ in api.calls}
    assert {"sendMessage", "editMessageText", "answerCallbackQuery", "sendPhoto"} <= called
    assert called <= {method.__api_method__ for method in USED_METHODS}

"""Fuzz: thousands of random updates from random users through the real aiogram client.

Nothing crashes, and nobody who is not an operator gets anything done: the Control API's
audit log shows no call from a stranger and only read-only calls from the viewer.
"""

from __future__ import annotations

import logging
import random
import string
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.access import REFUSAL
from bot.notifier import NotifierConfig
from tests.support.chat_stack import ChatStack, ask, position, start_chat_stack
from tests.support.telegram_server import (
    OPERATOR_ID,
    STRANGER_ID,
    VIEWER_ID,
    FakeBotAPI,
)
from tests.support.waiting import eventually

UPDATES = 10_000
READ_ONLY = {
    "status",
    "why",
    "why_denied",
    "events",
    "positions",
    "orders",
    "pnl",
    "pending",
    "signals",
    "report",
    "chart",
    "limits",
    "alerts",
    "health",
    "kill_preview",
    "flatten_preview",
    "approvals",
    "alert_settings",
    "risk_limits",
}
COMMANDS = [
    "status",
    "positions",
    "orders",
    "cancel",
    "pnl",
    "pause",
    "resume",
    "kill",
    "rearm",
    "approve",
    "pending",
    "signals",
    "cycle",
    "report",
    "chart",
    "limits",
    "set",
    "alerts",
    "quiet",
    "health",
    "events",
    "whoami",
    "help",
    "confirm",
    "decide",
    "ack",
    "start",
    "",
]
ALPHABET = string.printable + "é😀中文ß∑≠ЖЩ\u200b\u202e<>&\"'"


def random_text(rng: random.Random) -> str:
    size = rng.choice([0, 1, 5, 20, 200, 5000])
    return "".join(rng.choice(ALPHABET) for _ in range(size))


def random_command(rng: random.Random) -> str:
    head = "/" + rng.choice(COMMANDS)
    if rng.random() < 0.2:
        head += rng.choice(["@polyops_test_bot", "@other_bot", "@"])
    args = [
        rng.choice(
            [
                random_text(rng)[:12],
                str(rng.randint(-5, 10**6)),
                "on",
                "off",
                "all",
                "max_order_notional",
                "22:00-07:00",
                "half",
                "flatten",
                "abort",
            ]
        )
        for _ in range(rng.randint(0, 3))
    ]
    return " ".join([head, *args])


def random_callback(rng: random.Random) -> str:
    token = "".join(rng.choice("0123456789abcdef") for _ in range(12))
    return rng.choice(
        [
            f"cf:{token}:{rng.choice(['cancel', 'flatten', 'abort', 'rearm', 'confirm'])}",
            f"ap:{token}:{rng.choice(['approve', 'half', 'reject', 'x'])}",
            f"ak:{token}",
            f"cm:{rng.choice(COMMANDS)}:{rng.choice(['', 'on', 'off'])}",
            random_text(rng)[:64],
            "",
        ]
    )


def random_update(rng: random.Random, api: FakeBotAPI) -> None:
    user = rng.choice([VIEWER_ID, STRANGER_ID, rng.randint(1, 10**10), -rng.randint(1, 10**6)])
    kind = rng.random()
    if kind < 0.45:
        api.send_text(user, random_command(rng), chat_id=rng.choice([user, -777]))
    elif kind < 0.65:
        api.send_text(user, random_text(rng) or ".", chat_id=rng.choice([user, -777]))
    elif kind < 0.95:
        message = rng.choice(api.sent) if api.sent and rng.random() < 0.7 else None
        real = message.buttons if message is not None else []
        data = rng.choice(real)[1] if real and rng.random() < 0.5 else random_callback(rng)
        api.press(user, message, data)
    else:
        api.push_raw(rng.choice(_odd_updates(user)))


def _odd_updates(user: int) -> list[dict[str, Any]]:
    sender = {"id": user, "is_bot": False, "first_name": "X"}
    chat = {"id": user, "type": "private"}
    return [
        {
            "message": {
                "message_id": 1,
                "date": 0,
                "chat": chat,
                "from": sender,
                "sticker": {
                    "file_id": "s",
                    "file_unique_id": "u",
                    "type": "regular",
                    "width": 1,
                    "height": 1,
                    "is_animated": False,
                    "is_video": False,
                },
            }
        },
        {
            "edited_message": {
                "message_id": 1,
                "date": 0,
                "edit_date": 0,
                "chat": chat,
                "from": sender,
                "text": "/kill",
            }
        },
        {
            "message": {
                "message_id": 1,
                "date": 0,
                "chat": {"id": -1, "type": "channel"},
                "text": "/pause",
            }
        },
        {
            "message": {
                "message_id": 1,
                "date": 0,
                "chat": chat,
                "from": {**sender, "is_bot": True},
                "text": "/pause",
            }
        },
    ]


@pytest.fixture
async def stack(api: FakeBotAPI) -> AsyncIterator[ChatStack]:
    chat = await start_chat_stack(api, notifier_config=NotifierConfig())
    try:
        yield chat
    finally:
        await chat.stop()


@pytest.mark.slow
async def test_random_updates_crash_nothing_and_only_operators_act(
    stack: ChatStack, api: FakeBotAPI, caplog: pytest.LogCaptureFixture
) -> None:
    rng = random.Random(20260301)
    caplog.set_level(logging.ERROR)
    assert stack.desk is not None
    stack.desk.positions_ = [position("Will <it> & rain?", "100", "0.40", "0.45")]
    stack.desk.request_approval()
    await eventually(lambda: len(api.to(OPERATOR_ID)) == 1)
    await ask(api, OPERATOR_ID, "/kill")  # a live confirmation the fuzzers can see and tap
    await ask(api, OPERATOR_ID, "/set max_exposure 10")
    calls_before = len(stack.events.audited(f"telegram:{OPERATOR_ID}"))

    for _ in range(UPDATES):
        random_update(rng, api)
    await eventually(lambda: api.pending_updates == 0, timeout=120)
    await eventually(lambda: not stack.transport.poller._tasks, timeout=60)
    await stack.transport.outbox.drain()

    assert not any(api.token in m.text for m in api.sent)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []
    audited = stack.events.audited()
    assert all(not actor.startswith(f"telegram:{STRANGER_ID}") for actor, _ in audited)
    others = {c for a, c in audited if a.startswith("telegram:") and a != f"telegram:{OPERATOR_ID}"}
    assert others <= READ_ONLY
    assert {"status", "positions"} <= others  # the viewer's reads did get through
    assert sum(a.get("text") == REFUSAL.title for a in api.callback_answers) > 100
    assert len(stack.events.audited(f"telegram:{OPERATOR_ID}")) == calls_before
    assert not [r for r in stack.events.rows if r.type != "command"]
    assert stack.desk.calls == []
    assert stack.trading.state.value == "RUNNING"
    assert stack.state.approval_mode is False
    assert stack.state.risk_limits.max_exposure == 1000
    api.send_text(OPERATOR_ID, "/status")
    await eventually(lambda: any(t.startswith("Polyops status") for t in api.texts(OPERATOR_ID)))

"""Webhook mode: Telegram posts updates to our server, checked with the secret token."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
from pydantic import SecretStr

from bot.commands.core import CommandCore
from bot.notifier import Notifier
from bot.telegram import TelegramTransport, WebhookConfig, build_telegram
from tests.support.chat_stack import FakeTelegramSettings, memory_control
from tests.support.telegram_server import (
    OPERATOR_ID,
    FakeBotAPI,
)
from tests.support.waiting import eventually
from trader.clock import FakeClock

SECRET = "webhook-secret-0123"


@pytest.fixture
async def transport(api: FakeBotAPI) -> AsyncIterator[TelegramTransport]:
    clock = FakeClock()
    control = (await memory_control(clock)).control
    notifier = Notifier(clock)
    settings = FakeTelegramSettings(
        SecretStr(api.token), api.base_url, frozenset({OPERATOR_ID}), frozenset()
    )
    webhook = WebhookConfig(url="https://polyops.example/telegram", secret=SECRET, port=0)
    telegram = build_telegram(
        settings,
        CommandCore(control, clock=clock, notifier=notifier),
        notifier,
        clock,
        webhook=webhook,
    )
    await telegram.start()
    try:
        yield telegram
    finally:
        await telegram.stop()


def update(text: str) -> dict[str, object]:
    return {
        "update_id": 7,
        "message": {
            "message_id": 1,
            "date": 0,
            "text": text,
            "chat": {"id": OPERATOR_ID, "type": "private"},
            "from": {"id": OPERATOR_ID, "is_bot": False, "first_name": "Op"},
        },
    }


async def test_webhook_update_with_the_secret_is_answered(
    transport: TelegramTransport, api: FakeBotAPI
) -> None:
    url = f"http://127.0.0.1:{transport.webhook_port}/telegram"
    async with aiohttp.ClientSession() as session:
        forged = await session.post(
            url, data=json.dumps(update("/pause")), headers={"Content-Type": "application/json"}
        )
        good = await session.post(
            url,
            data=json.dumps(update("/status")),
            headers={"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET},
        )

    assert forged.status == 401
    assert good.status == 200
    await eventually(lambda: len(api.to(OPERATOR_ID)) == 1)
    assert api.texts(OPERATOR_ID)[0].startswith("Polyops status")
    set_webhook = next(params for method, params in api.calls if method == "setWebhook")
    assert set_webhook["secret_token"] == SECRET
    assert transport.state == "webhook"

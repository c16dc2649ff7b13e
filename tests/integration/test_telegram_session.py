"""The Bot API session (`bot/telegram/session.py`): JSON bodies for requests without a file,
aiogram's form for uploads, and aiogram's own errors for refusals, network failures and
timeouts (which the outbox retries)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiogram import Bot
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest, TelegramNetworkError
from aiogram.types import BufferedInputFile, InlineKeyboardButton, InlineKeyboardMarkup
from aiohttp import web

from bot.telegram.session import JsonBodySession
from tests.support.processes import free_port
from tests.support.telegram_server import OPERATOR_ID, FakeBotAPI

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def bot_at(base_url: str, token: str) -> Bot:
    return Bot(token, session=JsonBodySession(api=TelegramAPIServer.from_base(base_url)))


@pytest.fixture
async def bot(api: FakeBotAPI) -> AsyncIterator[Bot]:
    client = bot_at(api.base_url, api.token)
    yield client
    await client.session.close()


async def test_a_request_without_a_file_goes_as_one_json_body(bot: Bot, api: FakeBotAPI) -> None:
    keyboard = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="🔄 Refresh", callback_data="cm:status:")]]
    )

    sent = await bot.send_message(
        OPERATOR_ID, "<b>Polyops</b> &amp; co", parse_mode="HTML", reply_markup=keyboard
    )
    await bot.delete_webhook(drop_pending_updates=False)

    assert api.json_bodies == 2
    assert sent.text == "Polyops & co"  # the answer is read as aiogram reads it
    (message,) = api.to(OPERATOR_ID)
    assert message.markup == {
        "inline_keyboard": [[{"text": "🔄 Refresh", "callback_data": "cm:status:"}]]
    }
    params = dict(api.calls)
    assert set(params["sendMessage"]) == {"chat_id", "text", "parse_mode", "reply_markup"}
    assert params["deleteWebhook"] == {"drop_pending_updates": "false"}  # False is sent


async def test_an_upload_goes_as_aiograms_form(bot: Bot, api: FakeBotAPI) -> None:
    await bot.send_photo(OPERATOR_ID, BufferedInputFile(PNG, "chart.png"), caption="Equity")

    assert api.json_bodies == 0
    (message,) = api.to(OPERATOR_ID)
    assert message.photo == PNG
    assert message.text == "Equity"


async def test_a_refusal_is_aiograms_own_error(bot: Bot, api: FakeBotAPI) -> None:
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await bot.send_message(OPERATOR_ID, " ")


async def test_a_server_that_cannot_be_reached_is_a_network_error() -> None:
    client = bot_at(f"http://127.0.0.1:{free_port()}", "1:x")
    try:
        with pytest.raises(TelegramNetworkError, match="ClientConnectorError"):
            await client.send_message(OPERATOR_ID, "hello")
    finally:
        await client.session.close()


async def test_an_answer_that_does_not_come_is_a_timeout() -> None:
    arrived, release = asyncio.Event(), asyncio.Event()

    async def hang(request: web.Request) -> web.Response:
        arrived.set()
        await release.wait()
        return web.json_response({"ok": True, "result": True})

    app = web.Application()
    app.router.add_post("/bot{token}/{method}", hang)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    client = bot_at(f"http://127.0.0.1:{port}", "1:x")
    try:
        with pytest.raises(TelegramNetworkError, match="Request timeout error"):
            await client.send_message(OPERATOR_ID, "hello", request_timeout=1)
        assert arrived.is_set()
    finally:
        release.set()
        await client.session.close()
        await runner.cleanup()


async def test_the_fake_refuses_a_json_body_that_is_not_an_object(api: FakeBotAPI) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{api.base_url}/bot{api.token}/sendMessage",
            data=json.dumps([1, 2]),
            headers={"Content-Type": "application/json"},
        ) as response,
    ):
        assert response.status == 400
        assert "JSON" in (await response.json())["description"]

"""The command routers' root filter, with the real aiogram client asking the fake Bot API
who it is (for `@mention`s)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.filters import Command
from aiogram.types import Chat, Message

from bot.telegram.filters import CommandNames
from tests.support.telegram_server import FakeBotAPI


@pytest.fixture
async def bot() -> AsyncIterator[Bot]:
    async with FakeBotAPI() as api:  # username polyops_test_bot
        client = Bot(
            api.token, session=AiohttpSession(api=TelegramAPIServer.from_base(api.base_url))
        )
        try:
            yield client
        finally:
            await client.session.close()


def message(text: str | None = None, *, caption: str | None = None) -> Message:
    return Message(
        message_id=1,
        date=datetime(2026, 1, 1, tzinfo=UTC),
        chat=Chat(id=-5005, type="group"),
        text=text,
        caption=caption,
    )


STATUS = CommandNames(["status", "Health"])


@pytest.mark.parametrize(
    ("text", "ours"),
    [
        ("/status", True),
        ("/STATUS", True),
        ("/Health now", True),
        ("/status@polyops_test_bot", True),
        ("/status@Polyops_Test_Bot extra words", True),
        ("  /status\n", True),
        ("/status@", True),
        ("/status@some_other_bot", False),  # addressed to another bot in the group
        ("/pause", False),
        ("/statusx", False),
        ("status", False),
        ("please /status", False),
        ("!status", False),
        ("/", False),
        ("   ", False),
        ("", False),
    ],
)
async def test_command_names_takes_only_our_commands_for_us(
    bot: Bot, text: str, *, ours: bool
) -> None:
    assert await STATUS(message(text), bot) is ours


async def test_command_names_reads_a_caption_as_aiogram_command_does(bot: Bot) -> None:
    assert await STATUS(message(caption="/status"), bot) is True
    assert await STATUS(message(), bot) is False


@pytest.mark.parametrize(
    "text",
    [
        "/status",
        "/sTaTuS arg",
        "/status@polyops_test_bot",
        "/status@other_bot",
        "/pause",
        "hello",
        " ",
        "/status@",
        "\t/health@POLYOPS_TEST_BOT x",
    ],
)
async def test_command_names_agrees_with_aiogram_command(bot: Bot, text: str) -> None:
    reference = Command("status", "health", ignore_case=True)

    expected = bool(await reference(message(text), bot))

    assert await STATUS(message(text), bot) is expected


def test_command_names_needs_a_name() -> None:
    with pytest.raises(ValueError, match="at least one"):
        CommandNames([])

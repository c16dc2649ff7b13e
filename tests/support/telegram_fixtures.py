"""A fixture for a Telegram test module to import (and name in its `__all__`): `stack`, the chat
side over the conftest's fake Bot API (`start_chat_stack`), stopped after the test. Apart from
`chat_stack` so that the bench that uses the stack does not import pytest."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.chat_stack import ChatStack, start_chat_stack
from tests.support.telegram_server import FakeBotAPI


@pytest.fixture
async def stack(api: FakeBotAPI) -> AsyncIterator[ChatStack]:
    chat = await start_chat_stack(api)
    try:
        yield chat
    finally:
        await chat.stop()

"""Fixtures for a test module to import (and name in its `__all__`): `server`, the fake
Anthropic Messages API started on loopback, and `client`, the product's `make_client` against it
with no retries. Apart from `anthropic_server` so that the benches and the app rigs that use the
fake do not import pytest."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anthropic
import pytest

from tests.support.anthropic_server import FakeAnthropicServer
from trader.signals.llm import make_client


@pytest.fixture
async def server() -> AsyncIterator[FakeAnthropicServer]:
    async with FakeAnthropicServer() as fake:
        yield fake


@pytest.fixture
async def client(server: FakeAnthropicServer) -> AsyncIterator[anthropic.AsyncAnthropic]:
    sdk = make_client("sk-test", base_url=server.url, timeout=5.0, max_retries=0)
    yield sdk
    await sdk.close()

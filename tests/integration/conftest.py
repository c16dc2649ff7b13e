"""Fixtures shared by the simulator test modules (test_sim_*.py).

    plain_http_only   point httpx at an empty CA directory (the simulator is plain HTTP on
                      loopback); not autouse: a module opts in with
                      `pytestmark = pytest.mark.usefixtures("plain_http_only")`
    sim               a simulator on loopback with the test scenario
    client            the SDK client of a fresh account, against `sim`
    api               the fake Telegram Bot API on loopback (for the real aiogram client)

A module that defines its own `sim` or `client` keeps it: a module's fixture overrides these.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from polymarket import AsyncSecureClient

from polysim.clob.app import SimServer
from tests.support.sim import avoid_ca_bundle, running_sim, sdk_client
from tests.support.telegram_server import FakeBotAPI


@pytest.fixture
def plain_http_only(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    avoid_ca_bundle(monkeypatch, tmp_path)


@pytest.fixture
async def sim() -> AsyncIterator[SimServer]:
    async with running_sim() as server:
        yield server


@pytest.fixture
async def client(sim: SimServer) -> AsyncIterator[AsyncSecureClient]:
    async with sdk_client(sim) as sdk:
        yield sdk


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI() as server:
        yield server

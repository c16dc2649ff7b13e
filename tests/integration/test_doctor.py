from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.support.news_search import FakeGdeltServer
from tests.support.sim import avoid_ca_bundle, running_sim
from trader.config import load_settings
from trader.ops.doctor import collect, table
from trader.store.migrate import upgrade_async

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"


@pytest.fixture(autouse=True)
def _plain_http_only(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    avoid_ca_bundle(monkeypatch, tmp_path)


async def test_doctor_reports_each_service_and_never_prints_a_token(tmp_path: Path) -> None:
    database = f"sqlite+aiosqlite:///{tmp_path / 'doctor.db'}"
    await upgrade_async(database)
    async with running_sim() as sim:
        settings = load_settings(
            None,
            database_url=database,
            clob_host=sim.url,
            gamma_host=sim.gamma_url,
            telegram_bot_token=TOKEN,
            telegram_api_base="http://127.0.0.1:9",  # nothing listens: refused at once
        )
        async with httpx.AsyncClient(timeout=5) as client:
            checks = {check.service: check for check in await collect(settings, client)}

    assert checks["database"].ok is True
    assert checks["clob"].ok is True
    assert checks["gamma"].ok is True
    assert checks["telegram"].ok is False
    assert checks["anthropic"].ok is None  # not configured: skipped, not failed
    printed = table(list(checks.values()))
    assert TOKEN not in printed
    assert "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0" not in printed


async def test_doctor_says_to_migrate_an_empty_database(tmp_path: Path) -> None:
    settings = load_settings(
        None,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'new.db'}",
        clob_host="http://127.0.0.1:9",  # nothing leaves the machine
        gamma_host="http://127.0.0.1:9",
    )
    async with httpx.AsyncClient(timeout=2) as client:
        checks = {check.service: check for check in await collect(settings, client)}
    assert checks["database"].ok is False
    assert "trader migrate" in checks["database"].detail


async def test_doctor_asks_gdelt_when_retrieval_is_on(tmp_path: Path) -> None:
    async with FakeGdeltServer() as gdelt:
        settings = load_settings(
            None,
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'new.db'}",
            clob_host="http://127.0.0.1:9",
            gamma_host="http://127.0.0.1:9",
            anthropic_api_key="sk-ant-doctor",
            anthropic_base_url="http://127.0.0.1:9",
            gdelt_base_url=gdelt.url,
            exa_api_key="exa-doctor-key",
        )
        async with httpx.AsyncClient(timeout=2) as client:
            checks = {check.service: check for check in await collect(settings, client)}
        off = settings.model_copy(update={"anthropic_api_key": None})
        async with httpx.AsyncClient(timeout=2) as client:
            without = {check.service: check for check in await collect(off, client)}

    assert checks["gdelt"].ok is True
    assert gdelt.requests[0]["mode"] == "artlist"
    assert checks["exa"].ok is None  # configured, not probed: a search is billed
    assert "exa-doctor-key" not in table(list(checks.values()))
    assert without["retrieval"].ok is None
    assert "gdelt" not in without

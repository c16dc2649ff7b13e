"""Third-party INFO chatter stays out of the operator's log at the default level."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from trader.logs import setup_logging
from trader.store.migrate import upgrade

THIRD_PARTY = (
    "alembic.runtime.plugins",
    "alembic.runtime.migration",
    "aiogram.dispatcher",
    "aiogram.event",
    "apscheduler.scheduler",
    "httpx",
    "aiohttp.access",
    "anthropic._base_client",
)


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    level = root.level
    stream = io.StringIO()
    setup_logging("INFO", stream=stream)
    yield stream
    for handler in [h for h in root.handlers if getattr(h, "_polyops", False)]:
        root.removeHandler(handler)
    root.setLevel(level)


def test_migrating_at_info_logs_no_alembic_lines(captured: io.StringIO, tmp_path: Path) -> None:
    upgrade(f"sqlite+aiosqlite:///{tmp_path / 'quiet.db'}")
    logging.getLogger("trader.app.root").info("ready")
    lines = captured.getvalue().splitlines()
    assert [line.split()[2:] for line in lines] == [["trader.app.root:", "ready"]]


@pytest.mark.parametrize("name", THIRD_PARTY)
def test_third_party_info_is_dropped_and_warnings_kept(captured: io.StringIO, name: str) -> None:
    logging.getLogger(name).info("chatter")
    logging.getLogger(name).warning("worth knowing")
    assert "chatter" not in captured.getvalue()
    assert f"{name}: worth knowing" in captured.getvalue()


def test_trader_migrate_prints_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "trader.cli", "migrate"],
        cwd=tmp_path,
        env={**os.environ, "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert (result.stdout, result.stderr) == ("database migrated to head\n", "")

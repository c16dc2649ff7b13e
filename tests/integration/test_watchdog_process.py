"""`python -m trader.watchdog` as a process: settings errors, and what it imports."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def env(**settings: str) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO), **settings}


def test_bad_settings_stop_the_watchdog_with_status_2_and_one_line_each(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "trader.watchdog"],
        cwd=tmp_path,
        env=env(
            HEARTBEAT_INTERVAL_S="10",
            WATCHDOG_TIMEOUT_S="5",
            TELEGRAM_OPERATOR_IDS="12,abc",
            TELEGRAM_BOT_TOKEN="123456:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "WATCHDOG_TIMEOUT_S: must be longer than HEARTBEAT_INTERVAL_S" in result.stderr
    assert "TELEGRAM_OPERATOR_IDS: not a numeric Telegram user id: abc" in result.stderr
    assert "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" not in result.stderr + result.stdout


def test_the_watchdog_never_imports_the_app_the_chat_or_the_venue_sdk() -> None:
    probe = (
        "import sys, trader.watchdog; "
        "bad = sorted(m for m in sys.modules if m == 'bot' or m.startswith(('bot.', "
        "'trader.app.root', 'trader.control.api', 'polymarket', 'aiogram'))); print(bad)"
    )
    result = subprocess.run(  # noqa: S603 - a fixed probe, run with this interpreter
        [sys.executable, "-c", probe],
        env=env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.strip() == "[]"

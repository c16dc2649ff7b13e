"""The systemd units in deploy/: the settings the issue asks for, and `systemd-analyze verify`."""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest

from trader.app.root import RECORDS_CLOSE_S, SHUTDOWN_BUDGET_S

REPO = Path(__file__).resolve().parents[2]
UNITS = REPO / "deploy" / "systemd"


def service(name: str) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(UNITS / name)
    return parser["Service"]


@pytest.mark.parametrize("name", ["polyops-app.service", "polyops-watchdog.service"])
def test_long_running_units_restart_always_and_are_kept_alive_by_sd_notify(name: str) -> None:
    unit = service(name)
    assert unit["Restart"] == "always"
    assert unit["Type"] == "notify"
    assert int(unit["WatchdogSec"]) > 0
    assert unit["NotifyAccess"] == "main"


def test_the_app_unit_leaves_time_for_the_30_second_graceful_shutdown() -> None:
    unit = service("polyops-app.service")
    assert unit["ExecStart"].endswith("trader run --no-console")
    assert unit["KillSignal"] == "SIGTERM"
    # the app's shutdown budget and its last flush of the event log end before systemd kills
    assert int(unit["TimeoutStopSec"]) > SHUTDOWN_BUDGET_S + RECORDS_CLOSE_S


def test_the_backup_service_prunes() -> None:
    assert "--keep" in service("polyops-backup.service")["ExecStart"]


def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    trader = shutil.which("trader") or str(REPO / ".venv" / "bin" / "trader")
    paths = []
    for unit in sorted(UNITS.iterdir()):
        text = unit.read_text().replace("/opt/polyops/.venv/bin/trader", trader)
        (tmp_path / unit.name).write_text(text)
        paths.append(str(tmp_path / unit.name))
    result = subprocess.run(  # noqa: S603 - systemd-analyze on our own unit files
        [analyze, "verify", "--man=no", *paths],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    problems = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        if "polyops" in line and "Failed to resolve" not in line
    ]
    assert problems == [], result.stderr

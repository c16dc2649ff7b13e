"""`trader backtest` as an operator runs it, in a subprocess: a synthetic history written by
`trader sim-history`, the backtest writing its JSON and phone-sized PNG, `--compare` printing
two runs side by side, and bad input refused with one line and nothing written."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


def trader(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(cwd),
        "PYTHONPATH": str(REPO),
        "SIGNAL_CYCLE_S": "3600",
    }
    return subprocess.run(  # noqa: S603 - our own interpreter and module, fixed arguments
        [sys.executable, "-m", "trader.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", header[16:24])
    return width, height


def test_backtest_cli_writes_json_and_png_and_compares_runs(tmp_path: Path) -> None:
    history = tmp_path / "history.json"
    made = trader(
        "sim-history", "--out", str(history), "--from", "2026-03-01", "--days", "2",
        "--markets", "4", cwd=tmp_path,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr

    runs = []
    for bankroll in ("1000", "500"):
        out = tmp_path / f"run-{bankroll}"
        done = trader(
            "backtest", "--from", "2026-03-01", "--to", "2026-03-02", "--history", str(history),
            "--bankroll", bankroll, "--out", str(out), cwd=tmp_path,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "market evaluations" in done.stdout
        (summary_path,) = out.glob("backtest-20260301-20260302-staged.json")
        summary = json.loads(summary_path.read_text())
        assert summary["bankroll"] == f"{bankroll}.00"
        assert summary["cycles"] == 25  # hourly (SIGNAL_CYCLE_S), both ends included
        assert summary["market_evaluations"] > 0
        assert png_size(summary_path.with_suffix(".png")) == (1080, 1920)
        runs.append(summary_path)

    compared = trader("backtest", "--compare", str(runs[0]), str(runs[1]), cwd=tmp_path)

    assert compared.returncode == 0, compared.stderr
    bankroll_line = next(
        line for line in compared.stdout.splitlines() if line.startswith("bankroll")
    )
    assert bankroll_line.split() == ["bankroll", "1000.00", "500.00"]


def test_backtest_cli_refuses_a_bad_history_with_one_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"format": "polyops-history/1", "markets": [], "prices": {"t": [["x"]]}}')

    done = trader(
        "backtest", "--from", "2026-03-01", "--to", "2026-03-02", "--history", str(broken),
        "--out", str(tmp_path / "out"), cwd=tmp_path,
    )  # fmt: skip

    assert done.returncode == 2
    assert done.stderr.startswith(f"backtest: {broken}: prices.t.0")
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()

"""`trader backtest` as an operator runs it, in a subprocess: a synthetic history written by
`trader sim-history`, the backtest writing its JSON and phone-sized PNG, `--compare` printing
two runs side by side, and bad input refused with one line and nothing written."""

from __future__ import annotations

import asyncio
import json
import os
import struct
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from polysim.clob.app import serve
from tests.support.anthropic_server import FakeAnthropicServer, Reply

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


async def trader_async(env: dict[str, str], *args: str, cwd: Path) -> tuple[int, str, str]:
    """`trader` in a subprocess without blocking this loop (the simulator serves from it)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "trader.cli", *args, cwd=cwd, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout=600)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_backtest_cli_fetches_the_venue_history_and_runs_every_option(
    tmp_path: Path,
) -> None:
    """--fetch (Gamma and prices-history from the simulator through the SDK, cached, refreshed),
    --strategy, --forecasts llm (the fake Anthropic server) and --bankroll, end to end."""
    day = 86_400
    scenario = {
        "seed": 2,
        "markets": [
            {"question": "Will the harbour bridge reopen before the storm season?",
             "fair_price": "0.7", "opened_in_s": -6 * day, "end_in_s": -2 * day - 3600,
             "resolves_in_s": -2 * day, "outcome": "Yes", "volume": "90000",
             "liquidity": "20000"},
            {"question": "Will the tunnel open this winter?", "fair_price": "0.6",
             "opened_in_s": -5 * day, "volume": "90000", "liquidity": "20000"},
        ],
    }  # fmt: skip
    sim = await serve(scenario=scenario, background=False)
    started = sim.context.scenario.started_at
    assert started is not None
    start, end = started - timedelta(days=4), started - timedelta(days=3)
    cache = tmp_path / "cache" / "venue.json"
    try:
        async with FakeAnthropicServer(default=Reply.answer(0.9, confidence=0.9)) as model:
            env = {
                "PATH": os.environ.get("PATH", ""),
                "HOME": str(tmp_path),
                "PYTHONPATH": str(REPO),
                "SIGNAL_CYCLE_S": "3600",
                "CLOB_HOST": sim.url,
                "GAMMA_HOST": sim.gamma_url,
                "DATA_API_HOST": sim.data_url,
                "CLOB_WS_URL": sim.ws_url + "/ws",
                "BACKTEST_HISTORY_CACHE": str(cache),
                "ANTHROPIC_API_KEY": "sk-ant-test",
                "ANTHROPIC_BASE_URL": model.url,
                "RETRIEVAL_ENABLED": "false",
                "LLM_TRAINING_CUTOFF": (started - timedelta(days=30)).isoformat(),
            }
            window = ("--from", f"{start:%Y-%m-%dT%H:%M}", "--to", f"{end:%Y-%m-%dT%H:%M}")
            runs = []
            for _ in range(2):
                code, out, err = await trader_async(
                    env, "backtest", *window, "--fetch", "--strategy", "llm_edge",
                    "--forecasts", "llm", "--bankroll", "500", "--out", str(tmp_path / "out"),
                    cwd=tmp_path,
                )  # fmt: skip
                assert code == 0, err
                runs.append(out)
            asked = len(model.requests)
    finally:
        await sim.close()

    assert "2 markets" in runs[0]
    assert ", 0 new price points" not in runs[0]
    assert ", 0 new price points" in runs[1]  # the cache was complete: nothing fetched again
    assert cache.exists()
    (summary_path,) = (tmp_path / "out").glob("backtest-*-llm_edge.json")
    summary = json.loads(summary_path.read_text())
    assert summary["bankroll"] == "500.00"
    assert summary["forecasts"] == "llm"
    assert summary["strategy"] == "llm_edge"
    assert "training cut-off" in summary["notes"][0]
    assert asked > 0  # the model was called, through the real SDK
    assert "training cut-off" in runs[1]

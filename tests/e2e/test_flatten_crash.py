"""A real SIGKILL between a kill's cancel-all and its flatten sells (issue #15 item 5): the
next start, live mode against the simulator, finishes the flatten within the recorded cap
(or, with resuming off, leaves the position) and raises a critical alert either way."""

from __future__ import annotations

import asyncio
import signal
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from polysim.clob.app import SimServer
from tests.e2e.test_crash_recovery import sim, venue_state
from trader.clock import SystemClock
from trader.store import migrate
from trader.store.db import create_engine, session_factory
from trader.store.repositories import ControlStateRepository

KEY = "0x" + "e5" * 32
ADDRESS = Account.from_key(KEY).address.lower()
ROOT = Path(__file__).resolve().parents[2]
D = Decimal

pytestmark = pytest.mark.slow
__all__ = ["sim"]  # the crash test's simulator, a fixture used by name below


async def _driver(sim: SimServer, database: str, *extra: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.support.flatten_driver",
        "--sim",
        sim.url,
        "--database",
        database,
        "--key",
        KEY,
        *extra,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        cwd=ROOT,
    )


async def _lines_until(process: asyncio.subprocess.Process, word: str) -> list[str]:
    assert process.stdout is not None
    lines = []
    while True:
        line = await asyncio.wait_for(process.stdout.readline(), 60)
        if not line:
            raise AssertionError(f"driver exited before {word}: {lines}")
        lines.append(line.decode().strip())
        if lines[-1].startswith(word):
            return lines


def _held(state: dict[str, Any]) -> dict[str, Decimal]:
    account = next(a for a in state["accounts"] if a["address"].lower() == ADDRESS)
    return {t: D(h["size"]) for t, h in account["holdings"].items() if D(h["size"])}


async def _sigkilled_mid_flatten(sim: SimServer, tmp_path: Path) -> str:
    database = f"sqlite+aiosqlite:///{tmp_path / 'polyops.db'}"
    await migrate.upgrade_async(database)
    process = await _driver(sim, database, "--mode", "kill")
    try:
        await _lines_until(process, "SELLING")
    finally:
        process.send_signal(signal.SIGKILL)
        await process.wait()
    assert sum(_held(await venue_state(sim)).values()) == D(20)
    return database


async def _pending(database: str) -> Any:
    engine = create_engine(database)
    try:
        return await ControlStateRepository(session_factory(engine), SystemClock()).get(
            "pending_flatten"
        )
    finally:
        await engine.dispose()


async def test_sigkill_mid_flatten_then_restart_sells_within_the_cap(
    sim: SimServer, tmp_path: Path
) -> None:
    database = await _sigkilled_mid_flatten(sim, tmp_path)
    assert (await _pending(database))["slippage"] == "0.05"

    restart = await _driver(sim, database, "--mode", "restart")
    lines = await _lines_until(restart, "DONE")
    await asyncio.wait_for(restart.wait(), 30)

    assert "ALERT critical Interrupted flatten resumed" in lines
    state = await venue_state(sim)
    assert _held(state) == {}
    sells = [
        {**leg, "size": t["size"]}
        for t in state["trades"]
        for leg in (t["taker"], t["maker"])
        if leg["address"].lower() == ADDRESS and leg["side"].upper() == "SELL"
    ]
    assert sum(D(leg["size"]) for leg in sells) == D(20)
    best_bid = D(state["markets"][0]["best_bid"])  # a deep book: our 20 shares did not move it
    assert all(D(leg["price"]) >= best_bid * D("0.95") for leg in sells)  # the recorded 5% cap
    assert await _pending(database) is None


async def test_sigkill_mid_flatten_with_resume_off_keeps_the_position_and_alerts(
    sim: SimServer, tmp_path: Path
) -> None:
    database = await _sigkilled_mid_flatten(sim, tmp_path)

    restart = await _driver(sim, database, "--mode", "restart", "--no-resume")
    lines = await _lines_until(restart, "DONE")
    await asyncio.wait_for(restart.wait(), 30)

    assert "ALERT critical Interrupted flatten NOT finished" in lines
    assert sum(_held(await venue_state(sim)).values()) == D(20)
    assert await _pending(database) is None

"""Crash test: a trader process in live mode against the simulator, SIGKILLed at random points
while it submits orders, at least 20 times. After every restart (which reconciles before any
new order) the database must agree with the venue:

- zero duplicate orders: every venue order of ours has the row written before it was sent
  (none had to be adopted), and no intent reached the venue twice;
- zero lost fills: every venue trade of ours is recorded;
- positions equal to the venue's; our open orders are exactly the venue's open orders.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account
from sqlalchemy import select

from polysim.clob.app import SimServer, serve
from tests.support.sim import avoid_ca_bundle
from tests.support.waiting import eventually
from trader.store import migrate
from trader.store.db import create_engine, session_factory
from trader.store.tables import EventLogRow, FillRow, OrderRow, PositionRow

TRIALS = int(os.environ.get("CRASH_TRIALS", "20"))
KEY = "0x" + "d4" * 32
ADDRESS = Account.from_key(KEY).address.lower()
ROOT = Path(__file__).resolve().parents[2]
OPEN = ("PENDING", "SUBMITTED", "LIVE")
SCENARIO: dict[str, Any] = {
    "seed": 17,
    "tick_interval_s": 0.1,
    "settlement_delay_s": 0.2,
    "initial_collateral": "100000",
    "markets": [
        {
            "question": "Will the trader survive SIGKILL?",
            "fair_price": "0.55",
            "volatility": 0,
            "flow_rate": 0,
            "depth": 5,
            "level_size": "500",
        }
    ],
}

pytestmark = pytest.mark.slow


@pytest.fixture
async def sim(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> AsyncIterator[SimServer]:
    avoid_ca_bundle(monkeypatch, tmp_path / "no-ca")
    server = await serve(scenario=SCENARIO, seed=17)
    yield server
    await server.close()


class Driver:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.submits = 0

    @classmethod
    async def start(cls, sim: SimServer, database: str, seed: int) -> Driver:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.support.crash_driver",
            "--sim",
            sim.url,
            "--database",
            database,
            "--key",
            KEY,
            "--seed",
            str(seed),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            cwd=ROOT,
        )
        driver = cls(process)
        await driver.expect("READY")
        return driver

    async def expect(self, word: str) -> str:
        assert self.process.stdout is not None
        while True:
            line = await asyncio.wait_for(self.process.stdout.readline(), 30)
            if not line:
                raise AssertionError(f"driver exited before {word}")
            text = line.decode().strip()
            if text.startswith("SUBMIT"):
                self.submits += 1
            if text.startswith(word):
                return text

    async def go_and_kill(self, rng: random.Random) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(b"go\n")
        await self.process.stdin.drain()
        for _ in range(rng.randint(1, 8)):
            await self.expect("SUBMIT")
        await asyncio.sleep(rng.uniform(0, 0.03))  # a random point inside the submission
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def quit(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(b"quit\n")
        await self.process.stdin.drain()
        await asyncio.wait_for(self.process.wait(), 30)

    async def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGKILL)
        await self.process.wait()


async def venue_state(sim: SimServer) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=sim.url) as http:
        response = await http.get("/_admin/state")
        response.raise_for_status()
        state: dict[str, Any] = response.json()
    return state


async def check(sim: SimServer, sessions: Any) -> dict[str, int]:
    """Compare the database with the venue; raises AssertionError on any difference."""
    venue = await venue_state(sim)
    ours = [o for o in venue["orders"] if o["maker_address"].lower() == ADDRESS]
    venue_open = {o["id"] for o in ours if o["id"] in set(venue["open_order_ids"])}
    legs = {
        (t["id"], leg["order_id"])
        for t in venue["trades"]
        for leg in (t["taker"], t["maker"])
        if leg["address"].lower() == ADDRESS
    }
    account = next(a for a in venue["accounts"] if a["address"].lower() == ADDRESS)
    holdings = {t: Decimal(h["size"]) for t, h in account["holdings"].items() if Decimal(h["size"])}
    async with sessions() as session:
        rows = list((await session.scalars(select(OrderRow))).all())
        fills = {(f.trade_id, f.order_id) for f in (await session.scalars(select(FillRow))).all()}
        positions = {p.token_id: p.size for p in (await session.scalars(select(PositionRow))).all()}
    by_venue_id = {r.venue_order_id: r for r in rows if r.venue_order_id}
    missing_rows = [o["id"] for o in ours if o["id"] not in by_venue_id]
    adopted = [r.client_order_id for r in rows if r.client_order_id.startswith("adopted-")]
    per_intent = Counter(
        r.correlation_id for r in rows if (r.venue_order_id in {o["id"] for o in ours})
    )
    assert missing_rows == [], f"venue orders without a row: {missing_rows}"
    assert adopted == [], f"orders had to be adopted: {adopted}"
    assert [c for c, n in per_intent.items() if n > 1] == [], "an intent reached the venue twice"
    assert legs - fills == set(), f"lost fills: {legs - fills}"
    assert {t: s for t, s in positions.items() if s} == holdings
    assert {r.venue_order_id for r in rows if r.status in OPEN} == venue_open
    return {"orders": len(ours), "fills": len(legs), "open": len(venue_open)}


async def test_sigkill_during_submission_loses_nothing_and_duplicates_nothing(
    sim: SimServer, tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'crash.db'}"
    await asyncio.to_thread(migrate.upgrade, url)
    database = create_engine(url)
    sessions = session_factory(database)
    rng = random.Random(20261121)
    totals: dict[str, int] = {}
    try:
        for trial in range(TRIALS):
            driver = await Driver.start(sim, url, seed=trial)
            try:
                await agrees(sim, sessions, totals)
                await driver.go_and_kill(rng)
            finally:
                await driver.kill()
        driver = await Driver.start(sim, url, seed=TRIALS)  # the last restart is checked too
        try:
            await agrees(sim, sessions, totals)
            await driver.quit()
        finally:
            await driver.kill()
        corrections = await _corrections(sessions)
    finally:
        await database.dispose()
    assert totals["orders"] >= TRIALS  # the trials really traded
    assert totals["fills"] > 0
    print(f"crash test: {totals}, reconciliation corrections {dict(corrections)}")


async def agrees(sim: SimServer, sessions: Any, totals: dict[str, int]) -> None:
    """The restarted trader's fill stream and writer may still be catching up: wait a
    little, then check once more so a real difference fails with its details."""
    try:
        await eventually(lambda: _passes(sim, sessions, totals), timeout=10)
    except AssertionError:
        await check(sim, sessions)
        raise


async def _passes(sim: SimServer, sessions: Any, totals: dict[str, int]) -> bool:
    try:
        totals.update(await check(sim, sessions))
    except AssertionError:
        return False
    return True


async def _corrections(sessions: Any) -> Counter[str]:
    async with sessions() as session:
        rows = (
            await session.scalars(
                select(EventLogRow).where(EventLogRow.type == "reconcile_correction")
            )
        ).all()
    return Counter(str(row.payload.get("kind")) for row in rows)

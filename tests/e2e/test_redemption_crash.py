"""Resolution end to end in real processes, with a SIGKILL while the redemptions are in flight.

A paper trader (tests/support/redeem_driver.py) over the simulator's market data buys 20 YES of
one market and 10 NO of another and exits. The simulator resolves the first YES and the second
50/50. A second process settles both, sends both redemptions (the venue accepts them: tx ids
recorded) and is SIGKILLed before they are mined. A third process follows them by tx id: both
confirmed, each sent once, cash up by 20 + 5, an alert for each with its payout. A fourth finds
nothing left to do. The paper venue rebuilt from the database agrees with the cash.

Live (`--live`): the same processes over the live venue (the real SDK, a deposit wallet and its
relayer key); the redemptions go through the simulator's relayer, which holds them (its
confirmation delay) until the test mines them after the SIGKILL. The wallet's pUSD at the
simulator rises by the payouts and one relayed redemption exists per market.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from polysim.clob.app import SimServer, serve
from polysim.clob.chain import REDEEM_POSITIONS
from polysim.clob.relayer import SIM_RELAYER
from tests.support.driver import endpoints
from tests.support.execution_rig import SIM_KEY, SIM_SCENARIO
from tests.support.sim import admin, avoid_ca_bundle, deposit_wallet, deposit_wallet_account
from trader.clock import SystemClock
from trader.store import migrate
from trader.store.db import create_engine, session_factory
from trader.store.tables import ChainOperationRow, EventLogRow
from trader.venue.paper.journal import DatabaseFillJournal
from trader.venue.paper.venue import PaperVenue
from trader.venue.polymarket.market_data import PolymarketMarketData

D = Decimal
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def sim(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> AsyncIterator[SimServer]:
    avoid_ca_bundle(monkeypatch, tmp_path / "no-ca")
    # live: relayed transactions wait (an hour of confirmation delay) until the test mines them
    server = await serve(scenario={**SIM_SCENARIO, "chain_confirm_s": 3600}, seed=5)
    yield server
    await server.close()


class Driver:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls, sim: SimServer, database: str, *args: str) -> Driver:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.support.redeem_driver",
            "--sim",
            sim.url,
            "--database",
            database,
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            cwd=ROOT,
        )
        return cls(process)

    async def expect(self, word: str) -> str:
        assert self.process.stdout is not None
        while True:
            line = await asyncio.wait_for(self.process.stdout.readline(), 60)
            if not line:
                raise AssertionError(f"driver exited before {word}")
            text = line.decode().strip()
            if text.startswith(word):
                return text.removeprefix(word).strip()

    async def run(self) -> dict[str, Any]:
        report: dict[str, Any] = json.loads(await self.expect("RUN"))
        return report

    async def finish(self) -> None:
        await self.expect("DONE")
        assert await asyncio.wait_for(self.process.wait(), 30) == 0

    async def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGKILL)
        await self.process.wait()


async def resolve(sim: SimServer, condition: str, outcome: str) -> None:
    async with httpx.AsyncClient(base_url=sim.url) as http:
        body = {"condition_id": condition, "outcome": outcome, "redeem": False}
        (await http.post("/_admin/resolve", json=body)).raise_for_status()


@pytest.mark.parametrize("mode", ["paper", "live"])
async def test_both_markets_are_redeemed_once_across_a_sigkill_in_flight_and_cash_rises(
    sim: SimServer, tmp_path: Path, mode: str
) -> None:
    live: tuple[str, ...] = ()
    if mode == "live":
        options = await deposit_wallet_account(sim, SIM_KEY)
        live = ("--live", options["relayer_api_key"])
    wallet = deposit_wallet(options["relayer_api_key_address"]) if live else ""
    url = f"sqlite+aiosqlite:///{tmp_path / 'redeem.db'}"
    await asyncio.to_thread(migrate.upgrade, url)
    database = create_engine(url)
    sessions = session_factory(database)
    markets = sorted(sim.exchange.markets.values(), key=lambda m: m.spec.question)[:2]
    try:
        buyer = await Driver.start(sim, url, "--phase", "buy", *live)
        try:
            await buyer.expect("BOUGHT")
            assert await asyncio.wait_for(buyer.process.wait(), 30) == 0
        finally:
            await buyer.kill()
        await resolve(sim, markets[0].condition_id, "Yes")
        await resolve(sim, markets[1].condition_id, "50/50")

        wallet_before = sim.exchange.ledger.account(wallet).collateral if live else D(0)

        crashed = await Driver.start(sim, url, "--phase", "redeem", "--hold", *live)
        try:
            in_flight = await crashed.run()
        finally:
            await crashed.kill()  # SIGKILL while both redemptions are in flight
        if live:  # mined while the trader was down
            assert len((await admin(sim, "POST", "relayer/confirm"))["mined"]) == 2
        restarted = await Driver.start(sim, url, "--phase", "redeem", *live)
        try:
            confirmed = await restarted.run()
            await restarted.finish()
        finally:
            await restarted.kill()
        idle = await Driver.start(sim, url, "--phase", "redeem", *live)
        try:
            again = await idle.run()
            await idle.finish()
        finally:
            await idle.kill()

        async with sessions() as session:
            rows = list((await session.scalars(select(ChainOperationRow))).all())
            events = Counter(
                e.type
                for e in (await session.scalars(select(EventLogRow))).all()
                if e.type.startswith("redemption_")
            )
        if not live:
            rebuilt = PaperVenue(
                source=_data(sim),
                bankroll=D(1000),
                clock=SystemClock(),
                journal=DatabaseFillJournal(sessions, SystemClock()),
            )
            await rebuilt.start()
            venue_cash = (await rebuilt.balance()).cash
            venue_positions = await rebuilt.positions()
            await rebuilt.close()
    finally:
        await database.dispose()

    assert len(in_flight["sent"]) == 2
    assert in_flight["confirmed"] == []
    assert D(in_flight["redeemable"]) == D(25)  # 20 x 1 and 10 x 0.5, not yet cash
    assert sorted(D(p) for p in confirmed["confirmed"]) == [D(5), D(20)]
    assert D(confirmed["cash"]) == D(in_flight["cash"]) + D(25)
    assert D(confirmed["redeemable"]) == 0
    titles = [a["title"] for a in confirmed["alerts"] if a["kind"] == "redeem_confirmed"]
    assert sorted(t.split(":")[0] for t in titles) == ["Redeemed", "Redeemed"]
    assert any("20.00 pUSD" in t for t in titles)
    assert any("5.00 pUSD" in t for t in titles)
    assert again["confirmed"] == []
    assert again["sent"] == []
    assert D(again["cash"]) == D(confirmed["cash"])
    assert sorted((r.market, r.state) for r in rows) == sorted(
        (m.condition_id, "confirmed") for m in markets
    )  # one record per market: each sent once
    # the restart's reconciliation may see the payouts in the venue's cash before the service
    # follows the tx ids (`redemption_received`): either way each payout moves cash once
    assert {k: n for k, n in events.items() if k != "redemption_received"} == {
        "redemption_requested": 2,
        "redemption_sent": 2,
        "redemption_confirmed": 2,
    }
    if live:
        account = sim.exchange.ledger.account(wallet)
        assert account.collateral == wallet_before + D(25)
        assert all(h.size == 0 for h in account.holdings.values())
        relayed = [
            tx
            for tx in sim.runner.app[SIM_RELAYER].transactions.values()
            if any(call.data[:4] == REDEEM_POSITIONS for call in tx.calls)
        ]
        assert sorted(tx.state for tx in relayed) == ["STATE_CONFIRMED"] * 2
        return
    assert venue_cash == D(confirmed["cash"])
    assert venue_positions == []


def _data(sim: SimServer) -> PolymarketMarketData:
    return PolymarketMarketData(clock=SystemClock(), endpoints=endpoints(sim.url))

"""Live redemption and merge: the execution core over the live adapter (the real SDK, a deposit
wallet, its relayer key) against the simulator. The redemption service redeems YES in a market
that resolved YES and NO in one that resolved 50/50 through `redeem_positions` (relayed, mined
after the scenario's confirmation delay), once each; cash rises by the payouts, at the venue and
in the portfolio; a YES+NO pair worth more merged than sold is merged (`merge_positions`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from polysim.clob.app import SimServer, serve
from polysim.clob.chain import MERGE_POSITIONS, REDEEM_POSITIONS, SIM_CHAIN
from polysim.clob.relayer import SIM_RELAYER
from tests.support.execution_rig import (
    SIM_KEY,
    SIM_SCENARIO,
    Rig,
    build_rig,
    live_venue,
    sim_intent,
    sim_market,
)
from tests.support.sim import admin, avoid_ca_bundle, deposit_wallet, deposit_wallet_account
from tests.support.waiting import eventually
from trader.clock import SystemClock
from trader.execution.redemption import RedemptionRun
from trader.execution.runtime import ExecutionConfig

D = Decimal


@pytest.fixture
async def sim(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> AsyncIterator[SimServer]:
    avoid_ca_bundle(monkeypatch, tmp_path)
    server = await serve(scenario={**SIM_SCENARIO, "chain_confirm_s": 0.3}, seed=5)
    yield server
    await server.close()


@asynccontextmanager
async def _live_rig(
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    sim: SimServer,
    config: ExecutionConfig | None = None,
    **account: Any,
) -> AsyncIterator[Rig]:
    """The execution core over a live venue for `account`, its writer and fills running."""
    clock = SystemClock()
    venue = live_venue(sim, clock, **account)
    await venue.start()
    built = await build_rig(engine, sessions, venue, clock, config=config)
    built.run("execution.writer", "execution.fills")
    try:
        yield built
    finally:
        await built.stop()
        await built.events.close()
        await venue.close()


@pytest.fixture
async def rig(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], sim: SimServer
) -> AsyncIterator[Rig]:
    account = await deposit_wallet_account(sim, SIM_KEY)
    async with _live_rig(engine, sessions, sim, **account) as built:
        yield built


def _relayed(sim: SimServer, selector: bytes) -> list[Any]:
    relayer = sim.runner.app[SIM_RELAYER]
    return [
        tx
        for tx in relayer.transactions.values()
        if any(call.data[:4] == selector for call in tx.calls)
    ]


def _wallet_cash(sim: SimServer) -> Decimal:
    from eth_account import Account

    wallet = deposit_wallet(Account.from_key(SIM_KEY).address)
    return sim.exchange.ledger.account(wallet).collateral


def _eoa_cash(sim: SimServer) -> Decimal:
    from eth_account import Account

    return sim.exchange.ledger.account(Account.from_key(SIM_KEY).address).collateral


async def _hold_twenty_yes_resolved_yes(rig: Rig, sim: SimServer) -> None:
    """Buy 20 YES, resolve the market YES at the simulator (not redeemed there) and reconcile:
    20 pUSD become redeemable."""
    market = sim_market(rig)
    await rig.runtime.handle(sim_intent(market, "0.62", "20"))
    await eventually(lambda: len(rig.runtime.positions()) == 1)
    body = {"condition_id": market.condition_id, "outcome": "Yes", "redeem": False}
    await admin(sim, "POST", "resolve", body)
    await rig.runtime.reconcile("test")


async def _run_until_settled(rig: Rig) -> list[RedemptionRun]:
    service = rig.runtime.redemption
    assert service is not None
    runs: list[RedemptionRun] = []

    async def settled() -> bool:
        runs.append(await service.run_once())
        return not await service.recent() or all(op.state.finished for op in await service.recent())

    await eventually(settled, timeout=15, interval=0.2)
    return runs


async def test_yes_and_a_50_50_no_are_redeemed_once_each_and_cash_rises_by_the_payouts(
    rig: Rig, sim: SimServer
) -> None:
    alerts = rig.bus.alerts.subscribe()
    first = sim_market(rig)
    second = sim_market(rig, "Will the other market matter?")
    await rig.runtime.handle(sim_intent(first, "0.62", "20"))
    await rig.runtime.handle(sim_intent(second, "0.72", "10", outcome=1, model="0.8"))
    await eventually(lambda: len(rig.runtime.positions()) == 2)
    for market, outcome in ((first, "Yes"), (second, "50/50")):
        body = {"condition_id": market.condition_id, "outcome": outcome, "redeem": False}
        await admin(sim, "POST", "resolve", body)
    await rig.runtime.reconcile("test")  # settles both: the payouts become redeemable
    cash_before, venue_before = rig.runtime.summary().cash, _wallet_cash(sim)
    assert rig.runtime.summary().redeemable == D(25)

    runs = await _run_until_settled(rig)
    again = await rig.runtime.redemption.run_once()  # type: ignore[union-attr]

    assert len(runs[0].sent) == 2  # both sent on the first run, pending until mined
    confirmed = sorted(op.payout for run in runs for op in run.confirmed)
    assert confirmed == [D(5), D(20)]
    assert again.sent == ()
    assert again.confirmed == ()
    assert len(_relayed(sim, REDEEM_POSITIONS)) == 2  # one relayed redemption per market
    assert all(tx.state == "STATE_CONFIRMED" for tx in _relayed(sim, REDEEM_POSITIONS))
    assert _wallet_cash(sim) == venue_before + D(25)
    assert rig.runtime.summary().cash == cash_before + D(25)
    assert rig.runtime.summary().redeemable == 0
    assert await rig.venue.positions() == []
    titles = []
    while (envelope := alerts.get_nowait()) is not None:
        if envelope.payload.kind == "redeem_confirmed":
            titles.append(envelope.payload.title)
    assert sorted(titles) == [
        "Redeemed: 20.00 pUSD: Will the kill switch work?",
        "Redeemed: 5.00 pUSD: Will the other market matter?",
    ]
    alerts.close()


async def test_a_pair_worth_more_merged_than_sold_is_merged_through_the_relayer(
    rig: Rig, sim: SimServer
) -> None:
    market = sim_market(rig)
    await rig.runtime.handle(sim_intent(market, "0.62", "10"))
    await rig.runtime.handle(sim_intent(market, "0.42", "10", outcome=1, model="0.55"))
    await eventually(lambda: len(rig.runtime.positions()) == 2)
    cash_before, venue_before = rig.runtime.summary().cash, _wallet_cash(sim)

    runs = await _run_until_settled(rig)

    merged = [op for run in runs for op in run.confirmed]
    assert [(op.kind.value, op.payout) for op in merged] == [("merge", D(10))]
    assert len(_relayed(sim, MERGE_POSITIONS)) == 1
    assert _wallet_cash(sim) == venue_before + D(10)
    assert rig.runtime.summary().cash == cash_before + D(10)
    assert rig.runtime.positions() == []
    assert await rig.venue.positions() == []


async def test_an_eoa_redeems_by_broadcasting_its_own_transaction(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], sim: SimServer
) -> None:
    # signature type 0: a legacy account (an EOA) with no relayer
    async with _live_rig(engine, sessions, sim, signature_type=0) as rig:
        await _hold_twenty_yes_resolved_yes(rig, sim)
        before = _eoa_cash(sim)

        runs = await _run_until_settled(rig)

        sent = list({op.id: op for run in runs for op in run.sent}.values())
        assert len(sent) == 1  # one operation, followed until mined
        assert sent[0].tx_id is not None
        assert sent[0].tx_id.startswith("0x")  # the broadcast's hash, not a relayer id
        assert [op.payout for run in runs for op in run.confirmed] == [D(20)]
        assert _eoa_cash(sim) == before + D(20)
        assert sim.runner.app[SIM_RELAYER].transactions == {}


async def test_a_redemption_the_restarted_relayer_lost_is_settled_from_the_holdings(
    rig: Rig, sim: SimServer
) -> None:
    """The relayer answers 404 for a tx id it took (the simulator restarted and lost it): not
    a failure to send again, an unknown settled from the holdings."""
    alerts = rig.bus.alerts.subscribe()
    await _hold_twenty_yes_resolved_yes(rig, sim)
    cash_before, venue_before = rig.runtime.summary().cash, _wallet_cash(sim)
    service = rig.runtime.redemption
    assert service is not None
    first = await service.run_once()
    relayer = sim.runner.app[SIM_RELAYER]

    def mined() -> bool:
        relayer.run_due()
        return all(tx.state == "STATE_CONFIRMED" for tx in relayer.transactions.values())

    await eventually(mined)
    relayer.transactions.clear()  # lost with the restart: GET .../transactions/{id} is a 404

    runs = await _run_until_settled(rig)

    assert [op.state.value for op in first.sent] == ["sent"]
    confirmed = [op for run in runs for op in run.confirmed]
    assert [(op.id, op.message) for op in confirmed] == [
        (first.sent[0].id, "settled from the holdings")
    ]
    assert [op.id for op in await service.recent()] == [first.sent[0].id]  # never sent again
    assert relayer.transactions == {}
    assert _wallet_cash(sim) == venue_before + D(20)
    assert rig.runtime.summary().cash == cash_before + D(20)
    kinds = []
    while (envelope := alerts.get_nowait()) is not None:
        kinds.append(envelope.payload.kind)
    assert "redeem_failed" not in kinds
    alerts.close()


async def test_an_eoa_hash_without_a_receipt_and_an_id_the_relayer_lost_are_unknown(
    sim: SimServer,
) -> None:
    """Never FAILED (the service would send again): UNKNOWN, settled from the holdings."""
    from trader.venue.chain import ChainTxState

    eoa = live_venue(sim, SystemClock(), signature_type=0)
    relayed = live_venue(sim, SystemClock(), **await deposit_wallet_account(sim, SIM_KEY))
    await eoa.start()
    await relayed.start()
    try:
        no_receipt = await eoa.tx_status("0x" + "ab" * 32)
        lost = await relayed.tx_status("0b6f4c1e-2a41-4d7e-9d6a-3c1f0e7a9b21")
    finally:
        await eoa.close()
        await relayed.close()

    assert no_receipt.state is ChainTxState.UNKNOWN
    assert no_receipt.message == "no receipt, and the node does not know the transaction"
    assert lost.state is ChainTxState.UNKNOWN
    assert lost.message == "the relayer does not know the transaction"


async def test_an_eoa_transaction_waiting_to_be_mined_past_the_grace_is_followed_not_sent_again(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], sim: SimServer
) -> None:
    """A broadcast the node holds but has not mined (a gas price too low, a congested chain) is
    pending, however long: failing it at the unsent grace would broadcast a second redemption
    beside it. Once mined, it is confirmed with its payout."""
    chain = sim.runner.app[SIM_CHAIN]
    no_grace = ExecutionConfig(book_feed=False, unknown_grace_s=0, redeem_unsent_grace_s=0.0)
    async with _live_rig(engine, sessions, sim, no_grace, signature_type=0) as rig:
        service = rig.runtime.redemption
        assert service is not None
        alerts = rig.bus.alerts.subscribe()
        try:
            await _hold_twenty_yes_resolved_yes(rig, sim)
            before = _eoa_cash(sim)
            chain.ctx.scenario = replace(chain.ctx.scenario, chain_confirm_s=3600.0)  # mined in 1 h

            first = await service.run_once()
            later = [await service.run_once() for _ in range(3)]  # the grace (0 s) long past
            waiting = await service.recent()
            for broadcast in chain.broadcasts:
                broadcast.due = 0.0  # the chain catches up
            runs = await _run_until_settled(rig)

            assert [op.state.value for op in first.sent] == ["sent"]
            followed = [([op.id for op in run.sent], run.failed, run.confirmed) for run in later]
            assert followed == [([first.sent[0].id], (), ())] * 3  # still sent, never failed
            assert [(op.id, op.state.value) for op in waiting] == [(first.sent[0].id, "sent")]
            assert [op.id for op in await service.recent()] == [first.sent[0].id]  # one broadcast
            assert [op.payout for run in runs for op in run.confirmed] == [D(20)]
            assert _eoa_cash(sim) == before + D(20)
            told = []
            while (envelope := alerts.get_nowait()) is not None:
                told.append((envelope.payload.kind, envelope.payload.title.split(":")[0]))
            not_mined = ("redeem_sent", "A redemption is not mined yet")
            assert told.count(not_mined) == 1  # once, not a run
            assert not [kind for kind, _ in told if kind == "redeem_failed"]
        finally:
            alerts.close()

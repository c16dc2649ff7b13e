"""Market resolution through the venues, against the CLOB simulator with the real SDK.

The live venue and the paper venue's Gamma source report a resolved market's payouts and never
an open market; the execution runtime picks the paper venue as its resolution source by itself,
and a paper position in a market that resolves is settled, redeemed into the paper cash, and
stays so when the paper venue is rebuilt from the database. Gamma being down delays the
settlement to a later reconciliation; it does not stop reconciliation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from polysim.clob.app import SimServer
from tests.support.execution_rig import (
    MemoryJournal,
    build_rig,
    live_venue,
    sim,
    sim_endpoints,
    sim_intent,
    sim_market,
)
from tests.support.sim import admin, condition_id, tokens
from tests.support.waiting import eventually
from trader.clock import SystemClock
from trader.venue.paper.journal import DatabaseFillJournal
from trader.venue.paper.venue import PaperVenue
from trader.venue.polymarket.market_data import PolymarketMarketData

__all__ = ["sim"]  # fixtures used by name below

D = Decimal


@pytest.fixture
async def data(sim: SimServer) -> AsyncIterator[PolymarketMarketData]:
    source = PolymarketMarketData(
        clock=SystemClock(), endpoints=sim_endpoints(sim), reconnect_base=0.05, snapshot_grace=0.3
    )
    await source.start()
    yield source
    await source.close()


async def resolve(sim: SimServer, condition: str, outcome: str) -> str:
    answer = await admin(sim, "POST", "resolve", {"condition_id": condition, "outcome": outcome})
    return str(answer["winner"])


def paying(winner: str, index: int, sim: SimServer) -> dict[str, Decimal]:
    return {token: D(1) if token == winner else D(0) for token in tokens(sim, index)}


async def test_live_venue_reports_the_winner_of_a_resolved_market_and_no_open_one(
    sim: SimServer,
) -> None:
    venue = live_venue(sim, SystemClock())
    await venue.start()
    first, second = condition_id(sim, 0), condition_id(sim, 1)
    try:
        before = await venue.resolved_markets([first, second])
        winner = await resolve(sim, first, "No")
        after = await venue.resolved_markets([first, second, "0xunknown"])
    finally:
        await venue.close()

    assert before == {}
    assert winner == tokens(sim, 0)[1]
    assert after == {first: paying(winner, 0, sim)}


async def test_gamma_source_answers_for_many_markets_in_batches(
    sim: SimServer, data: PolymarketMarketData
) -> None:
    first, second = condition_id(sim, 0), condition_id(sim, 1)
    unknown = [f"0x{n:064x}" for n in range(120)]  # more than one request's worth
    winner = await resolve(sim, second, "Yes")

    resolved = await data.resolved_markets([*unknown, first, second.upper()])

    assert resolved == {second.upper(): paying(winner, 1, sim)}  # keyed as asked
    assert winner == tokens(sim, 1)[0]


async def test_a_paper_position_in_a_resolved_market_is_settled_then_redeemed_by_the_service(
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    sim: SimServer,
    data: PolymarketMarketData,
) -> None:
    clock = SystemClock()
    venue = PaperVenue(
        data,
        bankroll=D(1000),
        clock=clock,
        journal=DatabaseFillJournal(sessions, clock),
    )
    await venue.start()
    rig = await build_rig(engine, sessions, venue, clock)  # no resolution source given
    rig.run("execution.writer", "execution.fills")
    try:
        alerts = rig.bus.alerts.subscribe()
        market = sim_market(rig)
        yes, no = (t.token_id for t in market.tokens)
        await rig.runtime.handle(sim_intent(market, "0.62", "20"))
        await rig.runtime.handle(sim_intent(market, "0.42", "10", outcome=1, model="0.55"))
        portfolio = rig.runtime
        await eventually(lambda: portfolio.position(no) is not None)
        cost = {t: p.size * p.average_price for t in (yes, no) if (p := portfolio.position(t))}
        cash_before = portfolio.summary().cash
        await resolve(sim, market.condition_id, "Yes")

        settled = await rig.runtime.reconcile("test")
        held_after_settling = {p.token_id for p in await venue.positions()}
        assert rig.runtime.redemption is not None
        run = await rig.runtime.redemption.run_once()
        result = await rig.runtime.reconcile("test")

        assert rig.runtime.resolutions is venue
        assert portfolio.positions() == []
        assert held_after_settling == {yes, no}  # as at the venue: held until redeemed
        assert not any(c.kind == "set_position" for c in settled.corrections)
        assert [op.payout for op in run.confirmed] == [D(20)]
        assert await venue.positions() == []
        realized = {r.token_id: r.pnl for r in portfolio.realizations()}
        assert realized == {yes: D(20) - cost[yes], no: -cost[no]}
        paper_cash = (await venue.balance()).cash
        assert portfolio.summary().cash == paper_cash == cash_before + D(20)
        assert portfolio.summary().redeemable == 0
        assert result.corrections == ()
        resolved = []
        while (envelope := alerts.get_nowait()) is not None:
            if envelope.payload.kind == "market_resolved":
                resolved.append(envelope.payload)
        assert len(resolved) == 1
        alerts.close()
    finally:
        await rig.stop()
        await rig.events.close()
        await venue.close()

    rebuilt = PaperVenue(
        data,
        bankroll=D(1000),
        clock=clock,
        journal=DatabaseFillJournal(sessions, clock),
    )
    await rebuilt.start()
    assert (await rebuilt.balance()).cash == paper_cash
    assert await rebuilt.positions() == []
    await rebuilt.close()


async def test_reconciliation_goes_on_while_resolutions_cannot_be_read(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], sim: SimServer
) -> None:
    clock = SystemClock()
    data = PolymarketMarketData(clock=clock, endpoints=sim_endpoints(sim), read_attempts=1)
    await data.start()
    venue = PaperVenue(data, bankroll=D(1000), clock=clock, journal=MemoryJournal())
    await venue.start()
    rig = await build_rig(engine, sessions, venue, clock)
    rig.run("execution.writer", "execution.fills")
    try:
        market = sim_market(rig)
        yes = market.tokens[0].token_id
        await rig.runtime.handle(sim_intent(market, "0.62", "20"))
        await resolve(sim, market.condition_id, "Yes")
        await admin(sim, "POST", "faults", {"kind": "server_error", "path": "/gamma/*"})

        during = await rig.runtime.reconcile("test")
        held = rig.runtime.position(yes)
        await admin(sim, "DELETE", "faults")
        await rig.runtime.reconcile("test")

        assert during.position_mismatch_value == 0
        assert held is not None
        assert held.size == D(20)
        assert rig.runtime.positions() == []  # settled on the next run
    finally:
        await rig.stop()
        await rig.events.close()
        await venue.close()
        await data.close()

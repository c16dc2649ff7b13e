"""Cash flows the operator enters in paper mode (`/deposit`, `/withdraw` through the Control
API): the paper balance moves, equity with it, the day's PnL and the drawdown do not; the
entry survives a restart (the paper venue reads it back from `cash_flows`) and the next
reconciliation finds nothing to explain. A live venue refuses an entry."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tests.support.execution_rig import NO, YES, book, build_rig, buy, market
from trader.clock import FakeClock
from trader.control.types import ControlError, PnlPeriod
from trader.execution.store import SqlExecutionStore
from trader.venue.paper.feed import StaticMarketData
from trader.venue.paper.journal import DatabaseFillJournal
from trader.venue.paper.venue import PaperVenue

D = Decimal


async def test_an_entered_withdrawal_is_not_pnl_and_survives_a_restart(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    clock = FakeClock()
    data = StaticMarketData(clock, [market(clock=clock)])
    data.set_book(book(YES, [("0.48", "100")], [("0.52", "100"), ("0.53", "100")]))
    data.set_book(book(NO, [("0.47", "100")], [("0.51", "100")]))

    async def start() -> tuple[PaperVenue, object]:
        venue = PaperVenue(
            data, bankroll=D(1000), clock=clock, journal=DatabaseFillJournal(sessions, clock)
        )
        await venue.start()
        rig = await build_rig(engine, sessions, venue, clock, data=data)
        rig.run("execution.writer", "execution.fills")
        return venue, rig

    venue, rig = await start()
    try:
        await rig.runtime.handle(buy())  # 20 YES at 0.52
        await rig.runtime.flush()
        await rig.runtime.accounts.snapshot()
        before = rig.runtime.summary()

        done = await rig.runtime.accounts.record_cash_flow("telegram:ada", D(-300), "rent")
        await rig.runtime.reconcile("test")

        after = rig.runtime.summary()
        assert done.amount == D(-300)
        assert (await venue.balance()).cash == before.cash - D(300)
        assert after.equity == before.equity - D(300)
        assert after.day_pnl == before.day_pnl
        assert abs(after.drawdown - before.drawdown) < D("1e-12")  # 0.08%, as before
        pnl = await rig.runtime.accounts.pnl(PnlPeriod.DAY)
        assert pnl.cash_flows == D(-300)
        await rig.events.flush()
        entered = [e.payload for e in await rig.events.recent(100) if e.type == "cash_flow"]
        assert [(e["amount"], e["source"]) for e in entered] == [("-300", "telegram:ada")]
        store = SqlExecutionStore(sessions, clock)
        flows = await store.cash_flows(clock.now().replace(year=2000))
        assert [(f.amount, f.reason, f.source) for f in flows] == [
            (D(-300), "rent", "telegram:ada")
        ]
        with pytest.raises(ControlError, match="leaves less than nothing"):
            await rig.runtime.accounts.record_cash_flow("telegram:ada", D(-5000), "")
    finally:
        await rig.stop()
        await rig.events.close()
        await venue.close()

    venue, rig = await start()  # a restart: the paper venue and the portfolio agree
    try:
        assert (await venue.balance()).cash == after.cash
        assert rig.runtime.summary().equity == after.equity
        again = SqlExecutionStore(sessions, clock)
        assert len(await again.cash_flows(clock.now().replace(year=2000))) == 1
    finally:
        await rig.stop()
        await rig.events.close()
        await venue.close()
        data.close()

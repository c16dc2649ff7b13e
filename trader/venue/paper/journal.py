"""The paper venue's memory in the app: the fills table of the trader's own database.

`PaperVenue` derives its cash and positions from the fills it has made, reloaded on `start()`
(`trader.venue.paper.venue.FillJournal`). In the app those fills are already in the database: the
execution engine persists every fill the venue reports to it. `DatabaseFillJournal` reads them
back; it writes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from trader.clock import Clock
from trader.domain import Fill, TradeStatus
from trader.store.repositories import CashFlowRepository
from trader.store.tables import ChainOperationRow
from trader.store.trading import FillRepository
from trader.venue.paper.ledger import NOT_TRADES, ChainRecord

SINCE_EVER = datetime(2000, 1, 1, tzinfo=UTC)  # before any fill this trader could have made
HALF = Decimal("0.5")
VENUE_SOURCE = "venue"  # a cash flow found in the venue's balance (trader.execution.cash_flows)


class DatabaseFillJournal:
    """Paper fills as the database's fills table records them.

    `load()` returns every recorded fill, oldest first, except failed trades (they moved no
    shares and no money) and the execution core's bookkeeping (settlement fills when a market
    resolves, the two sells that book a merge): the paper ledger folds them into cash and
    positions. What the paper venue redeemed or merged is `chain_records()`: the
    `chain_operations` rows it accepted (a tx id: sent or confirmed), replayed in time order
    with the fills. A redemption the venue made but whose tx id the crash lost is lost from both
    the database and the restarted venue, so the two agree (the service then finds the shares
    still held and asks again).

    `record()` does nothing, on purpose. Every fill the paper venue makes reaches the execution
    engine, in the submit's answer or on the venue's `fills()` stream, and the engine persists
    each fill it has not seen, with the correlation id of the intent behind it, through its
    write-behind queue. Recording it here as well would be a second writer of the same row:
    fills are keyed on (trade id, order id) and a second insert is ignored, so whichever write
    landed first would win, and if it were this one the row would lose its correlation id.

    What follows from one writer: the paper venue after a restart is exactly what the database
    says, no more. A fill made in the last moments before a crash, still in the engine's
    write-behind queue, is lost from both the database and the restarted paper venue, so the two
    still agree (as if the paper venue had never made it). One database per trading mode: a
    paper venue over a database that holds live fills would count them against its bankroll.
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock) -> None:
        self._sessions = sessions
        self._fills = FillRepository(sessions, clock)
        self._flows = CashFlowRepository(sessions, clock)

    async def transfers(self) -> Decimal:
        """What the operator deposited less withdrew (`/deposit`, `/withdraw`): the rows of
        `cash_flows` an operator entered. A flow the reconciler found in the venue's balance
        (source "venue") is not one: the paper balance moves only by fills and entries."""
        rows = await self._flows.since(SINCE_EVER)
        return sum((r.amount for r in rows if r.source != VENUE_SOURCE), Decimal(0))

    async def load(self) -> list[Fill]:
        fills = await self._fills.since(SINCE_EVER)
        return [
            f for f in fills if f.status is not TradeStatus.FAILED and f.liquidity not in NOT_TRADES
        ]

    async def chain_records(self) -> list[ChainRecord]:
        accepted = (ChainOperationRow.tx_id.is_not(None)) & (
            ChainOperationRow.state.in_(("sent", "confirmed"))
        )
        async with self._sessions() as session:
            rows = (await session.scalars(select(ChainOperationRow).where(accepted))).all()
        return [
            ChainRecord(
                tx_id=row.tx_id or row.id,
                kind=row.kind,
                market=row.market,
                at=row.created_at,
                amounts={t: Decimal(v) for t, v in row.amounts.items()},
                # a merge: half a pair each side, as the paper venue booked it
                prices={
                    t: HALF if row.kind == "merge" else Decimal(v) for t, v in row.prices.items()
                },
            )
            for row in rows
        ]

    async def record(self, fill: Fill) -> None:
        """Nothing to do: the execution engine persists this fill (see the class docstring)."""

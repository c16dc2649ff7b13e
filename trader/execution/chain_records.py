"""The redemption service's records: one row per redemption or merge, written before it is sent.

`ChainOperation` is the record (`chain_operations` table); `ChainOperationStore` the protocol
the service is handed, `SqlChainOperationStore` its database implementation (a memory one
lives in the tests' support). States move one way: requested (written, then the venue is
called) -> sent (the venue accepted it and named it: `tx_id`) -> confirmed or failed. A
record still "requested" after a crash may have reached the venue: the service settles it
from the holdings, never by sending again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Protocol

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from trader.domain import ZERO
from trader.store.tables import ChainOperationRow, MarketRow

LEGACY = "legacy"  # rows the migration wrote for markets paper redeemed before the service


class OperationKind(StrEnum):
    REDEEM = "redeem"
    MERGE = "merge"


class OperationState(StrEnum):
    REQUESTED = "requested"  # written; the venue is being (or may have been) called
    SENT = "sent"  # accepted by the venue: tx_id names it
    CONFIRMED = "confirmed"  # mined: the collateral moved, and our cash with it
    FAILED = "failed"  # refused, reverted or never sent: nothing moved

    @property
    def finished(self) -> bool:
        return self in (OperationState.CONFIRMED, OperationState.FAILED)


@dataclass(frozen=True, slots=True)
class ChainOperation:
    id: str
    kind: OperationKind
    market: str
    state: OperationState
    created_at: datetime
    updated_at: datetime
    amounts: Mapping[str, Decimal] = field(default_factory=dict)  # token -> shares given up
    prices: Mapping[str, Decimal] = field(default_factory=dict)  # token -> collateral a share
    payout: Decimal = ZERO  # collateral expected in all
    neg_risk: bool = False
    tx_id: str | None = None
    tx_hash: str | None = None
    requested_by: str = "system:trader"
    correlation_id: str = ""
    message: str = ""

    @property
    def legacy(self) -> bool:
        return self.requested_by == LEGACY


class ChainOperationStore(Protocol):
    async def insert(self, operation: ChainOperation) -> None: ...

    async def update(self, operation: ChainOperation) -> None: ...

    async def unfinished(self) -> list[ChainOperation]:
        """Requested or sent, oldest first."""
        ...

    async def of_market(self, market: str) -> list[ChainOperation]:
        """Every record of `market`, oldest first."""
        ...

    async def recent(self, limit: int = 20) -> list[ChainOperation]: ...

    async def market_facts(self, market: str) -> tuple[str, bool] | None:
        """(question, neg_risk) of a market the `markets` table knows (a resolved market
        leaves the venue's listing, and the board of a restarted process with it)."""
        ...


def to_row(op: ChainOperation) -> ChainOperationRow:
    return ChainOperationRow(
        id=op.id,
        kind=op.kind.value,
        market=op.market,
        state=op.state.value,
        created_at=op.created_at,
        updated_at=op.updated_at,
        amounts={t: str(v) for t, v in op.amounts.items()},
        prices={t: str(v) for t, v in op.prices.items()},
        payout=op.payout,
        neg_risk=op.neg_risk,
        tx_id=op.tx_id,
        tx_hash=op.tx_hash,
        requested_by=op.requested_by,
        correlation_id=op.correlation_id or None,
        message=op.message,
    )


def from_row(row: ChainOperationRow) -> ChainOperation:
    return ChainOperation(
        id=row.id,
        kind=OperationKind(row.kind),
        market=row.market,
        state=OperationState(row.state),
        created_at=row.created_at,
        updated_at=row.updated_at,
        amounts={t: Decimal(v) for t, v in (row.amounts or {}).items()},
        prices={t: Decimal(v) for t, v in (row.prices or {}).items()},
        payout=row.payout,
        neg_risk=row.neg_risk,
        tx_id=row.tx_id,
        tx_hash=row.tx_hash,
        requested_by=row.requested_by,
        correlation_id=row.correlation_id or "",
        message=row.message,
    )


class SqlChainOperationStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def insert(self, operation: ChainOperation) -> None:
        async with self._sessions.begin() as session:
            session.add(to_row(operation))

    async def update(self, operation: ChainOperation) -> None:
        values = {
            k: v for k, v in vars_of(to_row(operation)).items() if k not in ("id", "created_at")
        }
        async with self._sessions.begin() as session:
            await session.execute(
                update(ChainOperationRow)
                .where(ChainOperationRow.id == operation.id)
                .values(**values)
            )

    async def unfinished(self) -> list[ChainOperation]:
        states = (OperationState.REQUESTED.value, OperationState.SENT.value)
        return await self._select(
            select(ChainOperationRow).where(ChainOperationRow.state.in_(states))
        )

    async def of_market(self, market: str) -> list[ChainOperation]:
        return await self._select(
            select(ChainOperationRow).where(ChainOperationRow.market == market)
        )

    async def recent(self, limit: int = 20) -> list[ChainOperation]:
        query = select(ChainOperationRow).order_by(ChainOperationRow.created_at.desc())
        return list(reversed(await self._select(query.limit(limit), ordered=False)))

    async def market_facts(self, market: str) -> tuple[str, bool] | None:
        async with self._sessions() as session:
            row = await session.get(MarketRow, market)
        return None if row is None else (row.question, row.neg_risk)

    async def _select(self, query: object, *, ordered: bool = True) -> list[ChainOperation]:
        if ordered:
            query = query.order_by(ChainOperationRow.created_at, ChainOperationRow.id)  # type: ignore[attr-defined]
        async with self._sessions() as session:
            rows = (await session.scalars(query)).all()  # type: ignore[call-overload]
        return [from_row(r) for r in rows]


def vars_of(row: ChainOperationRow) -> dict[str, object]:
    return {c.key: getattr(row, c.key) for c in ChainOperationRow.__table__.columns}

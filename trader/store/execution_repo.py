"""The queries the execution core needs beyond the shared repositories.

Reconciliation asks which venue order ids we already have rows for and what status our
recorded fills have; the portfolio restarts from every fill and the equity just before the
operator's midnight; the Control API lists orders. Money stays exact: comparisons and sums of
money happen in Python (SQLite keeps decimals as text, see `trader.store.types`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select

from trader.domain import TradeStatus
from trader.store.repositories import Repository
from trader.store.tables import EquitySnapshotRow, FillRow, OrderRow

_CHUNK = 500  # keep IN lists well under SQLite's parameter limit


class ExecutionRepository(Repository):
    async def known_venue_order_ids(self, order_ids: Iterable[str]) -> set[str]:
        """Which of these venue order ids have a row in `orders`."""
        wanted = list(dict.fromkeys(order_ids))
        found: set[str] = set()
        async with self._sessions() as session:
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start : start + _CHUNK]
                query = select(OrderRow.venue_order_id).where(OrderRow.venue_order_id.in_(chunk))
                found.update(v for v in (await session.scalars(query)).all() if v)
        return found

    async def orders_by_venue_ids(self, order_ids: Iterable[str]) -> list[OrderRow]:
        """The rows of these venue order ids (those we have)."""
        wanted = list(dict.fromkeys(order_ids))
        rows: list[OrderRow] = []
        async with self._sessions() as session:
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start : start + _CHUNK]
                query = select(OrderRow).where(OrderRow.venue_order_id.in_(chunk))
                rows.extend((await session.scalars(query)).all())
        return rows

    async def fill_statuses(
        self, since: datetime | None = None
    ) -> dict[tuple[str, str], TradeStatus]:
        """(trade id, order id) -> status of every recorded fill (at or after `since`)."""
        query = select(FillRow.trade_id, FillRow.order_id, FillRow.status)
        if since is not None:
            query = query.where(FillRow.ts >= since)
        async with self._sessions() as session:
            rows = (await session.execute(query)).all()
        return {(trade, order): TradeStatus(status) for trade, order, status in rows}

    async def orders(self, *, since: datetime | None = None, limit: int = 1000) -> list[OrderRow]:
        """Orders created at or after `since`, newest first."""
        query = select(OrderRow).order_by(OrderRow.id.desc()).limit(limit)
        if since is not None:
            query = query.where(OrderRow.created_at >= since)
        return await self._all(query)

    async def equity_before(self, at: datetime) -> EquitySnapshotRow | None:
        """The last equity snapshot strictly before `at`."""
        query = (
            select(EquitySnapshotRow)
            .where(EquitySnapshotRow.ts < at)
            .order_by(EquitySnapshotRow.ts.desc(), EquitySnapshotRow.id.desc())
        )
        row: EquitySnapshotRow | None = await self._first(query)
        return row

    async def equity_from(self, at: datetime) -> EquitySnapshotRow | None:
        """The first equity snapshot at or after `at`."""
        query = (
            select(EquitySnapshotRow)
            .where(EquitySnapshotRow.ts >= at)
            .order_by(EquitySnapshotRow.ts, EquitySnapshotRow.id)
        )
        row: EquitySnapshotRow | None = await self._first(query)
        return row

"""`SqlExecutionStore`: the execution store over the database, for the app. Its writes go
through `trader.store.trading.trading_writes` (on a SQLite file the engine's one `DirectWriter`,
without a thread hop, carrying the event log's buffered events in the same transaction), its
reads through the repositories; with the conversions between `OrderRecord` and its row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from trader.clock import Clock
from trader.domain import Fill, OrderStatus, OrderType, Position, Side, TradeStatus
from trader.execution.cash_flows import CashFlow
from trader.execution.portfolio import PortfolioSummary
from trader.execution.store.base import OrderRecord
from trader.store.execution_repo import ExecutionRepository
from trader.store.repositories import CashFlowRepository, EquityRepository
from trader.store.tables import CashFlowRow, EquitySnapshotRow, OrderRow
from trader.store.trading import (
    FillRepository,
    FillWrite,
    OrderChange,
    OrderRepository,
    PositionRepository,
    trading_writes,
)

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def record_from_row(row: OrderRow) -> OrderRecord:
    return OrderRecord(
        client_order_id=row.client_order_id,
        order_id=row.venue_order_id or "",
        token_id=row.token_id,
        market=row.market,
        side=Side(row.side),
        price=row.price,
        size=row.size,
        status=OrderStatus(row.status),
        created_at=row.created_at,
        size_matched=row.size_matched,
        order_type=OrderType(row.order_type),
        post_only=row.post_only,
        expires_at=row.expires_at,
        strategy=row.strategy,
        correlation_id=row.correlation_id or "",
        signed_payload=row.signed_payload or "",
        error=row.error or "",
    )


def order_values(order: OrderRecord) -> dict[str, Any]:
    """The order's `OrderRow` column values (no ORM instance: this is the hot path)."""
    return {
        "client_order_id": order.client_order_id,
        "market": order.market,
        "token_id": order.token_id,
        "side": order.side.value,
        "price": order.price,
        "size": order.size,
        "status": order.status.value,
        "created_at": order.created_at,
        "updated_at": order.created_at,
        "venue_order_id": order.order_id or None,
        "size_matched": order.size_matched,
        "order_type": order.order_type.value,
        "post_only": order.post_only,
        "expires_at": order.expires_at,
        "strategy": order.strategy,
        "correlation_id": order.correlation_id or None,
        "signed_payload": order.signed_payload or None,
        "error": order.error or None,
    }


class SqlExecutionStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock) -> None:
        self._clock = clock
        self._writes = trading_writes(sessions, clock)
        self._orders = OrderRepository(sessions, clock)
        self._fills = FillRepository(sessions, clock)
        self._positions = PositionRepository(sessions, clock)
        self._equity = EquityRepository(sessions, clock)
        self._flows = CashFlowRepository(sessions, clock)
        self._queries = ExecutionRepository(sessions, clock)

    @property
    def carries_events(self) -> bool:
        return self._writes.carries_events

    async def insert_order(self, order: OrderRecord) -> None:
        await self._writes.insert_order(order_values(order))

    async def update_order(
        self,
        client_order_id: str,
        *,
        status: OrderStatus | None = None,
        size_matched: Decimal | None = None,
        error: str | None = None,
    ) -> None:
        await self._writes.update_order(
            client_order_id, status=status, size_matched=size_matched, error=error
        )

    async def record_fill(self, fill: Fill, correlation_id: str | None) -> bool:
        return await self._writes.record_fill(fill, correlation_id)

    async def record_fill_and_position(
        self, fill: Fill, correlation_id: str | None, position: Position
    ) -> bool:
        return await self._writes.record_fill_and_position(fill, correlation_id, position)

    async def record_rows(self, fills: Sequence[FillWrite], orders: Sequence[OrderChange]) -> None:
        await self._writes.record_rows(fills, orders)

    async def set_fill_status(self, trade_id: str, order_id: str, status: TradeStatus) -> None:
        await self._writes.set_fill_status(trade_id, order_id, status)

    async def save_position(self, position: Position) -> None:
        await self._writes.save_position(position)

    async def open_orders(self) -> list[OrderRecord]:
        return [record_from_row(row) for row in await self._orders.open_orders()]

    async def recent_orders(self, limit: int = 50) -> list[OrderRecord]:
        return [record_from_row(row) for row in await self._queries.orders(limit=limit)]

    async def known_order_ids(self, order_ids: Iterable[str]) -> set[str]:
        return await self._queries.known_venue_order_ids(order_ids)

    async def orders_by_ids(self, order_ids: Iterable[str]) -> list[OrderRecord]:
        return [record_from_row(r) for r in await self._queries.orders_by_venue_ids(order_ids)]

    async def fill_statuses(self) -> dict[tuple[str, str], TradeStatus]:
        return await self._queries.fill_statuses()

    async def fills(self, since: datetime | None = None) -> list[Fill]:
        return await self._fills.since(since or EPOCH)

    async def positions(self) -> list[Position]:
        return await self._positions.all()

    async def save_equity(self, summary: PortfolioSummary) -> None:
        await self._equity.insert(
            EquitySnapshotRow(
                ts=summary.at,
                equity=summary.equity,
                cash=summary.cash,
                exposure=summary.exposure,
                unrealized=summary.unrealized,
                realized=summary.realized,
                drawdown=summary.drawdown,
            )
        )

    async def equity_before(self, at: datetime) -> Decimal | None:
        row = await self._queries.equity_before(at)
        return None if row is None else row.equity

    async def equity_from(self, at: datetime) -> Decimal | None:
        row = await self._queries.equity_from(at)
        return None if row is None else row.equity

    async def record_cash_flow(self, flow: CashFlow, correlation_id: str | None) -> None:
        await self._flows.insert(
            CashFlowRow(
                ts=flow.at,
                amount=flow.amount,
                reason=flow.reason,
                source=flow.source,
                correlation_id=correlation_id,
            )
        )

    async def cash_flows(self, since: datetime) -> list[CashFlow]:
        rows = await self._flows.since(since)
        return [CashFlow(r.ts, r.amount, r.reason, r.source) for r in rows]

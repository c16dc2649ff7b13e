"""`MemoryExecutionStore`: the execution store's records in dicts, with no database, for the
hot-path benchmark and the fast tests.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from trader.domain import ZERO, Fill, OrderStatus, Position, TradeStatus
from trader.execution.cash_flows import CashFlow
from trader.execution.portfolio import PortfolioSummary
from trader.execution.store.base import OrderRecord
from trader.store.trading import FillWrite, OrderChange


class MemoryExecutionStore:
    """The same records in dicts: for the benchmark and tests that need no database."""

    carries_events = False

    def __init__(self) -> None:
        self.orders: dict[str, OrderRecord] = {}
        self.fill_rows: dict[tuple[str, str], Fill] = {}
        self.position_rows: dict[str, Position] = {}
        self.equity: list[PortfolioSummary] = []
        self.flows: list[CashFlow] = []

    async def insert_order(self, order: OrderRecord) -> None:
        if order.client_order_id in self.orders:
            raise ValueError(f"duplicate client order id {order.client_order_id}")
        self.orders[order.client_order_id] = order

    async def update_order(
        self,
        client_order_id: str,
        *,
        status: OrderStatus | None = None,
        size_matched: Decimal | None = None,
        error: str | None = None,
    ) -> None:
        row = self.orders.get(client_order_id)
        if row is None:
            return
        self.orders[client_order_id] = replace(
            row,
            status=status or row.status,
            size_matched=row.size_matched if size_matched is None else size_matched,
            error=row.error if error is None else error,
        )

    async def record_fill(self, fill: Fill, correlation_id: str | None) -> bool:
        if fill.key in self.fill_rows:
            return False
        self.fill_rows[fill.key] = fill
        return True

    async def record_fill_and_position(
        self, fill: Fill, correlation_id: str | None, position: Position
    ) -> bool:
        self.position_rows[position.token_id] = position
        return await self.record_fill(fill, correlation_id)

    async def record_rows(self, fills: Sequence[FillWrite], orders: Sequence[OrderChange]) -> None:
        for fill, correlation_id, position in fills:
            await self.record_fill_and_position(fill, correlation_id, position)
        for change in orders:
            await self.update_order(
                change.client_order_id,
                status=change.status,
                size_matched=change.size_matched,
                error=change.error,
            )

    async def set_fill_status(self, trade_id: str, order_id: str, status: TradeStatus) -> None:
        fill = self.fill_rows.get((trade_id, order_id))
        if fill is not None:
            self.fill_rows[fill.key] = replace(fill, status=status)

    async def save_position(self, position: Position) -> None:
        self.position_rows[position.token_id] = position

    async def open_orders(self) -> list[OrderRecord]:
        return [o for o in self.orders.values() if o.status.is_open]

    async def recent_orders(self, limit: int = 50) -> list[OrderRecord]:
        return list(reversed(self.orders.values()))[:limit]

    async def known_order_ids(self, order_ids: Iterable[str]) -> set[str]:
        known = {o.order_id for o in self.orders.values()}
        return {order_id for order_id in order_ids if order_id in known}

    async def orders_by_ids(self, order_ids: Iterable[str]) -> list[OrderRecord]:
        wanted = set(order_ids)
        return [o for o in self.orders.values() if o.order_id in wanted]

    async def fill_statuses(self) -> dict[tuple[str, str], TradeStatus]:
        return {key: fill.status for key, fill in self.fill_rows.items()}

    async def fills(self, since: datetime | None = None) -> list[Fill]:
        return [f for f in self.fill_rows.values() if since is None or f.timestamp >= since]

    async def positions(self) -> list[Position]:
        return [p for p in self.position_rows.values() if p.size != ZERO]

    async def save_equity(self, summary: PortfolioSummary) -> None:
        self.equity.append(summary)

    async def equity_before(self, at: datetime) -> Decimal | None:
        before = [s for s in self.equity if s.at < at]
        return before[-1].equity if before else None

    async def equity_from(self, at: datetime) -> Decimal | None:
        after = [s for s in self.equity if s.at >= at]
        return after[0].equity if after else None

    async def record_cash_flow(self, flow: CashFlow, correlation_id: str | None) -> None:
        self.flows.append(flow)

    async def cash_flows(self, since: datetime) -> list[CashFlow]:
        return [f for f in self.flows if f.at >= since]

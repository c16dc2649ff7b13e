"""The execution store's protocol (`ExecutionStore`) and the order record it keeps
(`OrderRecord`): what the engine, reconciliation and the accounts write and read, whichever
implementation holds it (`sql`, `memory`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from trader.domain import ZERO, Fill, OrderStatus, OrderType, Position, Side, TradeStatus
from trader.execution.cash_flows import CashFlow
from trader.execution.portfolio import PortfolioSummary
from trader.store.trading import FillWrite, OrderChange


@dataclass(frozen=True, slots=True)
class OrderRecord:
    client_order_id: str
    order_id: str  # the venue's id, known before submit
    token_id: str
    market: str
    side: Side
    price: Decimal
    size: Decimal
    status: OrderStatus
    created_at: datetime
    size_matched: Decimal = ZERO
    order_type: OrderType = OrderType.GTC
    post_only: bool = False
    expires_at: datetime | None = None
    strategy: str = "manual"
    correlation_id: str = ""
    signed_payload: str = ""
    error: str = ""


class ExecutionStore(Protocol):
    @property
    def carries_events(self) -> bool:
        """Whether `record_rows` commits the event log's buffered events in its transaction
        (a SQLite file: the engine's one direct writer); if not, the caller writes them first."""
        ...

    async def insert_order(self, order: OrderRecord) -> None: ...

    async def update_order(
        self,
        client_order_id: str,
        *,
        status: OrderStatus | None = None,
        size_matched: Decimal | None = None,
        error: str | None = None,
    ) -> None: ...

    async def record_fill(self, fill: Fill, correlation_id: str | None) -> bool: ...

    async def record_fill_and_position(
        self, fill: Fill, correlation_id: str | None, position: Position
    ) -> bool:
        """The fill and the position it leaves, atomically (a crash keeps both or neither)."""
        ...

    async def record_rows(self, fills: Sequence[FillWrite], orders: Sequence[OrderChange]) -> None:
        """A submit's answer or a streamed fill: the fills with the positions they leave and
        the order changes, in one transaction (with the buffered events if `carries_events`)."""
        ...

    async def set_fill_status(self, trade_id: str, order_id: str, status: TradeStatus) -> None: ...

    async def save_position(self, position: Position) -> None: ...

    async def open_orders(self) -> list[OrderRecord]: ...

    async def recent_orders(self, limit: int = 50) -> list[OrderRecord]: ...

    async def known_order_ids(self, order_ids: Iterable[str]) -> set[str]: ...

    async def orders_by_ids(self, order_ids: Iterable[str]) -> list[OrderRecord]: ...

    async def fill_statuses(self) -> dict[tuple[str, str], TradeStatus]: ...

    async def fills(self, since: datetime | None = None) -> list[Fill]: ...

    async def positions(self) -> list[Position]: ...

    async def save_equity(self, summary: PortfolioSummary) -> None: ...

    async def equity_before(self, at: datetime) -> Decimal | None: ...

    async def equity_from(self, at: datetime) -> Decimal | None: ...

    async def record_cash_flow(self, flow: CashFlow, correlation_id: str | None) -> None: ...

    async def cash_flows(self, since: datetime) -> list[CashFlow]: ...

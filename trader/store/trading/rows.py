"""Trading rows and the statements over them: a row as its domain value (`order_from_row`,
`fill_from_row`, `market_from_row`), an order row's change (`OrderChange`) and a fill to record
(`FillWrite`), and the statements the repositories and the direct writes share (an order's
changes, a fill's insert, a position's upsert, with their column values).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import Insert, Update, update

from trader.domain import (
    Fill,
    Market,
    Order,
    OrderStatus,
    OrderType,
    OutcomeToken,
    Position,
    Side,
    TradeStatus,
)
from trader.store.repositories import insert_ignore, upsert
from trader.store.tables import FillRow, MarketRow, OrderRow, PositionRow, table_of

OPEN_STATUSES = tuple(status.value for status in OrderStatus if status.is_open)
# a fill to record, with its order's correlation id and the position it leaves
FillWrite = tuple[Fill, str | None, Position]


class OrderChange(NamedTuple):
    """An order row's new status, matched size or error (None: unchanged)."""

    client_order_id: str
    status: OrderStatus | None = None
    size_matched: Decimal | None = None
    error: str | None = None

    def then(self, later: OrderChange) -> OrderChange:
        """This change followed by `later` (of the same order), as one."""
        return OrderChange(
            self.client_order_id,
            later.status if later.status is not None else self.status,
            later.size_matched if later.size_matched is not None else self.size_matched,
            later.error if later.error is not None else self.error,
        )


def order_from_row(row: OrderRow) -> Order:
    return Order(
        order_id=row.venue_order_id or "",
        token_id=row.token_id,
        side=Side(row.side),
        price=row.price,
        original_size=row.size,
        size_matched=row.size_matched,
        status=OrderStatus(row.status),
        created_at=row.created_at,
        market=row.market,
        order_type=OrderType(row.order_type),
        client_order_id=row.client_order_id,
    )


def fill_from_row(row: FillRow) -> Fill:
    return Fill(
        trade_id=row.trade_id,
        order_id=row.order_id,
        token_id=row.token_id,
        side=Side(row.side),
        price=row.price,
        size=row.size,
        fee=row.fee,
        timestamp=row.ts,
        market=row.market,
        status=TradeStatus(row.status),
        liquidity=row.liquidity,
    )


def market_from_row(row: MarketRow) -> Market:
    return Market(
        condition_id=row.condition_id,
        question=row.question,
        tokens=tuple(OutcomeToken(t["token_id"], t["outcome"]) for t in row.tokens),
        end_date=row.end_date,
        active=row.active,
        closed=row.closed,
        accepting_orders=row.accepting_orders,
        tick_size=row.tick_size,
        min_order_size=row.min_order_size,
        neg_risk=row.neg_risk,
        volume=row.volume,
        liquidity=row.liquidity,
        slug=row.slug,
        description=row.description,
    )


def order_changes(
    now: datetime,
    *,
    status: OrderStatus | None = None,
    size_matched: Decimal | None = None,
    venue_order_id: str | None = None,
    signed_payload: str | None = None,
    error: str | None = None,
) -> dict[str, Any]:
    changes: dict[str, Any] = {
        "status": None if status is None else str(status),
        "size_matched": size_matched,
        "venue_order_id": venue_order_id,
        "signed_payload": signed_payload,
        "error": error,
    }
    return {name: value for name, value in changes.items() if value is not None} | {
        "updated_at": now
    }


def fill_insert(dialect: str, fill: Fill, correlation_id: str | None) -> Insert:
    return insert_ignore(dialect, table_of(FillRow), fill_values(fill, correlation_id))


def fill_values(fill: Fill, correlation_id: str | None) -> dict[str, Any]:
    """A `FillRow`'s column values (the hot path's: no ORM instance is built for them)."""
    return {
        "trade_id": fill.trade_id,
        "order_id": fill.order_id,
        "token_id": fill.token_id,
        "side": str(fill.side),
        "price": fill.price,
        "size": fill.size,
        "ts": fill.timestamp,
        "fee": fill.fee,
        "market": fill.market,
        "status": str(fill.status),
        "liquidity": fill.liquidity,
        "correlation_id": correlation_id,
    }


def fill_status_update(trade_id: str, order_id: str, status: TradeStatus) -> Update:
    where = (FillRow.trade_id == trade_id) & (FillRow.order_id == order_id)
    return update(FillRow).where(where).values(status=str(status))


def position_upsert(dialect: str, position: Position, now: datetime) -> Insert:
    return upsert(dialect, table_of(PositionRow), position_values(position, now), ["token_id"])


def position_values(position: Position, now: datetime) -> dict[str, Any]:
    return {
        "token_id": position.token_id,
        "size": position.size,
        "average_price": position.average_price,
        "market": position.market,
        "outcome": position.outcome,
        "realized_pnl": position.realized_pnl,
        "updated_at": now,
    }

"""Repositories for orders, fills, positions, markets and forecasts.

Orders are persisted with their client order id (and, on a signing venue, the signed order's
hash and payload) before they are submitted, so an unknown outcome can be resolved by id after a
crash. Fills are keyed on (trade id, order id) and recording one twice is a no-op, because the
venue reports the same fill over the user channel, the trades endpoint and reconciliation.

The package: `rows` (rows as domain values, `OrderChange`, `FillWrite`, and the statements the
others share), `repositories` (the async repositories), `writes` (the execution store's writes,
`TradingWrites`: through the repositories, or direct on a SQLite file).
"""

from __future__ import annotations

from trader.store.trading.repositories import (
    FillRepository,
    ForecastRepository,
    MarketRepository,
    OrderRepository,
    PositionRepository,
)
from trader.store.trading.rows import (
    OPEN_STATUSES,
    FillWrite,
    OrderChange,
    fill_from_row,
    fill_insert,
    fill_status_update,
    fill_values,
    market_from_row,
    order_changes,
    order_from_row,
    position_upsert,
    position_values,
)
from trader.store.trading.writes import (
    DirectTradingWrites,
    RepositoryTradingWrites,
    TradingWrites,
    trading_writes,
)

__all__ = [
    "OPEN_STATUSES",
    "DirectTradingWrites",
    "FillRepository",
    "FillWrite",
    "ForecastRepository",
    "MarketRepository",
    "OrderChange",
    "OrderRepository",
    "PositionRepository",
    "RepositoryTradingWrites",
    "TradingWrites",
    "fill_from_row",
    "fill_insert",
    "fill_status_update",
    "fill_values",
    "market_from_row",
    "order_changes",
    "order_from_row",
    "position_upsert",
    "position_values",
    "trading_writes",
]

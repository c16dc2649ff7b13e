"""The execution store's writes (`TradingWrites`), in two implementations chosen once by
`trading_writes`: through the async repositories (PostgreSQL, in-memory SQLite), or direct on
a SQLite file through the engine's `DirectWriter`, one transaction each with the event log's
buffered rows in it (trader/store/direct.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from sqlalchemy import Executable, Insert, bindparam, insert, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from trader.clock import Clock
from trader.domain import Fill, Position, TradeStatus
from trader.store.direct import DirectConnection, DirectWriter, direct_writer
from trader.store.repositories import DuplicateError, dialect_of, is_unique_violation
from trader.store.tables import FillRow, OrderRow, PositionRow, table_of
from trader.store.trading.repositories import FillRepository, OrderRepository, PositionRepository
from trader.store.trading.rows import (
    FillWrite,
    OrderChange,
    fill_insert,
    fill_values,
    order_changes,
    position_upsert,
    position_values,
)


class TradingWrites(Protocol):
    """The writes the execution store makes: through the repositories, or direct."""

    @property
    def carries_events(self) -> bool:
        """Whether `record_rows` commits the event log's buffered rows with its own."""
        ...

    async def insert_order(self, values: dict[str, Any]) -> None:
        """A new order row, from its column values (an `OrderRow`'s, as `column_values`)."""
        ...

    async def update_order(self, client_order_id: str, **changes: Any) -> None: ...

    async def record_fill(self, fill: Fill, correlation_id: str | None) -> bool: ...

    async def record_fill_and_position(
        self, fill: Fill, correlation_id: str | None, position: Position
    ) -> bool:
        """The fill and the position it leaves in one transaction (both or neither)."""
        ...

    async def record_rows(self, fills: Sequence[FillWrite], orders: Sequence[OrderChange]) -> None:
        """The fills (each with the position it leaves) and the order changes, in order, in
        one transaction; on a SQLite file with the event log's buffered rows (all of them)."""
        ...

    async def set_fill_status(self, trade_id: str, order_id: str, status: TradeStatus) -> None: ...

    async def save_position(self, position: Position) -> None: ...


class RepositoryTradingWrites:
    """`TradingWrites` through the async repositories (PostgreSQL, in-memory SQLite)."""

    carries_events = False  # the event log writes in its own transactions here

    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock
        self._orders = OrderRepository(sessions, clock)
        self._fills = FillRepository(sessions, clock)
        self._positions = PositionRepository(sessions, clock)

    async def insert_order(self, values: dict[str, Any]) -> None:
        await self._orders.insert(OrderRow(**values))

    async def update_order(self, client_order_id: str, **changes: Any) -> None:
        await self._orders.update(client_order_id, **changes)

    async def record_fill(self, fill: Fill, correlation_id: str | None) -> bool:
        return await self._fills.insert(fill, correlation_id=correlation_id)

    async def record_fill_and_position(
        self, fill: Fill, correlation_id: str | None, position: Position
    ) -> bool:
        return await self._fills.insert_with_position(fill, position, correlation_id=correlation_id)

    async def record_rows(self, fills: Sequence[FillWrite], orders: Sequence[OrderChange]) -> None:
        now = self._clock.now()
        async with self._sessions.begin() as session:
            dialect = dialect_of(session)
            for fill, correlation_id, position in fills:
                await session.execute(fill_insert(dialect, fill, correlation_id))
                await session.execute(position_upsert(dialect, position, now))
            for change in orders:
                values = order_changes(
                    now, status=change.status, size_matched=change.size_matched, error=change.error
                )
                where = OrderRow.client_order_id == change.client_order_id
                await session.execute(update(OrderRow).where(where).values(**values))

    async def set_fill_status(self, trade_id: str, order_id: str, status: TradeStatus) -> None:
        await self._fills.set_status(trade_id, order_id, status)

    async def save_position(self, position: Position) -> None:
        await self._positions.upsert(position)


def trading_writes(sessions: async_sessionmaker[AsyncSession], clock: Clock) -> TradingWrites:
    """Direct on a SQLite file (trader/store/direct.py), else through the repositories."""
    writer = direct_writer(sessions)
    if writer is None:
        return RepositoryTradingWrites(sessions, clock)
    return DirectTradingWrites(writer, clock)


class DirectTradingWrites:
    """The execution store's writes on SQLite through the engine's `DirectWriter`: one
    transaction each, no thread hop, with the event log's buffered rows in it (see
    trader/store/direct.py). The same rows as the repositories write (`RepositoryTradingWrites`);
    the statements are built once and take their values as parameters (SQLAlchemy's compiled
    cache)."""

    _ORDERS = table_of(OrderRow)
    _FILLS = table_of(FillRow)
    _POSITIONS = table_of(PositionRow)
    _INSERT_ORDER = insert(_ORDERS)
    _UPDATE_ORDER = update(_ORDERS).where(_ORDERS.c.client_order_id == bindparam("_client_id"))
    _INSERT_FILL = sqlite.insert(_FILLS).on_conflict_do_nothing()
    _FILL_STATUS = (
        update(_FILLS)
        .where(_FILLS.c.trade_id == bindparam("_trade_id"))
        .where(_FILLS.c.order_id == bindparam("_order_id"))
    )

    def __init__(self, writer: DirectWriter, clock: Clock) -> None:
        self._writer = writer
        self._clock = clock

    @classmethod
    def _upsert_position(cls) -> Insert:
        statement = sqlite.insert(cls._POSITIONS)
        changes = {c.key: statement.excluded[c.key] for c in cls._POSITIONS.columns}
        del changes["token_id"]
        return statement.on_conflict_do_update(index_elements=["token_id"], set_=changes)

    async def _execute(self, statement: Executable, parameters: dict[str, Any]) -> int:
        def write(connection: DirectConnection) -> int:
            return int(connection.execute(statement, parameters).rowcount)

        return await self._writer.transaction(write) or 0

    async def insert_order(self, values: dict[str, Any]) -> None:
        try:
            await self._execute(self._INSERT_ORDER, values)
        except IntegrityError as exc:
            if is_unique_violation(exc):
                raise DuplicateError(f"{OrderRow.__tablename__}: {exc.orig}") from exc
            raise

    async def update_order(self, client_order_id: str, **changes: Any) -> None:
        values = order_changes(self._clock.now(), **changes)
        await self._execute(self._UPDATE_ORDER, {**values, "_client_id": client_order_id})

    async def record_fill(self, fill: Fill, correlation_id: str | None) -> bool:
        values = fill_values(fill, correlation_id)
        return await self._execute(self._INSERT_FILL, values) == 1

    async def record_fill_and_position(
        self, fill: Fill, correlation_id: str | None, position: Position
    ) -> bool:
        """One transaction (with the event log's buffered rows, the fill's event among them)."""
        fill_row = fill_values(fill, correlation_id)
        position_row = position_values(position, self._clock.now())

        def write(connection: DirectConnection) -> int:
            inserted = int(connection.execute(self._INSERT_FILL, fill_row).rowcount)
            connection.execute(_UPSERT_POSITION, position_row)
            return inserted

        return (await self._writer.transaction(write) or 0) == 1

    @property
    def carries_events(self) -> bool:
        return self._writer.carries_events

    async def record_rows(self, fills: Sequence[FillWrite], orders: Sequence[OrderChange]) -> None:
        """One transaction with every buffered event (the fills' among them) ahead of the rows."""
        now = self._clock.now()
        fill_rows = [(fill_values(f, corr), position_values(p, now)) for f, corr, p in fills]
        order_rows = [
            order_changes(now, status=c.status, size_matched=c.size_matched, error=c.error)
            | {"_client_id": c.client_order_id}
            for c in orders
        ]

        def write(connection: DirectConnection) -> None:
            for fill_row, position_row in fill_rows:
                connection.execute(self._INSERT_FILL, fill_row)
                connection.execute(_UPSERT_POSITION, position_row)
            for values in order_rows:
                connection.execute(self._UPDATE_ORDER, values)

        await self._writer.transaction(write, all_rows=True)

    async def set_fill_status(self, trade_id: str, order_id: str, status: TradeStatus) -> None:
        values = {"status": str(status), "_trade_id": trade_id, "_order_id": order_id}
        await self._execute(self._FILL_STATUS, values)

    async def save_position(self, position: Position) -> None:
        await self._execute(_UPSERT_POSITION, position_values(position, self._clock.now()))


_UPSERT_POSITION = DirectTradingWrites._upsert_position()

"""Repositories for orders, fills, positions, markets and forecasts.

Orders are persisted with their client order id (and, on a signing venue, the signed order's
hash and payload) before they are submitted, so an unknown outcome can be resolved by id after a
crash. Fills are keyed on (trade id, order id) and recording one twice is a no-op, because the
venue reports the same fill over the user channel, the trades endpoint and reconciliation.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple, Protocol

from sqlalchemy import (
    Executable,
    Insert,
    Update,
    bindparam,
    case,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from trader.clock import Clock
from trader.domain import (
    ZERO,
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
from trader.stages import StrategyRecord
from trader.store.direct import DirectConnection, DirectWriter, direct_writer
from trader.store.repositories import (
    DuplicateError,
    Repository,
    column_values,
    dialect_of,
    insert_ignore,
    is_unique_violation,
    upsert,
)
from trader.store.tables import (
    FillRow,
    ForecastRow,
    MarketRow,
    OrderRow,
    PositionRow,
    table_of,
)

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


class OrderRepository(Repository):
    async def insert(self, order: OrderRow) -> OrderRow:
        """Persist a new order. Raises `DuplicateError` on a reused client or venue order id."""
        return await self._add(order)

    async def get_by_client_id(self, client_order_id: str) -> OrderRow | None:
        row: OrderRow | None = await self._first(
            select(OrderRow).where(OrderRow.client_order_id == client_order_id)
        )
        return row

    async def get_by_venue_id(self, venue_order_id: str) -> OrderRow | None:
        row: OrderRow | None = await self._first(
            select(OrderRow).where(OrderRow.venue_order_id == venue_order_id)
        )
        return row

    async def update(
        self,
        client_order_id: str,
        *,
        status: OrderStatus | None = None,
        size_matched: Decimal | None = None,
        venue_order_id: str | None = None,
        signed_payload: str | None = None,
        error: str | None = None,
    ) -> OrderRow | None:
        """Change the given fields (and updated_at); the updated row, or None if unknown."""
        changes = order_changes(
            self._clock.now(),
            status=status,
            size_matched=size_matched,
            venue_order_id=venue_order_id,
            signed_payload=signed_payload,
            error=error,
        )
        await self._update(OrderRow, OrderRow.client_order_id == client_order_id, **changes)
        return await self.get_by_client_id(client_order_id)

    async def open_orders(self, *, market: str | None = None) -> list[OrderRow]:
        """Orders that are pending, submitted or live, oldest first."""
        query = select(OrderRow).where(OrderRow.status.in_(OPEN_STATUSES))
        if market is not None:
            query = query.where(OrderRow.market == market)
        return await self._all(query.order_by(OrderRow.id))

    async def strategy_records(self) -> dict[str, StrategyRecord]:
        """Per strategy: orders, orders with a fill, traded notional and fees (from fills).
        Money is summed here in Decimal: SQLite keeps it as text, and SQL would sum floats."""
        filled = case((OrderRow.size_matched > 0, 1), else_=0)
        orders = select(
            OrderRow.strategy, func.count(), func.sum(filled), func.max(OrderRow.created_at)
        ).group_by(OrderRow.strategy)
        fills = select(OrderRow.strategy, FillRow.price, FillRow.size, FillRow.fee).join(
            FillRow, FillRow.order_id == OrderRow.venue_order_id
        )
        notional: dict[str, Decimal] = {}
        fees: dict[str, Decimal] = {}
        async with self._sessions() as session:
            counts = (await session.execute(orders)).all()
            for strategy, price, size, fee in (await session.execute(fills)).all():
                notional[strategy] = notional.get(strategy, ZERO) + price * size
                fees[strategy] = fees.get(strategy, ZERO) + fee
        return {
            strategy: StrategyRecord(
                orders=int(n),
                filled_orders=int(n_filled or 0),
                traded_notional=notional.get(strategy, ZERO),
                fees=fees.get(strategy, ZERO),
                last_order_at=last,
            )
            for strategy, n, n_filled, last in counts
        }

    async def by_correlation(self, correlation_id: str) -> list[OrderRow]:
        query = select(OrderRow).where(OrderRow.correlation_id == correlation_id)
        return await self._all(query.order_by(OrderRow.id))


class FillRepository(Repository):
    async def insert(self, fill: Fill, *, correlation_id: str | None = None) -> bool:
        """Record a fill; False (and no change) if (trade id, order id) is already recorded."""
        async with self._sessions.begin() as session:
            result = await session.execute(fill_insert(dialect_of(session), fill, correlation_id))
        return int(getattr(result, "rowcount", 0)) == 1

    async def insert_with_position(
        self, fill: Fill, position: Position, *, correlation_id: str | None = None
    ) -> bool:
        """Record a fill and store the position it leaves in one transaction, so that a crash
        keeps both or neither; False if the fill was already recorded (the position is
        stored either way)."""
        async with self._sessions.begin() as session:
            dialect = dialect_of(session)
            result = await session.execute(fill_insert(dialect, fill, correlation_id))
            await session.execute(position_upsert(dialect, position, self._clock.now()))
        return int(getattr(result, "rowcount", 0)) == 1

    async def set_status(self, trade_id: str, order_id: str, status: TradeStatus) -> bool:
        """A trade moves MATCHED -> MINED -> CONFIRMED (or RETRYING / FAILED)."""
        where = (FillRow.trade_id == trade_id) & (FillRow.order_id == order_id)
        return await self._update(FillRow, where, status=str(status)) == 1

    async def get(self, trade_id: str, order_id: str) -> Fill | None:
        where = (FillRow.trade_id == trade_id) & (FillRow.order_id == order_id)
        row: FillRow | None = await self._first(select(FillRow).where(where))
        return None if row is None else fill_from_row(row)

    async def for_order(self, order_id: str) -> list[Fill]:
        """Fills of one venue order id, in the order they were recorded."""
        query = select(FillRow).where(FillRow.order_id == order_id).order_by(FillRow.id)
        return [fill_from_row(row) for row in await self._all(query)]

    async def since(self, since: datetime) -> list[Fill]:
        query = select(FillRow).where(FillRow.ts >= since).order_by(FillRow.ts, FillRow.id)
        return [fill_from_row(row) for row in await self._all(query)]


class PositionRepository(Repository):
    async def upsert(self, position: Position) -> None:
        async with self._sessions.begin() as session:
            await session.execute(position_upsert(dialect_of(session), position, self._clock.now()))

    async def get(self, token_id: str) -> Position | None:
        async with self._sessions() as session:
            row = await session.get(PositionRow, token_id)
        return None if row is None else self._position(row)

    async def all(self, *, include_flat: bool = False) -> list[Position]:
        """Positions by token id; flat (zero-size) ones only when asked."""
        query = select(PositionRow).order_by(PositionRow.token_id)
        rows: list[PositionRow] = await self._all(query)
        # Filtered here, not in SQL: sizes are exact decimal text on SQLite.
        return [self._position(r) for r in rows if include_flat or r.size != 0]

    @staticmethod
    def _position(row: PositionRow) -> Position:
        return Position(
            token_id=row.token_id,
            size=row.size,
            average_price=row.average_price,
            market=row.market,
            outcome=row.outcome,
            realized_pnl=row.realized_pnl,
        )


class MarketRepository(Repository):
    async def upsert(self, market: Market) -> None:
        await self.upsert_many([market])

    async def upsert_many(self, markets: Sequence[Market]) -> None:
        """Remember markets (question, tokens, end date...) so reports can name them; one
        transaction for the whole refresh."""
        if not markets:
            return
        async with self._sessions.begin() as session:
            for market in markets:
                statement = upsert(
                    dialect_of(session), table_of(MarketRow), self._values(market), ["condition_id"]
                )
                await session.execute(statement)

    def _values(self, market: Market) -> dict[str, Any]:
        return column_values(
            MarketRow(
                condition_id=market.condition_id,
                question=market.question,
                slug=market.slug,
                description=market.description,
                tokens=[{"token_id": t.token_id, "outcome": t.outcome} for t in market.tokens],
                end_date=market.end_date,
                active=market.active,
                closed=market.closed,
                accepting_orders=market.accepting_orders,
                neg_risk=market.neg_risk,
                tick_size=market.tick_size,
                min_order_size=market.min_order_size,
                volume=market.volume,
                liquidity=market.liquidity,
                updated_at=self._clock.now(),
            )
        )

    async def get(self, condition_id: str) -> Market | None:
        async with self._sessions() as session:
            row = await session.get(MarketRow, condition_id)
        return None if row is None else market_from_row(row)


class ForecastRepository(Repository):
    async def insert(self, forecast: ForecastRow) -> ForecastRow:
        return await self._add(forecast)

    async def for_market(self, market: str) -> list[ForecastRow]:
        query = select(ForecastRow).where(ForecastRow.market == market)
        return await self._all(query.order_by(ForecastRow.created_at, ForecastRow.id))

    async def unresolved(self) -> list[ForecastRow]:
        query = select(ForecastRow).where(ForecastRow.resolved_at.is_(None))
        return await self._all(query.order_by(ForecastRow.created_at, ForecastRow.id))

    async def resolve(self, token_id: str, outcome: Decimal, *, at: datetime | None = None) -> int:
        """Record what a token paid at resolution on its unresolved forecasts; how many."""
        where = (ForecastRow.token_id == token_id) & ForecastRow.resolved_at.is_(None)
        return await self._update(
            ForecastRow, where, resolved_outcome=outcome, resolved_at=at or self._clock.now()
        )


# --- statements, shared by the repositories above and the direct writes below --------------


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
    trader/store/direct.py). The same rows as the repositories above write; the statements
    are built once and take their values as parameters (SQLAlchemy's compiled cache)."""

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

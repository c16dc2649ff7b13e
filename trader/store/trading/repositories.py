"""The repositories for orders, fills, positions, markets and forecasts, over the async
sessions (`trader.store.repositories.Repository`): orders by client or venue id, open ones and
the strategies' records; fills recorded once each (with the position they leave, in one
transaction); positions, markets (so reports can name them) and forecasts with their outcomes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import case, func, select

from trader.domain import ZERO, Fill, Market, OrderStatus, Position, TradeStatus
from trader.stages import StrategyRecord
from trader.store.repositories import Repository, column_values, dialect_of, upsert
from trader.store.tables import FillRow, ForecastRow, MarketRow, OrderRow, PositionRow, table_of
from trader.store.trading.rows import (
    OPEN_STATUSES,
    fill_from_row,
    fill_insert,
    market_from_row,
    order_changes,
    position_upsert,
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

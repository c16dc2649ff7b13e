"""Money stays exact, times stay aware UTC, unique keys hold: on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from trader.clock import FakeClock
from trader.domain import Fill, Side
from trader.store.db import create_engine
from trader.store.repositories import DuplicateError
from trader.store.tables import EquitySnapshotRow, FillRow, OrderRow
from trader.store.trading import FillRepository, OrderRepository

T0 = datetime(2026, 3, 1, 12, 30, 45, 123456, tzinfo=UTC)

EXACT_DECIMALS = [
    Decimal("0.1"),
    Decimal("0.10"),
    Decimal("1.50"),
    Decimal("0"),
    Decimal("-0.000000000000000001"),
    Decimal("0.999999999999999999999999"),
    Decimal("123456789012345678901234567890.123456789012345678"),
]


def _order(client_order_id: str, venue_order_id: str | None = None, **changes: object) -> OrderRow:
    values: dict[str, object] = {
        "client_order_id": client_order_id,
        "venue_order_id": venue_order_id,
        "market": "0xmarket",
        "token_id": "111",
        "side": "BUY",
        "price": Decimal("0.45"),
        "size": Decimal("10"),
        "status": "PENDING",
        "created_at": T0,
        "updated_at": T0,
    }
    values.update(changes)
    return OrderRow(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", EXACT_DECIMALS, ids=str)
async def test_decimal_round_trips_exactly(
    sessions: async_sessionmaker[AsyncSession], value: Decimal
) -> None:
    async with sessions.begin() as session:
        session.add(_order("c1", price=value, size=value))

    async with sessions() as session:
        row = (await session.scalars(select(OrderRow))).one()

    assert isinstance(row.price, Decimal)
    assert row.price == value
    assert str(row.price) == str(value)  # the scale survives too, not only the value


async def test_decimal_column_refuses_a_float(sessions: async_sessionmaker[AsyncSession]) -> None:
    with pytest.raises(StatementError, match="not float"):
        async with sessions.begin() as session:
            session.add(_order("c1", price=0.45))


async def test_datetimes_come_back_aware_utc_and_exact(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    paris_summer = timezone(timedelta(hours=2))
    written = T0.astimezone(paris_summer)
    async with sessions.begin() as session:
        session.add(_order("c1", created_at=written, expires_at=T0 + timedelta(days=1)))

    async with sessions() as session:
        row = (await session.scalars(select(OrderRow))).one()

    assert row.created_at == T0
    assert row.created_at.tzinfo is UTC or row.created_at.utcoffset() == timedelta(0)
    assert row.created_at.microsecond == 123456
    assert row.expires_at == T0 + timedelta(days=1)


async def test_naive_datetimes_are_refused(sessions: async_sessionmaker[AsyncSession]) -> None:
    with pytest.raises(StatementError, match="naive datetime"):
        async with sessions.begin() as session:
            session.add(_order("c1", created_at=datetime(2026, 1, 1)))  # noqa: DTZ001


async def test_time_ranges_select_by_instant_not_by_text(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    stamps = [T0 + timedelta(microseconds=n) for n in (0, 1, 999999)] + [T0 + timedelta(days=30)]
    async with sessions.begin() as session:
        for ts in stamps:
            session.add(EquitySnapshotRow(ts=ts, equity=Decimal(100), cash=Decimal(100)))

    async with sessions() as session:
        query = select(EquitySnapshotRow.ts).where(EquitySnapshotRow.ts > T0)
        found = sorted((await session.scalars(query.order_by(EquitySnapshotRow.ts))).all())

    assert found == stamps[1:]


async def test_client_order_id_is_unique(sessions: async_sessionmaker[AsyncSession]) -> None:
    orders = OrderRepository(sessions, FakeClock())
    await orders.insert(_order("c1"))

    with pytest.raises(DuplicateError):
        await orders.insert(_order("c1"))


async def test_venue_order_id_is_unique_but_may_be_missing_on_many(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    orders = OrderRepository(sessions, FakeClock())
    await orders.insert(_order("c1", None))
    await orders.insert(_order("c2", None))  # not signed yet: no venue id, no clash
    await orders.insert(_order("c3", "0xhash"))

    with pytest.raises(DuplicateError):
        await orders.insert(_order("c4", "0xhash"))


def _fill_row(trade_id: str, order_id: str) -> FillRow:
    return FillRow(
        trade_id=trade_id,
        order_id=order_id,
        token_id="111",
        side="BUY",
        price=Decimal("0.45"),
        size=Decimal(5),
        ts=T0,
    )


async def test_trade_and_order_id_are_unique_together(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions.begin() as session:
        session.add(_fill_row("t1", "o1"))
        session.add(_fill_row("t1", "o2"))  # one trade filling two of our orders: fine

    with pytest.raises(IntegrityError):
        async with sessions.begin() as session:
            session.add(_fill_row("t1", "o1"))


async def test_recording_a_fill_twice_keeps_one(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    fills = FillRepository(sessions, FakeClock())
    fill = Fill("t1", "o1", "111", Side.BUY, Decimal("0.45"), Decimal(5), Decimal("0.01"), T0)

    assert await fills.insert(fill, correlation_id="c") is True
    assert await fills.insert(fill, correlation_id="c") is False

    assert await fills.for_order("o1") == [fill]


async def test_every_sqlite_connection_gets_wal_busy_timeout_and_foreign_keys(
    tmp_path: Path,
) -> None:
    database = tmp_path / "not" / "there" / "yet.db"
    engine = create_engine(f"sqlite+aiosqlite:///{database}")
    pragmas = ("journal_mode", "busy_timeout", "foreign_keys", "synchronous")
    try:
        async with engine.connect() as first, engine.connect() as second:  # two connections
            seen = [
                [(await c.execute(text(f"PRAGMA {name}"))).scalar() for name in pragmas]
                for c in (first, second)
            ]
    finally:
        await engine.dispose()

    assert database.exists()  # the missing folders were created
    assert seen == [["wal", 5000, 1, 1], ["wal", 5000, 1, 1]]  # synchronous 1 is NORMAL

"""The repositories other engines use, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from trader.clock import FakeClock
from trader.domain import (
    Actor,
    Alert,
    Fill,
    Market,
    OrderStatus,
    OutcomeToken,
    Position,
    Severity,
    Side,
    TradingState,
)
from trader.store.repositories import (
    AlertRepository,
    ApprovalRepository,
    ControlStateRepository,
    DuplicateError,
    EquityRepository,
    HeartbeatRepository,
    LlmUsageRepository,
)
from trader.store.tables import (
    ApprovalRow,
    EquitySnapshotRow,
    ForecastRow,
    HeartbeatRow,
    LlmUsageRow,
    OrderRow,
)
from trader.store.trading import (
    FillRepository,
    ForecastRepository,
    MarketRepository,
    OrderRepository,
    PositionRepository,
    order_from_row,
)

T0 = datetime(2026, 2, 1, 9, tzinfo=UTC)
OPERATOR = Actor("telegram", "42", "ops")

Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


async def test_control_state_keeps_json_values_and_who_set_them(
    sessions: Sessions, clock: FakeClock
) -> None:
    control = ControlStateRepository(sessions, clock)
    await control.set("trading_state", TradingState.RUNNING, updated_by="system:trader")
    clock.advance(60)
    await control.set("trading_state", TradingState.KILLED, updated_by=OPERATOR)
    await control.set("limits", {"max_order": Decimal("25.50"), "markets": 3}, updated_by=OPERATOR)

    row = await control.get_row("trading_state")
    assert row is not None
    assert (row.value, row.updated_by, row.updated_at) == ("KILLED", "telegram:42", clock.now())
    assert await control.get("limits") == {"max_order": "25.50", "markets": 3}
    assert await control.get("missing", default=False) is False
    assert set(await control.get_all()) == {"trading_state", "limits"}


def _beat(
    clock: FakeClock, state: TradingState, open_orders: int, feed_age_s: float | None
) -> HeartbeatRow:
    return HeartbeatRow(
        component="trader",
        ts=clock.now(),
        pid=1234,
        version="0.1.0",
        trading_state=str(state),
        open_orders=open_orders,
        feed_age_s=feed_age_s,
        last_cycle_at=None if feed_age_s is None else clock.now(),
        details={"venue": "paper"},
    )


async def test_heartbeat_upsert_keeps_one_row_per_component(
    sessions: Sessions, clock: FakeClock
) -> None:
    heartbeats = HeartbeatRepository(sessions, clock)
    await heartbeats.upsert(_beat(clock, TradingState.RUNNING, 1, feed_age_s=1.5))
    clock.advance(5)
    await heartbeats.upsert(_beat(clock, TradingState.PAUSED, 3, feed_age_s=None))

    latest = await heartbeats.latest("trader")
    assert latest is not None
    assert (latest.ts, latest.trading_state, latest.open_orders) == (clock.now(), "PAUSED", 3)
    assert (latest.feed_age_s, latest.last_cycle_at) == (None, None)  # cleared, not kept
    assert len(await heartbeats.all()) == 1
    assert await heartbeats.latest("watchdog") is None


async def test_alerts_insert_list_acknowledge_and_deliver(
    sessions: Sessions, clock: FakeClock
) -> None:
    alerts = AlertRepository(sessions, clock)
    first = await alerts.insert(Alert("venue_errors", Severity.WARNING, "5xx", dedupe_key="v"))
    clock.advance(10)
    second = await alerts.insert(Alert("order_filled", Severity.INFO, "Filled 10 @ 0.45"))

    assert [a.id for a in await alerts.recent()] == [second.id, first.id]
    assert [a.id for a in await alerts.recent(since=T0 + timedelta(seconds=5))] == [second.id]
    found = await alerts.latest_with_dedupe_key("v")
    assert found is not None
    assert found.id == first.id
    assert await alerts.acknowledge(first.id) is True
    assert await alerts.acknowledge(first.id) is False  # once
    await alerts.mark_delivered(second.id, "telegram")
    [latest, _] = await alerts.recent()
    assert latest.delivered == {"telegram": clock.now().isoformat()}
    assert latest.severity == "info"


def _order(client_order_id: str, status: OrderStatus = OrderStatus.PENDING) -> OrderRow:
    return OrderRow(
        client_order_id=client_order_id,
        market="0xm",
        token_id="111",
        side="BUY",
        price=Decimal("0.45"),
        size=Decimal(10),
        status=str(status),
        created_at=T0,
        updated_at=T0,
        correlation_id="corr",
        signed_payload='{"signature": "0x..."}',
    )


async def test_orders_by_client_and_venue_id_and_updates(
    sessions: Sessions, clock: FakeClock
) -> None:
    orders = OrderRepository(sessions, clock)
    await orders.insert(_order("c1"))
    await orders.insert(_order("c2", OrderStatus.CANCELED))
    clock.advance(1)

    updated = await orders.update(
        "c1", status=OrderStatus.LIVE, venue_order_id="0xhash", size_matched=Decimal("2.5")
    )

    assert updated is not None
    assert (updated.status, updated.size_matched, updated.updated_at) == (
        "LIVE",
        Decimal("2.5"),
        clock.now(),
    )
    by_venue = await orders.get_by_venue_id("0xhash")
    assert by_venue is not None
    assert by_venue.client_order_id == "c1"
    assert [o.client_order_id for o in await orders.open_orders()] == ["c1"]
    assert [o.client_order_id for o in await orders.by_correlation("corr")] == ["c1", "c2"]
    assert order_from_row(by_venue).remaining == Decimal("7.5")
    assert await orders.update("nope", status=OrderStatus.LIVE) is None


async def test_strategy_records_count_orders_and_sum_fills_exactly(
    sessions: Sessions, clock: FakeClock
) -> None:
    orders, fills = OrderRepository(sessions, clock), FillRepository(sessions, clock)
    for client, venue, strategy in (("e1", "0xe1", "llm_edge"), ("e2", None, "llm_edge")):
        row = _order(client)
        row.strategy, row.venue_order_id = strategy, venue
        await orders.insert(row)
    await orders.update("e1", size_matched=Decimal(10))
    manual = _order("m1")
    manual.venue_order_id = "0xm1"
    await orders.insert(manual)
    for trade, price, size, fee in (("t1", "0.45", "6", "0.0743"), ("t2", "0.46", "4", "0.0497")):
        fill = Fill(
            trade, "0xe1", "111", Side.BUY, Decimal(price), Decimal(size), Decimal(fee), T0, "0xm"
        )
        await fills.insert(fill)

    records = await orders.strategy_records()

    edge = records["llm_edge"]
    assert (edge.orders, edge.filled_orders) == (2, 1)
    assert edge.traded_notional == Decimal("4.54")  # 6 x 0.45 + 4 x 0.46, exactly
    assert edge.fees == Decimal("0.1240")
    assert edge.last_order_at == T0
    assert records["manual"].orders == 1
    assert records["manual"].traded_notional == 0


async def test_positions_upsert_and_list_without_flat_ones(
    sessions: Sessions, clock: FakeClock
) -> None:
    positions = PositionRepository(sessions, clock)
    await positions.upsert(Position("111", Decimal(10), Decimal("0.40"), market="m"))
    await positions.upsert(Position("222", Decimal(5), Decimal("0.70")))
    await positions.upsert(
        Position("222", Decimal("0.00"), Decimal("0.70"), realized_pnl=Decimal(1))
    )

    assert [p.token_id for p in await positions.all()] == ["111"]
    assert len(await positions.all(include_flat=True)) == 2
    assert await positions.get("222") == Position(
        "222", Decimal("0.00"), Decimal("0.70"), realized_pnl=Decimal(1)
    )


async def test_llm_cost_since_is_an_exact_sum(sessions: Sessions, clock: FakeClock) -> None:
    usage = LlmUsageRepository(sessions, clock)
    for n, cost in enumerate(["0.1", "0.2", "0.000001", "5"]):
        ts = T0 + timedelta(hours=n)
        await usage.insert(LlmUsageRow(ts=ts, model="m", purpose="forecast", cost=Decimal(cost)))

    assert await usage.cost_since(T0) == Decimal("5.300001")
    assert await usage.cost_since(T0 + timedelta(hours=1)) == Decimal("5.200001")
    assert await usage.cost_since(T0 + timedelta(days=1)) == 0
    assert len(await usage.recent()) == 4


async def test_equity_snapshots_between_is_half_open(sessions: Sessions, clock: FakeClock) -> None:
    equity = EquityRepository(sessions, clock)
    for hour in range(4):
        await equity.insert(
            EquitySnapshotRow(
                ts=T0 + timedelta(hours=hour), equity=Decimal(100 + hour), cash=Decimal(50)
            )
        )

    found = await equity.between(T0 + timedelta(hours=1), T0 + timedelta(hours=3))
    assert [s.equity for s in found] == [Decimal(101), Decimal(102)]
    latest = await equity.latest()
    assert latest is not None
    assert latest.equity == Decimal(103)


def _approval(key: str, expires_in: timedelta = timedelta(minutes=5)) -> ApprovalRow:
    return ApprovalRow(
        request_key=key,
        created_at=T0,
        expires_at=T0 + expires_in,
        payload={"intent": {"size": "10"}},
        message_refs=[{"channel": "telegram", "message_id": 7}],
    )


async def test_an_approval_is_decided_once(sessions: Sessions, clock: FakeClock) -> None:
    approvals = ApprovalRepository(sessions, clock)
    await approvals.insert(_approval("a1"))
    with pytest.raises(DuplicateError):
        await approvals.insert(_approval("a1"))

    assert await approvals.decide("a1", "approved", decided_by=OPERATOR) is True
    assert await approvals.decide("a1", "rejected", decided_by=OPERATOR) is False

    row = await approvals.get("a1")
    assert row is not None
    assert (row.status, row.decided_by, row.decided_at) == ("approved", "telegram:42", T0)
    assert await approvals.pending() == []


async def test_an_expired_approval_cannot_be_approved_and_expires(
    sessions: Sessions, clock: FakeClock
) -> None:
    approvals = ApprovalRepository(sessions, clock)
    await approvals.insert(_approval("old", expires_in=timedelta(minutes=1)))
    await approvals.insert(_approval("new", expires_in=timedelta(hours=1)))
    clock.advance(120)

    assert await approvals.decide("old", "approved", decided_by=OPERATOR) is False
    assert await approvals.expire_due() == ["old"]
    assert [a.request_key for a in await approvals.pending()] == ["new"]
    old = await approvals.get("old")
    assert old is not None
    assert old.status == "expired"


async def test_markets_round_trip_through_the_domain(sessions: Sessions, clock: FakeClock) -> None:
    markets = MarketRepository(sessions, clock)
    market = Market(
        condition_id="0xc",
        question="Will it rain?",
        tokens=(OutcomeToken("1", "Yes"), OutcomeToken("2", "No")),
        end_date=T0 + timedelta(days=3),
        tick_size=Decimal("0.001"),
        volume=Decimal("12345.67"),
    )
    await markets.upsert(market)
    await markets.upsert(market)  # idempotent

    assert await markets.get("0xc") == market


async def test_forecasts_resolve(sessions: Sessions, clock: FakeClock) -> None:
    forecasts = ForecastRepository(sessions, clock)
    await forecasts.insert(
        ForecastRow(
            market="0xc",
            token_id="1",
            model_probability=Decimal("0.62"),
            market_price=Decimal("0.55"),
            model="heuristic",
            source="heuristic",
            created_at=T0,
            sources=[{"url": "https://example.org"}],
        )
    )

    assert await forecasts.resolve("1", Decimal(1)) == 1
    assert await forecasts.unresolved() == []
    [row] = await forecasts.for_market("0xc")
    assert (row.resolved_outcome, row.resolved_at) == (Decimal(1), T0)

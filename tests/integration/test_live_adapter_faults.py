"""Venue faults injected into the simulator, seen through `PolymarketVenue` and the real SDK."""

from __future__ import annotations

import asyncio
import math
from dataclasses import replace
from decimal import Decimal

import httpx
import pytest

from polysim.clob.app import SimServer
from tests.support.live_adapter_rig import (
    KEY_A,
    KEY_B,
    RecordingClock,
    add_fault,
    admin,
    buy,
    clock,
    make_venue,
    market,
    sim,
    venue,
)
from tests.support.waiting import eventually
from trader.domain import Market, OrderStatus, OrderType, Side
from trader.venue.base import (
    Maintenance,
    OrderRejected,
    PostOnlyMode,
    RateLimited,
    UnknownOutcome,
    VenueUnavailable,
)
from trader.venue.polymarket.adapter import PolymarketVenue

__all__ = ["admin", "clock", "market", "sim", "venue"]  # fixtures used by name below


async def test_read_rate_limited_is_retried_after_the_advertised_delay(
    venue: PolymarketVenue, market: Market, admin: httpx.AsyncClient, clock: RecordingClock
) -> None:
    await add_fault(admin, kind="rate_limit", path="/book", retry_after=0.25, count=1)

    book = await venue.market_data.fetch_book(market.tokens[1].token_id)

    assert book.best_ask is not None
    assert 0.25 in clock.sleeps


async def test_read_that_stays_in_maintenance_surfaces_typed_after_bounded_tries(
    venue: PolymarketVenue, admin: httpx.AsyncClient, clock: RecordingClock
) -> None:
    await add_fault(admin, kind="maintenance", path="/data/orders", retry_after=0.05, count=10)

    with pytest.raises(Maintenance) as info:
        await venue.open_orders()

    assert info.value.retry_after == 0.05
    assert clock.sleeps.count(0.05) == 2  # three tries in all


async def test_read_5xx_is_venue_unavailable(
    venue: PolymarketVenue, admin: httpx.AsyncClient
) -> None:
    await add_fault(admin, kind="server_error", status=502, path="/data/trades", count=10)

    with pytest.raises(VenueUnavailable, match="502"):
        await venue.trades()


async def test_submit_is_never_retried_on_maintenance_or_rate_limit(
    venue: PolymarketVenue, market: Market, admin: httpx.AsyncClient, clock: RecordingClock
) -> None:
    await add_fault(admin, kind="maintenance", method="POST", path="/order", retry_after=7, count=1)
    await add_fault(admin, kind="rate_limit", method="POST", path="/order", retry_after=3, count=1)
    first = await venue.prepare(buy(market, "0.50", client_order_id="m"))
    second = await venue.prepare(buy(market, "0.51", client_order_id="r"))

    with pytest.raises(Maintenance) as restarting:
        await venue.submit(first)
    with pytest.raises(RateLimited) as throttled:
        await venue.submit(second)

    assert (restarting.value.retry_after, throttled.value.retry_after) == (7, 3)
    assert 7 not in clock.sleeps
    assert 3 not in clock.sleeps
    assert await venue.open_orders() == []


async def test_post_only_mode_refuses_takers_and_accepts_post_only(
    venue: PolymarketVenue, market: Market, admin: httpx.AsyncClient
) -> None:
    await add_fault(admin, kind="post_only_mode", seconds=60)
    plain = await venue.prepare(buy(market, "0.50", client_order_id="p"))
    maker = await venue.prepare(replace(buy(market, "0.49", client_order_id="q"), post_only=True))

    with pytest.raises(PostOnlyMode) as info:
        await venue.submit(plain)
    accepted = await venue.submit(maker)

    assert info.value.retry_after is not None
    assert info.value.retry_after > 0
    assert accepted.status is OrderStatus.LIVE
    await venue.cancel_all()


async def test_submit_that_hangs_after_acceptance_is_unknown_and_resolved_by_hash(
    sim: SimServer, market: Market, admin: httpx.AsyncClient
) -> None:
    impatient = make_venue(sim, KEY_A, RecordingClock(), submit_timeout=0.3)
    await impatient.start()
    try:
        await add_fault(
            admin, kind="hang_after_accept", method="POST", path="/order", seconds=1.0, count=1
        )
        prepared = await impatient.prepare(buy(market, "0.50", client_order_id="h"))

        with pytest.raises(UnknownOutcome) as info:
            await impatient.submit(prepared)
        resolved = await impatient.resolve_unknown(info.value.order_id)
        with pytest.raises(OrderRejected) as again:  # the same signed order, not a new one
            await impatient.submit(prepared)
        listed = await impatient.open_orders()
    finally:
        await impatient.cancel_all()
        await impatient.close()

    assert info.value.order_id == prepared.order_id
    assert resolved is not None
    assert (resolved.order_id, resolved.status) == (prepared.order_id, OrderStatus.LIVE)
    assert resolved.client_order_id == "h"
    assert again.value.code == "INVALID_ORDER_DUPLICATED"
    assert [o.order_id for o in listed] == [prepared.order_id]


async def test_submit_answered_5xx_is_unknown_and_resolves_to_nothing(
    venue: PolymarketVenue, market: Market, admin: httpx.AsyncClient
) -> None:
    await add_fault(admin, kind="server_error", method="POST", path="/order", count=1)
    prepared = await venue.prepare(buy(market, "0.50", client_order_id="n"))

    with pytest.raises(UnknownOutcome) as info:
        await venue.submit(prepared)

    assert info.value.order_id == prepared.order_id
    assert await venue.resolve_unknown(prepared.order_id) is None


async def test_dropped_market_socket_reports_stale_then_reconnects_with_a_fresh_book(
    sim: SimServer, market: Market, admin: httpx.AsyncClient
) -> None:
    slow = make_venue(sim, KEY_A, RecordingClock(), reconnect_base=0.5)
    await slow.start()
    token = market.tokens[0].token_id
    updates = slow.book_updates([token])
    try:
        await anext(updates)
        connects = slow.market_data.books.socket.connects
        await admin.post("/drop_ws", json={"channel": "market"})

        await eventually(lambda: slow.book_age(token) == math.inf)
        await eventually(lambda: (slow.book_age(token) or math.inf) < math.inf)
        await admin.post("/price", json={"condition_id": market.condition_id, "fair": "0.80"})

        async def moved() -> bool:
            book = await anext(updates)
            return book.best_bid is not None and book.best_bid > Decimal("0.70")

        await eventually(moved)
        fresh = await slow.get_book(token)
    finally:
        await updates.aclose()  # type: ignore[attr-defined]
        await slow.close()

    assert slow.market_data.books.socket.connects == connects + 1
    assert fresh.best_bid is not None
    assert fresh.best_bid > Decimal("0.70")


async def test_tick_size_change_drops_the_book_until_a_fresh_snapshot(
    venue: PolymarketVenue, market: Market, admin: httpx.AsyncClient
) -> None:
    token = market.tokens[0].token_id
    await venue.get_book(token)
    await eventually(lambda: venue.market_data.books.book(token) is not None)

    await admin.post("/tick_size", json={"condition_id": market.condition_id, "tick_size": "0.001"})

    async def refreshed() -> bool:
        book = venue.market_data.books.book(token)
        return book is not None and book.tick_size == Decimal("0.001")

    await eventually(refreshed)
    prepared = await venue.prepare(buy(market, "0.5055"))
    assert prepared.request.price == Decimal("0.505")


async def test_fills_missed_while_the_user_socket_was_down_are_backfilled_once(
    sim: SimServer, market: Market, admin: httpx.AsyncClient
) -> None:
    maker = make_venue(sim, KEY_A, RecordingClock(), reconnect_base=0.5)
    taker = make_venue(sim, KEY_B, RecordingClock())
    await maker.start()
    await taker.start()
    stream = maker.fills()
    try:
        resting = await maker.prepare(buy(market, "0.60", "10", client_order_id="m"))
        await maker.submit(resting)
        await admin.post("/drop_ws", json={"channel": "user"})
        sell = buy(market, "0.60", "10", OrderType.FAK, side=Side.SELL, client_order_id="t")
        await admin.post(
            "/balances",
            json={"address": str(taker.client.wallet), "tokens": {sell.token_id: 10}},
        )
        await taker.submit(await taker.prepare(sell))
        fill = await asyncio.wait_for(anext(stream), 5)
        await maker.sync_fills()
    finally:
        await taker.close()
        await maker.close()

    assert (fill.order_id, fill.size, fill.liquidity) == (resting.order_id, Decimal(10), "MAKER")
    with pytest.raises(StopAsyncIteration):  # closed: nothing else was queued
        await anext(stream)

"""`PolymarketVenue` driving the real SDK against the CLOB simulator on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import logging
import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta
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
from trader.domain import Market, OrderStatus, OrderType, Side, TradeStatus
from trader.logs import REDACTED, REDACTOR
from trader.venue.base import OrderRefused, OrderRejected, Venue
from trader.venue.polymarket.adapter import PolymarketVenue
from trader.venue.polymarket.convert import signed_from_json

__all__ = ["admin", "clock", "market", "sim", "venue"]  # fixtures used by name below


async def test_live_adapter_is_a_venue_and_derives_its_api_key(venue: PolymarketVenue) -> None:
    assert isinstance(venue, Venue)
    assert venue.identity.api_key
    assert venue.client.wallet_type == "EOA"
    assert str(venue.client.wallet).lower() in venue.identity.addresses


async def test_live_adapter_lists_markets_and_reads_books(
    venue: PolymarketVenue, market: Market
) -> None:
    token = market.tokens[0].token_id

    book = await venue.get_book(token)

    assert [t.outcome for t in market.tokens] == ["Yes", "No"]
    assert (market.tick_size, book.tick_size) == (Decimal("0.01"), Decimal("0.01"))
    assert book.best_bid is not None
    assert book.best_ask is not None
    assert book.best_bid < Decimal("0.60") < book.best_ask
    assert [lvl.price for lvl in book.asks] == sorted(lvl.price for lvl in book.asks)
    await eventually(lambda: (venue.book_age(token) or math.inf) < 5)


async def test_live_adapter_prepare_signs_without_sending(
    venue: PolymarketVenue, market: Market
) -> None:
    prepared = await venue.prepare(buy(market, "0.5037", "10.555"))

    assert (prepared.request.price, prepared.request.size) == (Decimal("0.50"), Decimal("10.55"))
    assert prepared.order_id.startswith("0x")
    assert len(prepared.order_id) == 66
    assert signed_from_json(prepared.payload).signature.startswith("0x")
    assert await venue.open_orders() == []
    with pytest.raises(OrderRefused):
        await venue.prepare(buy(market, "0.50", "4"))


async def test_live_adapter_submit_rests_and_cancels_one(
    venue: PolymarketVenue, market: Market
) -> None:
    prepared = await venue.prepare(buy(market, "0.50"))

    result = await venue.submit(prepared)
    (listed,) = await venue.open_orders(market=market.condition_id)
    fetched = await venue.get_order(prepared.order_id)
    canceled = await venue.cancel([prepared.order_id])

    assert (result.order_id, result.status) == (prepared.order_id, OrderStatus.LIVE)
    assert listed.order_id == prepared.order_id
    assert listed.client_order_id == "c-1"
    assert fetched is not None
    assert (fetched.status, fetched.remaining) == (OrderStatus.LIVE, Decimal(10))
    assert canceled.canceled == (prepared.order_id,)
    assert await venue.open_orders() == []
    assert (await venue.balance()).reserved == 0


async def test_live_adapter_neg_risk_order_id_is_the_venues(venue: PolymarketVenue) -> None:
    leg = next(m for m in await venue.list_markets() if m.neg_risk)
    token = leg.tokens[0].token_id
    async for _ in venue.book_updates([token]):  # the book arrives by socket, not REST
        break

    prepared = await venue.prepare(buy(leg, "0.15"))
    result = await venue.submit(prepared)

    assert (result.order_id, result.error_code) == (prepared.order_id, None)
    assert (await venue.get_order(prepared.order_id)) is not None
    await venue.cancel_all()


async def test_live_adapter_gtd_and_post_only_are_signed_as_asked(
    venue: PolymarketVenue, market: Market
) -> None:
    expires = datetime.now(UTC) + timedelta(minutes=10)
    request = replace(buy(market, "0.45"), order_type=OrderType.GTD, expiration=expires)
    prepared = await venue.prepare(replace(request, post_only=True))

    result = await venue.submit(prepared)
    fetched = await venue.get_order(prepared.order_id)

    signed = signed_from_json(prepared.payload)
    assert (signed.order_type, signed.post_only) == ("GTD", True)
    assert signed.expiration == int(expires.timestamp())
    assert result.status is OrderStatus.LIVE
    assert fetched is not None
    assert fetched.order_type is OrderType.GTD
    await venue.cancel_all()


async def test_live_adapter_cancel_all_cancels_every_open_order(
    venue: PolymarketVenue, market: Market
) -> None:
    good = [
        await venue.prepare(buy(market, price, client_order_id=f"b-{price}"))
        for price in ("0.40", "0.41", "0.42")
    ]
    results = [await venue.submit(prepared) for prepared in good]

    everything = await venue.cancel_all()

    assert [r.status for r in results] == [OrderStatus.LIVE] * 3
    assert sorted(everything.canceled) == sorted(p.order_id for p in good)
    assert await venue.open_orders() == []


async def test_live_adapter_marketable_fok_fills_via_the_user_channel(
    venue: PolymarketVenue, market: Market
) -> None:
    stream = venue.fills()
    prepared = await venue.prepare(buy(market, "0.70", "10", OrderType.FOK))

    result = await venue.submit(prepared)
    fill = await asyncio.wait_for(anext(stream), 5)

    assert result.status is OrderStatus.MATCHED
    assert (fill.order_id, fill.side, fill.liquidity) == (prepared.order_id, Side.BUY, "TAKER")
    assert fill.price <= Decimal("0.70")
    assert fill.price * fill.size <= Decimal("7.00")
    (position,) = await venue.positions()
    assert position.size == fill.size
    rest = await venue.trades(market=market.condition_id)
    assert [f.key for f in rest] == [fill.key]


async def test_live_adapter_reads_prefixed_statuses(
    venue: PolymarketVenue, market: Market, admin: httpx.AsyncClient
) -> None:
    await add_fault(admin, kind="prefixed_statuses")
    resting = await venue.prepare(buy(market, "0.50", client_order_id="r"))
    taking = await venue.prepare(buy(market, "0.70", "10", OrderType.FOK, client_order_id="t"))
    await venue.submit(resting)
    await venue.submit(taking)

    (listed,) = await venue.open_orders()
    fetched = await venue.get_order(taking.order_id)
    (fill,) = await venue.trades()

    assert listed.status is OrderStatus.LIVE
    assert fetched is not None
    assert fetched.status is OrderStatus.MATCHED
    assert fill.order_id == taking.order_id
    assert fill.status in (TradeStatus.MATCHED, TradeStatus.MINED, TradeStatus.CONFIRMED)
    await venue.cancel_all()


async def test_live_adapter_fok_that_cannot_fill_is_killed_not_raised(
    venue: PolymarketVenue, market: Market
) -> None:
    prepared = await venue.prepare(buy(market, "0.62", "5000", OrderType.FOK))

    result = await venue.submit(prepared)

    assert result.status is OrderStatus.CANCELED
    assert result.error_code == "FOK_ORDER_NOT_FILLED_ERROR"


async def test_live_adapter_rejection_carries_the_venue_code(
    venue: PolymarketVenue, market: Market
) -> None:
    poor = await venue.prepare(buy(market, "0.50", "25000"))

    with pytest.raises(OrderRejected) as info:
        await venue.submit(poor)

    assert info.value.code == "INVALID_ORDER_NOT_ENOUGH_BALANCE"


async def test_live_adapter_resubmitting_the_same_signed_order_is_a_duplicate(
    venue: PolymarketVenue, market: Market
) -> None:
    prepared = await venue.prepare(buy(market, "0.45"))
    await venue.submit(prepared)

    with pytest.raises(OrderRejected) as info:
        await venue.submit(prepared)

    assert info.value.code == "INVALID_ORDER_DUPLICATED"
    assert len(await venue.open_orders()) == 1
    await venue.cancel_all()


async def test_live_adapter_maker_fills_arrive_once_even_when_the_channel_repeats(
    sim: SimServer, venue: PolymarketVenue, market: Market, admin: httpx.AsyncClient
) -> None:
    await add_fault(admin, kind="duplicate_user_events")
    wallet = str(venue.client.wallet)
    await admin.post(
        "/balances", json={"address": wallet, "tokens": {market.tokens[0].token_id: 10}}
    )
    stream = venue.fills()
    resting = await venue.prepare(buy(market, "0.60", "10", side=Side.SELL, client_order_id="s"))
    await venue.submit(resting)
    taker = make_venue(sim, KEY_B, RecordingClock())
    await taker.start()
    try:
        await taker.submit(await taker.prepare(buy(market, "0.60", "10", OrderType.FAK)))
        fill = await asyncio.wait_for(anext(stream), 5)
        backfilled = await venue.sync_fills()  # the REST copy of the same fill
    finally:
        await taker.close()

    assert (fill.order_id, fill.side, fill.liquidity) == (resting.order_id, Side.SELL, "MAKER")
    assert (fill.price, fill.size) == (Decimal("0.60"), Decimal(10))
    assert fill.status in (TradeStatus.MATCHED, TradeStatus.MINED, TradeStatus.CONFIRMED)
    assert backfilled == 0
    with pytest.raises(TimeoutError):  # the channel's duplicate was dropped too
        await asyncio.wait_for(anext(stream), 0.3)


async def test_live_adapter_heartbeat_chains_ids_and_recovers_a_stale_one(
    venue: PolymarketVenue,
) -> None:
    await venue.heartbeat()
    first = venue._heartbeat_id
    await venue.heartbeat()
    venue._heartbeat_id = "stale"

    await venue.heartbeat()  # answered 400 with the expected id, resent once with it

    assert first
    assert venue._heartbeat_id not in ("", "stale")


async def test_live_adapter_server_time_is_aware(venue: PolymarketVenue) -> None:
    now = await venue.server_time()

    assert now.tzinfo is not None


async def test_live_adapter_logs_no_secret_even_at_debug(
    sim: SimServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    live = make_venue(sim, KEY_A, RecordingClock())
    await live.start()
    try:
        await eventually(lambda: live.user.socket.connected)
        secret = live.client.credentials.secret
        passphrase = live.client.credentials.passphrase
        await live.open_orders()
    finally:
        await live.close()

    assert caplog.records  # something was logged at DEBUG
    # websockets logs frames at DEBUG with the middle elided: even fragments must not show
    fragments = (secret[:8], secret[-8:], passphrase[:8], passphrase[-8:], KEY_A[2:10])
    for hidden in (secret, passphrase, KEY_A, *fragments):
        assert hidden not in caplog.text


async def test_the_derived_api_credentials_are_redacted_wherever_they_appear(
    venue: PolymarketVenue,
) -> None:
    credentials = venue.account.client.credentials

    line = REDACTOR(f"headers {credentials.secret} {credentials.passphrase}")

    assert line == f"headers {REDACTED} {REDACTED}"


async def test_live_adapter_user_frame_secret_is_never_in_a_repr(venue: PolymarketVenue) -> None:
    frame = json.loads(venue.account.user_subscribe_frame())

    assert frame["auth"]["secret"] not in repr(venue.account.client.credentials)
    assert KEY_A not in repr(venue.account._wallet)

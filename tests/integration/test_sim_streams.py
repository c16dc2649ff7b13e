"""The simulator's market and user WebSocket channels, read by the SDK's stream clients."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
import websockets
from polymarket import AsyncSecureClient
from polymarket.models.clob.market_events import (
    MarketBookEvent,
    MarketLastTradePriceEvent,
    MarketPriceChangeEvent,
    MarketResolvedEvent,
    MarketTickSizeChangeEvent,
)
from polymarket.models.clob.user_events import UserOrderEvent, UserTradeEvent
from polymarket.streams import MarketSpec, UserSpec

from polysim.clob.app import SimServer
from tests.support.sim import (
    admin,
    condition_id,
    next_matching,
    tokens,
    user_channel_ready,
    wait_for,
)

# `sim` and `client` come from conftest.py
pytestmark = pytest.mark.usefixtures("plain_http_only")


async def test_market_channel_sends_a_snapshot_then_updates(
    sim: SimServer, client: AsyncSecureClient
) -> None:
    yes, _ = tokens(sim)
    handle = await client.subscribe(MarketSpec(token_ids=[yes]))
    async with handle:
        snapshot = await next_matching(handle, lambda e: isinstance(e, MarketBookEvent))
        assert isinstance(snapshot, MarketBookEvent)
        assert snapshot.payload.bids[-1].price == Decimal("0.59")

        await client.place_limit_order(token_id=yes, price="0.58", size="7", side="BUY")
        change = await next_matching(handle, lambda e: isinstance(e, MarketPriceChangeEvent))
        await client.place_limit_order(token_id=yes, price="0.70", size="5", side="BUY")
        trade = await next_matching(handle, lambda e: isinstance(e, MarketLastTradePriceEvent))

    assert isinstance(change, MarketPriceChangeEvent)
    level = next(c for c in change.payload.price_changes if c.asset_id == yes)
    assert (level.price, level.size, level.side) == (Decimal("0.58"), Decimal(82), "BUY")
    assert isinstance(trade, MarketLastTradePriceEvent)
    assert (trade.payload.price, trade.payload.side) == (Decimal("0.61"), "BUY")


async def test_market_channel_reports_tick_size_changes_and_resolution(
    sim: SimServer, client: AsyncSecureClient
) -> None:
    yes, _ = tokens(sim)
    handle = await client.subscribe(MarketSpec(token_ids=[yes], custom_feature_enabled=True))
    async with handle:
        await next_matching(handle, lambda e: isinstance(e, MarketBookEvent))
        await admin(
            sim, "POST", "tick_size", {"condition_id": condition_id(sim), "tick_size": "0.001"}
        )
        tick = await next_matching(handle, lambda e: isinstance(e, MarketTickSizeChangeEvent))
        await admin(sim, "POST", "resolve", {"condition_id": condition_id(sim), "outcome": "No"})
        resolved = await next_matching(handle, lambda e: isinstance(e, MarketResolvedEvent))

    assert isinstance(tick, MarketTickSizeChangeEvent)
    assert (tick.payload.old_tick_size, tick.payload.new_tick_size) == (
        Decimal("0.01"),
        Decimal("0.001"),
    )
    assert isinstance(resolved, MarketResolvedEvent)
    assert resolved.payload.winning_outcome == "No"


async def test_user_channel_reports_placement_trades_and_cancellation(
    sim: SimServer, client: AsyncSecureClient
) -> None:
    yes, _ = tokens(sim)
    handle = await client.subscribe(UserSpec())
    async with handle:
        await user_channel_ready(sim)
        resting = await client.place_limit_order(token_id=yes, price="0.50", size="5", side="BUY")
        placement = await next_matching(handle, lambda e: isinstance(e, UserOrderEvent))
        await client.place_limit_order(token_id=yes, price="0.70", size="5", side="BUY")
        matched = await next_matching(handle, lambda e: isinstance(e, UserTradeEvent))
        confirmed = await next_matching(
            handle,
            lambda e: isinstance(e, UserTradeEvent) and e.payload.status == "CONFIRMED",
        )
        await client.cancel_order(order_id=resting.order_id)  # type: ignore[union-attr]
        cancelled = await next_matching(
            handle,
            lambda e: (
                isinstance(e, UserOrderEvent) and e.payload.order_event_type == "CANCELLATION"
            ),
        )

    assert isinstance(placement, UserOrderEvent)
    assert placement.payload.order_event_type == "PLACEMENT"
    assert placement.payload.id == resting.order_id  # type: ignore[union-attr]
    assert isinstance(matched, UserTradeEvent)
    assert matched.payload.status == "MATCHED"
    assert matched.payload.trader_side == "TAKER"
    assert isinstance(confirmed, UserTradeEvent)
    assert confirmed.payload.id == matched.payload.id
    assert isinstance(cancelled, UserOrderEvent)
    assert cancelled.payload.status == "CANCELED"


async def test_user_channel_with_bad_credentials_is_closed(sim: SimServer) -> None:
    async with websockets.connect(sim.user_ws_url) as socket:
        await socket.send(json.dumps({"type": "user", "auth": {"apiKey": "nope"}}))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await wait_for(socket.recv())

    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1008


async def test_ping_is_answered_with_pong(sim: SimServer) -> None:
    async with websockets.connect(sim.market_ws_url) as socket:
        await socket.send("PING")
        assert await wait_for(socket.recv()) == "PONG"

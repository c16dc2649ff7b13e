"""The official polymarket-client SDK trading against the simulator on loopback."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest
from eth_account import Account
from polymarket import AsyncSecureClient
from polymarket.errors import OrderHeartbeatMismatchError, RequestRejectedError

from polysim.clob.app import SimServer, serve
from polysim.clob.signing import Domain, order_hash, parse_signed_order
from tests.support.sim import (
    admin,
    condition_id,
    eventually,
    l2_headers,
    order_payload,
    running_sim,
    scenario,
    sdk_client,
    tokens,
)
from trader.clock import FakeClock
from trader.venue.polymarket.sdk_env import build_environment

# `sim` and `client` come from conftest.py
pytestmark = pytest.mark.usefixtures("plain_http_only")


async def test_create_then_derive_returns_the_same_api_key(sim: SimServer) -> None:
    account = Account.create()
    async with sdk_client(sim, account) as first, sdk_client(sim, account) as second:
        assert first.credentials.key == second.credentials.key
        assert first.credentials.secret == second.credentials.secret
        assert await first.fetch_api_keys() == (first.credentials.key,)


async def test_default_deposit_wallet_flow_signs_type_3_orders_the_venue_accepts(
    sim: SimServer,
) -> None:
    signer = Account.create()
    async with sdk_client(sim, signer) as eoa:
        relayer_key = await eoa.create_builder_api_key()  # to deploy the wallet (relayer.py)
    client = await AsyncSecureClient.create(
        private_key=signer.key.hex(),
        environment=build_environment(**sim.sdk_urls),
        api_key=relayer_key,
    )
    try:
        yes, _ = tokens(sim)
        placed = await client.place_limit_order(token_id=yes, price="0.70", size="5", side="BUY")
        positions = [p async for p in client.list_positions().iter_items()]
    finally:
        await client.close()

    assert client.wallet_type == "DEPOSIT_WALLET"
    assert placed.ok
    assert [(p.wallet, p.current_size) for p in positions] == [(client.wallet, Decimal(5))]


async def test_book_is_best_last_and_the_no_book_mirrors_the_yes_book(
    sim: SimServer, client: AsyncSecureClient
) -> None:
    yes, no = tokens(sim)

    yes_book = await client.get_order_book(token_id=yes)
    no_book = await client.get_order_book(token_id=no)

    assert [lv.price for lv in yes_book.bids] == sorted(lv.price for lv in yes_book.bids)
    assert [lv.price for lv in yes_book.asks] == sorted(
        (lv.price for lv in yes_book.asks), reverse=True
    )
    assert yes_book.bids[-1].price < yes_book.asks[-1].price
    assert no_book.bids[-1].price == 1 - yes_book.asks[-1].price
    assert no_book.asks[-1].price == 1 - yes_book.bids[-1].price
    assert yes_book.tick_size == Decimal("0.01")
    assert yes_book.condition_id == sim.exchange.market_for_token(yes).condition_id  # type: ignore[union-attr]


async def test_resting_limit_order_is_listed_and_fetchable(
    sim: SimServer, client: AsyncSecureClient
) -> None:
    yes, _ = tokens(sim)

    placed = await client.place_limit_order(token_id=yes, price="0.50", size="10", side="BUY")

    assert placed.ok
    assert placed.status == "live"
    page = await client.list_open_orders().first_page()
    assert [o.id for o in page.items] == [placed.order_id]
    order = await client.get_order(order_id=placed.order_id)
    assert (order.price, order.original_size, order.status) == (Decimal("0.5"), Decimal(10), "LIVE")


async def test_order_id_is_the_eip712_hash_of_the_signed_order(
    sim: SimServer, client: AsyncSecureClient
) -> None:
    yes, _ = tokens(sim)
    signed = await client.create_limit_order(token_id=yes, price="0.40", size="5", side="BUY")
    wire = json.loads(order_payload(client, signed))["order"]
    expected = order_hash(parse_signed_order(wire), Domain(137, sim.context.scenario.exchange))

    placed = await client.post_order(signed)

    assert placed.ok
    assert placed.order_id == expected


async def test_batch_post_places_every_order(sim: SimServer, client: AsyncSecureClient) -> None:
    yes, no = tokens(sim)
    signed = [
        await client.create_limit_order(token_id=yes, price="0.55", size="5", side="BUY"),
        await client.create_limit_order(token_id=no, price="0.30", size="5", side="BUY"),
        await client.create_limit_order(token_id=yes, price="0.01", size="1", side="BUY"),
    ]

    results = await client.post_orders(signed)

    assert [r.ok for r in results] == [True, True, False]
    assert results[2].message.startswith("Size (1) lower than the minimum")
    open_ids = {o.id async for o in client.list_open_orders().iter_items()}
    assert open_ids == {results[0].order_id, results[1].order_id}  # type: ignore[union-attr]


async def test_open_orders_paginate_with_cursors_until_lte(
    sim: SimServer, client: AsyncSecureClient
) -> None:
    yes, _ = tokens(sim)
    placed = [
        await client.place_limit_order(token_id=yes, price=f"0.{40 + i}", size="5", side="BUY")
        for i in range(9)
    ]

    first = await client.list_open_orders().first_page()
    everything = [o.id async for o in client.list_open_orders().iter_items()]

    assert len(first.items) == 4
    assert first.has_more
    assert everything == [p.order_id for p in placed]  # type: ignore[union-attr]
    path = "/data/orders"
    async with httpx.AsyncClient(base_url=sim.url) as http:
        last = await http.get(
            path, params={"next_cursor": "OA=="}, headers=l2_headers(client, "GET", path)
        )
    assert last.json()["next_cursor"] == "LTE="
    assert last.json()["count"] == 1


async def test_cancel_one_then_all(sim: SimServer, client: AsyncSecureClient) -> None:
    yes, no = tokens(sim)
    first = await client.place_limit_order(token_id=yes, price="0.45", size="5", side="BUY")
    second = await client.place_limit_order(token_id=no, price="0.20", size="5", side="BUY")
    third = await client.place_limit_order(token_id=yes, price="0.44", size="5", side="BUY")

    one = await client.cancel_order(order_id=first.order_id)  # type: ignore[union-attr]
    again = await client.cancel_order(order_id=first.order_id)  # type: ignore[union-attr]
    rest = await client.cancel_all()

    assert one.canceled == (first.order_id,)  # type: ignore[union-attr]
    assert again.not_canceled == {first.order_id: "already canceled or matched"}  # type: ignore[union-attr]
    assert set(rest.canceled) == {second.order_id, third.order_id}  # type: ignore[union-attr]
    assert (await client.list_open_orders().first_page()).items == ()


async def test_crossing_order_fills_against_synthetic_book_and_shows_in_trades(
    sim: SimServer, client: AsyncSecureClient
) -> None:
    yes, _ = tokens(sim)
    best_ask = (await client.get_order_book(token_id=yes)).asks[-1].price

    placed = await client.place_limit_order(token_id=yes, price="0.70", size="10", side="BUY")

    assert placed.ok
    assert placed.status == "matched"
    assert placed.taking_amount == Decimal(10)
    assert placed.making_amount == best_ask * 10
    trades = [t async for t in client.list_account_trades().iter_items()]
    assert [(t.trader_side, t.price, t.size) for t in trades] == [("TAKER", best_ask, 10)]
    assert trades[0].id in placed.trade_ids
    await eventually(lambda: sim.exchange.trades[0].status.value == "CONFIRMED", within=5)
    balance = await client.get_balance_allowance(asset_type="COLLATERAL")
    assert balance.balance == int((Decimal(1000) - best_ask * 10) * 1_000_000)
    held = await client.get_balance_allowance(asset_type="CONDITIONAL", token_id=yes)
    assert held.balance == 10_000_000


async def test_no_token_trades_against_the_mirrored_yes_book(
    sim: SimServer, client: AsyncSecureClient
) -> None:
    yes, no = tokens(sim)
    yes_book = await client.get_order_book(token_id=yes)
    yes_bid, yes_ask = yes_book.bids[-1].price, yes_book.asks[-1].price

    bought = await client.place_limit_order(token_id=no, price="0.99", size="10", side="BUY")
    sold = await client.place_limit_order(token_id=no, price="0.01", size="10", side="SELL")

    assert bought.ok
    assert sold.ok
    assert sold.status == "matched"
    buy, sell = [t async for t in client.list_account_trades().iter_items()]
    assert (buy.asset_id, buy.side, buy.price) == (no, "BUY", 1 - yes_bid)
    assert (sell.asset_id, sell.side, sell.price) == (no, "SELL", 1 - yes_ask)


async def test_fill_and_kill_and_fill_or_kill(sim: SimServer, client: AsyncSecureClient) -> None:
    yes, _ = tokens(sim)

    # asks: 50 @ 0.61, 75 @ 0.62, 100 @ 0.63
    fak = await client.place_market_order(token_id=yes, side="BUY", amount="5", order_type="FAK")
    fok_filled = await client.place_market_order(
        token_id=yes, side="BUY", amount="40", max_price="0.62", order_type="FOK"
    )
    fok_killed = await client.place_market_order(
        token_id=yes, side="BUY", amount="100", max_price="0.61", order_type="FOK"
    )
    fak_partial = await client.place_market_order(
        token_id=yes, side="BUY", amount="100", max_price="0.62", order_type="FAK"
    )

    assert fak.ok
    assert fak.status == "matched"
    assert fok_filled.ok
    assert fok_filled.status == "matched"
    assert not fok_killed.ok
    assert fok_killed.code == "fok_not_filled"
    assert fak_partial.ok
    assert fak_partial.taking_amount < Decimal(100) / Decimal("0.62")
    assert (await client.list_open_orders().first_page()).items == ()


async def test_post_only_order_that_would_cross_is_rejected(
    sim: SimServer, client: AsyncSecureClient
) -> None:
    yes, _ = tokens(sim)

    crossing = await client.place_limit_order(
        token_id=yes, price="0.70", size="5", side="BUY", post_only=True
    )
    resting = await client.place_limit_order(
        token_id=yes, price="0.50", size="5", side="BUY", post_only=True
    )

    assert not crossing.ok
    assert crossing.code == "post_only_would_cross"
    assert resting.ok
    assert resting.status == "live"


async def test_reposting_the_same_signed_order_is_a_duplicate(
    sim: SimServer, client: AsyncSecureClient
) -> None:
    yes, _ = tokens(sim)
    signed = await client.create_limit_order(token_id=yes, price="0.50", size="5", side="BUY")
    await client.post_order(signed)

    with pytest.raises(RequestRejectedError) as raised:
        await client.post_order(signed)

    assert raised.value.status == 400
    assert raised.value.code == "INVALID_ORDER_DUPLICATED"


async def test_venue_checks_answer_with_their_codes(
    sim: SimServer, client: AsyncSecureClient
) -> None:
    yes, _ = tokens(sim)
    with pytest.raises(RequestRejectedError) as small:
        await client.place_limit_order(token_id=yes, price="0.50", size="2", side="BUY")
    with pytest.raises(RequestRejectedError) as poor:
        await client.place_limit_order(token_id=yes, price="0.50", size="5000", side="BUY")
    with pytest.raises(RequestRejectedError) as nothing_to_sell:
        await client.place_limit_order(token_id=yes, price="0.50", size="5", side="SELL")

    assert small.value.code == "INVALID_ORDER_MIN_SIZE"
    assert poor.value.code == "INVALID_ORDER_NOT_ENOUGH_BALANCE"
    assert nothing_to_sell.value.code == "INVALID_ORDER_NOT_ENOUGH_BALANCE"


async def test_bad_l2_signature_is_rejected_with_401(
    sim: SimServer, client: AsyncSecureClient
) -> None:
    path = "/data/orders"
    wrong = "c2VjcmV0LXRoYXQtaXMtbm90LXRoZS1vbmUtaXNzdWVkLTAwMDA="
    async with httpx.AsyncClient(base_url=sim.url) as http:
        good = await http.get(path, headers=l2_headers(client, "GET", path))
        bad = await http.get(path, headers=l2_headers(client, "GET", path, secret=wrong))
        unsigned = await http.get(path)

    assert good.status_code == 200
    assert bad.status_code == 401
    assert "signature" in bad.json()["error"]
    assert unsigned.status_code == 401


async def test_stale_heartbeat_id_is_refused_with_the_expected_one(
    client: AsyncSecureClient,
) -> None:
    first = await client.send_order_heartbeat()

    with pytest.raises(OrderHeartbeatMismatchError) as raised:
        await client.send_order_heartbeat(heartbeat_id="not-the-id")
    second = await client.send_order_heartbeat(heartbeat_id=first.heartbeat_id)

    assert raised.value.heartbeat_id == first.heartbeat_id
    assert second.heartbeat_id != first.heartbeat_id


async def test_resting_orders_are_cancelled_when_heartbeats_stop() -> None:
    async with running_sim(heartbeat_timeout_s=0.3) as sim, sdk_client(sim) as client:
        yes, _ = tokens(sim)
        with_heartbeat = await client.place_limit_order(
            token_id=yes, price="0.50", size="5", side="BUY"
        )
        await client.send_order_heartbeat()

        await eventually(
            lambda: sim.exchange.orders[with_heartbeat.order_id].status.value == "CANCELED"  # type: ignore[union-attr]
        )

        assert (await client.list_open_orders().first_page()).items == ()
        order = await client.get_order(order_id=with_heartbeat.order_id)  # type: ignore[union-attr]
        assert order.status == "CANCELED"


async def test_resting_order_at_the_touch_fills_from_synthetic_flow() -> None:
    source = scenario()
    source["markets"][0].update(flow_rate=1.0, flow_size="30")
    async with running_sim(source) as sim, sdk_client(sim) as client:
        yes, _ = tokens(sim)
        best_bid = (await client.get_order_book(token_id=yes)).bids[-1].price
        placed = await client.place_limit_order(
            token_id=yes, price=str(best_bid + Decimal("0.01")), size="20", side="BUY"
        )

        async def filled() -> bool:
            order = await client.get_order(order_id=placed.order_id)  # type: ignore[union-attr]
            return order.size_matched > 0

        await eventually(filled, within=10)
        trades = [t async for t in client.list_account_trades().iter_items()]
        assert trades
        assert all(t.trader_side == "MAKER" for t in trades)


async def test_gamma_markets_and_data_positions(sim: SimServer, client: AsyncSecureClient) -> None:
    yes, _ = tokens(sim)
    await client.place_limit_order(token_id=yes, price="0.70", size="10", side="BUY")

    markets = [m async for m in client.list_markets().iter_items()]
    one = await client.get_market(id=markets[0].id)
    positions = [p async for p in client.list_positions().iter_items()]

    assert [m.question for m in markets] == [
        "Will the simulator pass its tests?",
        "Will the thin market trade?",
    ]
    assert one.outcomes.yes.token_id == yes
    assert one.trading.minimum_tick_size == Decimal("0.01")
    assert [(p.asset_id, p.current_size) for p in positions] == [(yes, Decimal(10))]


async def test_a_fake_clock_drives_scheduled_resolution() -> None:
    source = scenario()
    source["markets"][0].update(resolves_in_s=300, outcome="No")
    clock = FakeClock(datetime.now(UTC))
    sim = await serve("127.0.0.1", 0, source, clock=clock, background=False, auth_max_skew_s=None)
    try:
        async with sdk_client(sim) as client:
            yes, _ = tokens(sim)
            resting = await client.place_limit_order(
                token_id=yes, price="0.50", size="5", side="BUY"
            )
            await sim.advance(299)
            before = await client.get_order(order_id=resting.order_id)  # type: ignore[union-attr]
            await sim.advance(2)
            after = await client.get_order(order_id=resting.order_id)  # type: ignore[union-attr]
            market = await client.get_market(
                id=sim.exchange.markets[condition_id(sim)].spec.gamma_id
            )
    finally:
        await sim.close()

    assert before.status == "LIVE"
    assert after.status == "CANCELED_MARKET_RESOLVED"
    assert market.state.closed
    assert market.outcomes.no.price == Decimal(1)


async def test_admin_state_ledger_agrees_with_the_trade_log(
    sim: SimServer, client: AsyncSecureClient
) -> None:
    yes, no = tokens(sim)
    thin_yes, _ = tokens(sim, 1)
    await client.place_limit_order(token_id=yes, price="0.65", size="30", side="BUY")
    await client.place_limit_order(token_id=no, price="0.45", size="12", side="BUY")
    await client.place_limit_order(token_id=yes, price="0.55", size="8", side="SELL")
    await client.place_limit_order(token_id=thin_yes, price="0.400", size="25", side="BUY")
    await client.place_limit_order(token_id=yes, price="0.40", size="5", side="BUY")

    state = await admin(sim, "GET", "state")

    me = str(client.signer).lower()
    account = next(a for a in state["accounts"] if a["address"].lower() == me)
    cash, held = Decimal(1000), {}
    for trade in state["trades"]:
        for leg in (trade["taker"], trade["maker"]):
            if leg["address"].lower() != me:
                continue
            size, price, fee = Decimal(trade["size"]), Decimal(leg["price"]), Decimal(leg["fee"])
            sign = 1 if leg["side"] == "BUY" else -1
            cash -= sign * size * price + fee
            held[leg["token_id"]] = held.get(leg["token_id"], Decimal(0)) + sign * size
    assert Decimal(account["collateral"]) == cash
    assert {t: Decimal(h["size"]) for t, h in account["holdings"].items()} == held
    assert any(Decimal(leg["fee"]) > 0 for t in state["trades"] for leg in [t["taker"]])
    live = {o["id"] for o in state["orders"] if o["status"] == "LIVE"}
    assert set(state["open_order_ids"]) == live

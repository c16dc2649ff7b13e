"""Every fault the simulator injects, observed the way a client sees it."""

from __future__ import annotations

import json
from decimal import Decimal

import httpx
import pytest
import websockets
from polymarket import AsyncSecureClient
from polymarket.errors import RateLimitError, RequestRejectedError
from polymarket.models.clob.market_events import MarketBookEvent
from polymarket.streams import MarketSpec

from polysim.clob.app import SimServer
from tests.support.sim import (
    admin,
    condition_id,
    l2_headers,
    next_matching,
    order_payload,
    running_sim,
    tokens,
    user_channel_ready,
    wait_for,
)

# `sim` and `client` come from conftest.py
pytestmark = pytest.mark.usefixtures("plain_http_only")


async def fault(sim: SimServer, **rule: object) -> None:
    await admin(sim, "POST", "faults", rule)


async def test_rate_limit_answers_429_with_retry_after_for_the_next_requests(
    sim: SimServer, client: AsyncSecureClient
) -> None:
    yes, _ = tokens(sim)
    await fault(sim, kind="rate_limit", method="GET", path="/book", count=2, retry_after=3)

    for _ in range(2):
        with pytest.raises(RateLimitError) as limited:
            await client.get_order_book(token_id=yes)
        assert limited.value.retry_after == 3
    book = await client.get_order_book(token_id=yes)

    assert book.asset_id == yes
    assert await admin(sim, "GET", "faults") == []


async def test_maintenance_answers_425(sim: SimServer, client: AsyncSecureClient) -> None:
    yes, _ = tokens(sim)
    await fault(sim, kind="maintenance", path="/order", count=1)

    with pytest.raises(RequestRejectedError) as restarting:
        await client.place_limit_order(token_id=yes, price="0.50", size="5", side="BUY")

    assert restarting.value.status == 425
    assert restarting.value.restriction == "restarting"


async def test_post_only_mode_refuses_takers_and_accepts_post_only(
    sim: SimServer, client: AsyncSecureClient
) -> None:
    yes, _ = tokens(sim)
    await fault(sim, kind="post_only_mode", seconds=30)

    with pytest.raises(RequestRejectedError) as refused:
        await client.place_limit_order(token_id=yes, price="0.50", size="5", side="BUY")
    accepted = await client.place_limit_order(
        token_id=yes, price="0.50", size="5", side="BUY", post_only=True
    )

    assert refused.value.status == 503
    assert refused.value.code == "post_only_mode"
    assert refused.value.restriction == "post_only"
    assert refused.value.retry_after is not None
    assert 0 < refused.value.retry_after <= 30
    assert accepted.ok


async def test_cancel_only_mode_refuses_orders_but_not_cancels(
    sim: SimServer, client: AsyncSecureClient
) -> None:
    yes, _ = tokens(sim)
    resting = await client.place_limit_order(token_id=yes, price="0.50", size="5", side="BUY")
    await fault(sim, kind="cancel_only_mode", seconds=30)

    with pytest.raises(RequestRejectedError) as refused:
        await client.place_limit_order(token_id=yes, price="0.50", size="5", side="BUY")
    cancelled = await client.cancel_all()

    assert refused.value.status == 503
    assert refused.value.restriction == "cancel_only"
    assert cancelled.canceled == (resting.order_id,)  # type: ignore[union-attr]


async def test_server_errors_and_any_status(sim: SimServer, client: AsyncSecureClient) -> None:
    await fault(sim, kind="server_error", method="GET", path="/data/*", count=1)
    await fault(sim, kind="http_status", status=502, body={"error": "bad gateway"}, count=1)

    with pytest.raises(RequestRejectedError) as internal:
        await client.list_open_orders().first_page()
    with pytest.raises(RequestRejectedError) as gateway:
        await client.list_open_orders().first_page()
    recovered = await client.list_open_orders().first_page()

    assert internal.value.status == 500
    assert gateway.value.status == 502
    assert str(gateway.value) == "bad gateway"
    assert recovered.items == ()


async def _post_raw(
    sim: SimServer, client: AsyncSecureClient, body: str, *, client_timeout: float
) -> httpx.Response:
    async with httpx.AsyncClient(base_url=sim.url, timeout=client_timeout) as http:
        return await http.post(
            "/order", content=body, headers=l2_headers(client, "POST", "/order", body)
        )


async def test_hang_times_out_and_the_order_never_exists(
    sim: SimServer, client: AsyncSecureClient
) -> None:
    yes, _ = tokens(sim)
    signed = await client.create_limit_order(token_id=yes, price="0.50", size="5", side="BUY")
    await fault(sim, kind="hang", path="/order", count=1, seconds=30)

    with pytest.raises(httpx.ReadTimeout):
        await _post_raw(sim, client, order_payload(client, signed), client_timeout=0.3)

    assert sim.exchange.orders == {}


async def test_hang_after_accept_leaves_an_order_to_look_up_by_hash(
    sim: SimServer, client: AsyncSecureClient
) -> None:
    yes, _ = tokens(sim)
    signed = await client.create_limit_order(token_id=yes, price="0.50", size="5", side="BUY")
    await fault(sim, kind="hang_after_accept", path="/order", count=1, seconds=30)

    with pytest.raises(httpx.ReadTimeout):
        await _post_raw(sim, client, order_payload(client, signed), client_timeout=0.3)
    (order_id,) = sim.exchange.orders
    found = await client.get_order(order_id=order_id)
    with pytest.raises(RequestRejectedError) as again:
        await client.post_order(signed)

    assert found.status == "LIVE"
    assert found.original_size == Decimal(5)
    assert again.value.code == "INVALID_ORDER_DUPLICATED"


async def test_error_after_accept_fills_the_order_then_answers_an_html_503(
    sim: SimServer, client: AsyncSecureClient
) -> None:
    yes, _ = tokens(sim)
    await fault(sim, kind="error_after_accept", method="POST", path="/order", count=1)

    with pytest.raises(RequestRejectedError) as answered:
        await client.place_limit_order(token_id=yes, price="0.70", size="5", side="BUY")
    (order_id,) = sim.exchange.orders
    found = await client.get_order(order_id=order_id)

    assert answered.value.status == 503
    assert (answered.value.code, answered.value.restriction) == (None, None)
    assert found.status == "MATCHED"
    assert found.size_matched == Decimal(5)
    assert await admin(sim, "GET", "faults") == []


async def test_latency_delays_but_serves_and_is_used_up(
    sim: SimServer, client: AsyncSecureClient
) -> None:
    yes, _ = tokens(sim)
    await fault(sim, kind="latency", ms=50, path="/book", count=1)

    book = await client.get_order_book(token_id=yes)

    assert book.asset_id == yes
    assert await admin(sim, "GET", "faults") == []


async def test_rejected_orders_carry_the_injected_code(
    sim: SimServer, client: AsyncSecureClient
) -> None:
    yes, _ = tokens(sim)
    await fault(
        sim, kind="reject_order", code="EXECUTION_ERROR", message="matching failed", count=1
    )

    with pytest.raises(RequestRejectedError) as rejected:
        await client.place_limit_order(token_id=yes, price="0.50", size="5", side="BUY")
    accepted = await client.place_limit_order(token_id=yes, price="0.50", size="5", side="BUY")

    assert rejected.value.code == "EXECUTION_ERROR"
    assert accepted.ok


async def test_partial_fill_leaves_the_rest_resting(
    sim: SimServer, client: AsyncSecureClient
) -> None:
    yes, _ = tokens(sim)
    await fault(sim, kind="partial_fill", fraction=0.4, count=1)

    placed = await client.place_limit_order(token_id=yes, price="0.61", size="10", side="BUY")

    # the rest rests at the market maker's ask, so its next quote fills it: check the answer
    assert placed.ok
    assert placed.status == "live"
    assert placed.taking_amount == Decimal(4)  # type: ignore[union-attr]


async def test_dropped_market_socket_reconnects_and_resends_the_book(
    sim: SimServer, client: AsyncSecureClient
) -> None:
    yes, _ = tokens(sim)
    handle = await client.subscribe(MarketSpec(token_ids=[yes]))
    async with handle:
        await next_matching(handle, lambda e: isinstance(e, MarketBookEvent))
        await fault(sim, kind="drop_ws", channel="market")
        again = await next_matching(handle, lambda e: isinstance(e, MarketBookEvent))

    assert isinstance(again, MarketBookEvent)
    assert again.payload.asset_id == yes


async def _user_socket(sim: SimServer, client: AsyncSecureClient) -> websockets.ClientConnection:
    creds = client.credentials
    socket = await websockets.connect(sim.user_ws_url)
    auth = {"apiKey": creds.key, "secret": creds.secret, "passphrase": creds.passphrase}
    await socket.send(json.dumps({"type": "user", "auth": auth}))
    await user_channel_ready(sim)
    return socket


async def test_duplicate_user_events_arrive_twice(
    sim: SimServer, client: AsyncSecureClient
) -> None:
    yes, _ = tokens(sim)
    socket = await _user_socket(sim, client)
    async with socket:
        await fault(sim, kind="duplicate_user_events", count=1)
        await client.place_limit_order(token_id=yes, price="0.50", size="5", side="BUY")
        first, second = [json.loads(await wait_for(socket.recv())) for _ in range(2)]

    assert first == second
    assert first["type"] == "PLACEMENT"


async def test_reordered_user_events_swap_with_the_next(
    sim: SimServer, client: AsyncSecureClient
) -> None:
    yes, _ = tokens(sim)
    socket = await _user_socket(sim, client)
    async with socket:
        await fault(sim, kind="reorder_user_events", count=1)
        early = await client.place_limit_order(token_id=yes, price="0.50", size="5", side="BUY")
        late = await client.place_limit_order(token_id=yes, price="0.49", size="5", side="BUY")
        seen = [json.loads(await wait_for(socket.recv()))["id"] for _ in range(2)]

    assert seen == [late.order_id, early.order_id]  # type: ignore[union-attr]


async def test_price_jump_runs_over_a_resting_bid(
    sim: SimServer, client: AsyncSecureClient
) -> None:
    yes, _ = tokens(sim)
    bid = await client.place_limit_order(token_id=yes, price="0.55", size="10", side="BUY")

    await fault(sim, kind="price_jump", condition_id=condition_id(sim), to="0.40")
    order = await client.get_order(order_id=bid.order_id)  # type: ignore[union-attr]
    book = await client.get_order_book(token_id=yes)

    assert order.status == "MATCHED"
    assert order.size_matched == Decimal(10)
    assert book.asks[-1].price == Decimal("0.41")


async def test_resolution_cancels_orders_settles_positions_and_closes_gamma(
    sim: SimServer, client: AsyncSecureClient
) -> None:
    yes, _ = tokens(sim)
    await client.place_limit_order(token_id=yes, price="0.70", size="10", side="BUY")
    resting = await client.place_limit_order(token_id=yes, price="0.50", size="5", side="BUY")
    cash_before = (await client.get_balance_allowance(asset_type="COLLATERAL")).balance

    await fault(sim, kind="resolve", condition_id=condition_id(sim), outcome="Yes")

    order = await client.get_order(order_id=resting.order_id)  # type: ignore[union-attr]
    cash_after = (await client.get_balance_allowance(asset_type="COLLATERAL")).balance
    market = await anext(client.list_markets().iter_items())
    refused = await client.place_limit_order(token_id=yes, price="0.50", size="5", side="BUY")
    assert order.status == "CANCELED_MARKET_RESOLVED"
    assert cash_after - cash_before == 10_000_000
    assert market.state.closed
    assert not market.state.accepting_orders
    assert (market.outcomes.yes.price, market.outcomes.no.price) == (Decimal(1), Decimal(0))
    assert not refused.ok
    assert refused.code == "market_not_ready"


async def test_prefixed_statuses_appear_on_rest_reads(
    sim: SimServer, client: AsyncSecureClient
) -> None:
    yes, _ = tokens(sim)
    placed = await client.place_limit_order(token_id=yes, price="0.50", size="5", side="BUY")
    await fault(sim, kind="prefixed_statuses")

    order = await client.get_order(order_id=placed.order_id)  # type: ignore[union-attr]

    assert order.status == "ORDER_STATUS_LIVE"


async def test_unknown_fault_kind_is_a_400(sim: SimServer) -> None:
    async with httpx.AsyncClient(base_url=sim.url) as http:
        response = await http.post("/_admin/faults", json={"kind": "gremlins"})

    assert response.status_code == 400
    assert "unknown fault kind" in response.json()["error"]


async def test_scenario_faults_are_active_from_the_start(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.support.sim import scenario

    source = scenario(faults=[{"kind": "maintenance", "path": "/book", "count": 1}])
    async with running_sim(source) as sim, httpx.AsyncClient(base_url=sim.url) as http:
        yes, _ = tokens(sim)
        first = await http.get("/book", params={"token_id": yes})
        second = await http.get("/book", params={"token_id": yes})

    assert (first.status_code, second.status_code) == (425, 200)


async def test_the_state_lists_the_hits_of_each_rule_not_the_rules_added(
    sim: SimServer, client: AsyncSecureClient
) -> None:
    yes, _ = tokens(sim)
    await fault(sim, kind="error_after_accept", method="POST", path="/order", count=1)
    await fault(sim, kind="rate_limit", method="GET", path="/data/trades", count=5)  # unused
    await fault(sim, kind="post_only_mode", seconds=30)

    with pytest.raises(RequestRejectedError):  # post-only mode refuses it first
        await client.place_limit_order(token_id=yes, price="0.70", size="5", side="BUY")
    await admin(sim, "DELETE", "faults")
    await fault(sim, kind="error_after_accept", method="POST", path="/order", count=1)
    with pytest.raises(RequestRejectedError):
        await client.place_limit_order(token_id=yes, price="0.70", size="5", side="BUY")
    (order_id,) = sim.exchange.orders
    hits = (await admin(sim, "GET", "state"))["fault_hits"]

    assert [(h["kind"], h["method"], h["path"]) for h in hits] == [
        ("post_only_mode", "POST", "/order"),
        ("error_after_accept", "POST", "/order"),
    ]
    assert hits[0]["order_ids"] == []  # refused before the order existed
    assert hits[1]["order_ids"] == [order_id]  # processed, then the answer was lost

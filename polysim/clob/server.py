"""The CLOB's private REST API as `polymarket-client` 0.14.0 uses it (what this simulator serves).

Read from the SDK's source (`clients/async_secure.py`, `clients/_transport.py`,
`_internal/l1_auth.py`, `_internal/hmac.py`, `_internal/actions/{auth,account,orders/*,
order_heartbeats}.py`, `_internal/streams/clob/*`). JSON bodies are compact
(`separators=(",", ":")`) and signed byte for byte; errors are read from `{"error", "code"}`,
429 and `Retry-After`, 425, 503 with `code: post_only_mode`, `retry_after_seconds`.

SDK call -> request -> answer:

- `AsyncSecureClient.create` (L1): `POST /auth/api-key`, on 400 `GET /auth/derive-api-key`
  -> `{apiKey, secret, passphrase}`; with `credentials=`: `GET /auth/api-keys` (L2) ->
  `{apiKeys}`; with `wallet=None` (a deposit wallet) or a proxy or Safe: the relayer's
  `GET /deployed?address&type` -> `{deployed}`, and a deployment (see `relayer.py`).
- before signing (public): `GET /markets-by-token/{token}` -> `{condition_id}`;
  `GET /clob-markets/{condition}` -> `{t: [{t, o}], mts, mos, nr, fd: {r, e}}`;
  market orders also read `GET /book?token_id=` (levels best-last).
- `post_order`: `POST /order {order, owner, orderType, deferExec, postOnly?}` ->
  `{success, orderID, status, makingAmount, takingAmount, errorMsg, tradeIDs,
  transactionsHashes}`; `post_orders`: `POST /orders [..]` (at most 15) -> a list of those.
- `cancel_order`: `DELETE /order {orderID}`; `cancel_orders`: `DELETE /orders [ids]`;
  `cancel_all`: `DELETE /cancel-all` (no body); `cancel_market_orders`:
  `DELETE /cancel-market-orders {market?, asset_id?}` -> `{canceled, not_canceled: {id: why}}`.
- `list_open_orders`: `GET /data/orders?asset_id&id&market&next_cursor` ->
  `{data, next_cursor, limit, count}`; first cursor absent (or `MA==`), the last `LTE=`.
- `get_order`: `GET /data/order/{id}` -> the order, any status (404 when unknown).
- `list_account_trades`: `GET /data/trades?asset_id&id&market&maker_address&after&before&
  next_cursor` -> `{data, next_cursor}` (each trade needs `bucket_index`).
- `get_balance_allowance`: `GET /balance-allowance?asset_type&signature_type&token_id` ->
  `{balance: base units, allowances: {spender: units}}`; `GET /balance-allowance/update`.
- `send_order_heartbeat`: `POST /v1/heartbeats {heartbeat_id}` -> `{heartbeat_id}`; a stale
  id -> 400 `{error_msg: "Invalid Heartbeat ID", heartbeat_id: expected}`.
- `get_closed_only_mode`: `GET /auth/ban-status/closed-only` -> `{closed_only}`;
  `delete_api_key`: `DELETE /auth/api-key` -> `"OK"`.
- streams: `ws://host/ws/market`, `ws://host/ws/user` (see `ws.py`).
- Gamma `list_markets` / `get_market`: `GET {gamma}/markets/keyset?limit&after_cursor..`,
  `/markets/{id}`, `/markets/slug/{slug}`; Data `list_positions`:
  `GET {data}/v2/positions?user&limit&cursor` (see `catalog.py`).

L1 headers: `POLY_ADDRESS, POLY_SIGNATURE, POLY_TIMESTAMP, POLY_NONCE`. L2 headers:
`POLY_ADDRESS, POLY_API_KEY, POLY_PASSPHRASE, POLY_SIGNATURE, POLY_TIMESTAMP` (see `auth.py`).
Order ids are EIP-712 order hashes (`signing.py`); checks and codes are in `rules.py`; fault
injection in `faults.py`; the admin API in `admin.py`.
"""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal
from typing import Any

from aiohttp import web

from polysim.clob.accounts import legacy_wallet
from polysim.clob.auth import ApiKey, check_l1
from polysim.clob.context import ApiError, SimContext, context, page, query_param
from polysim.clob.model import OrderRejected, PlaceRequest, PlaceResult
from polysim.clob.orders import decode_order
from polysim.clob.relayer import SIM_RELAYER, beacon_wallet, owned_wallets
from polysim.clob.scenario import NEG_RISK_ADAPTER
from polysim.clob.signing import SCALE
from polysim.clob.wire import dec, order_json, trade_json

MAX_BATCH = 15
UNLIMITED_ALLOWANCE = str(2**256 - 1)


async def create_api_key(request: web.Request) -> web.Response:
    ctx = context(request)
    address, nonce = _l1(ctx, request)
    key = ctx.keys.create(address, nonce)
    if key is None:
        raise ApiError(400, "Could not create api key")
    ctx.exchange.ledger.account(address)
    return web.json_response(key.as_json())


async def derive_api_key(request: web.Request) -> web.Response:
    ctx = context(request)
    address, nonce = _l1(ctx, request)
    ctx.exchange.ledger.account(address)
    return web.json_response(ctx.keys.derive(address, nonce).as_json())


async def list_api_keys(request: web.Request) -> web.Response:
    ctx = context(request)
    key, _ = await ctx.authenticate(request)
    return web.json_response({"apiKeys": [k.key for k in ctx.keys.keys_for(key.address)]})


async def delete_api_key(request: web.Request) -> web.Response:
    ctx = context(request)
    key, _ = await ctx.authenticate(request)
    ctx.keys.delete(key.key)
    return web.json_response("OK")


async def closed_only(request: web.Request) -> web.Response:
    await context(request).authenticate(request)
    return web.json_response({"closed_only": False})


async def post_order(request: web.Request) -> web.Response:
    ctx = context(request)
    key, body = await ctx.authenticate(request)
    item = _json(body)
    _check_trading_mode(ctx, [item], request)
    status, answer = _place(ctx, key, item, request)
    return web.json_response(answer, status=status)


async def post_orders(request: web.Request) -> web.Response:
    ctx = context(request)
    key, body = await ctx.authenticate(request)
    items = _json(body)
    if not isinstance(items, list) or not items:
        raise ApiError(400, "invalid payload: a non-empty list of orders is required")
    if len(items) > MAX_BATCH:
        raise ApiError(400, f"invalid payload: at most {MAX_BATCH} orders per batch")
    _check_trading_mode(ctx, items, request)
    return web.json_response([_place(ctx, key, item, request)[1] for item in items])


async def cancel_order(request: web.Request) -> web.Response:
    ctx = context(request)
    key, body = await ctx.authenticate(request)
    payload = _json(body)
    order_id = payload.get("orderID") if isinstance(payload, dict) else None
    if not isinstance(order_id, str) or not order_id:
        raise ApiError(400, "invalid payload: orderID is required")
    return _cancel_answer(*_cancel(ctx, request, [order_id], ctx.owners_of(key.address)))


async def cancel_orders(request: web.Request) -> web.Response:
    ctx = context(request)
    key, body = await ctx.authenticate(request)
    ids = _json(body)
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise ApiError(400, "invalid payload: a list of order ids is required")
    return _cancel_answer(*_cancel(ctx, request, ids, ctx.owners_of(key.address)))


def _cancel(
    ctx: SimContext, request: web.Request, ids: list[str], owners: set[str]
) -> tuple[list[str], dict[str, str]]:
    """The exchange's cancel; a `refuse_cancel` fault leaves the first id open."""
    refusal = ctx.faults.take("refuse_cancel", request.method, request.rel_url.raw_path)
    if refusal is None or not ids:
        return ctx.exchange.cancel(ids, owners=owners)
    ctx.faults.touched(refusal, ids[:1])
    canceled, not_canceled = ctx.exchange.cancel(ids[1:], owners=owners)
    reason = str(refusal.params.get("reason", "order is being matched"))
    return canceled, {ids[0]: reason, **not_canceled}


async def cancel_all(request: web.Request) -> web.Response:
    ctx = context(request)
    key, _ = await ctx.authenticate(request)
    return _cancel_answer(ctx.exchange.cancel_where(ctx.owners_of(key.address)), {})


async def cancel_market_orders(request: web.Request) -> web.Response:
    ctx = context(request)
    key, body = await ctx.authenticate(request)
    payload = _json(body) if body else {}
    if not isinstance(payload, dict):
        raise ApiError(400, "invalid payload")
    canceled = ctx.exchange.cancel_where(
        ctx.owners_of(key.address),
        market=payload.get("market") or None,
        asset_id=payload.get("asset_id") or None,
    )
    return _cancel_answer(canceled, {})


async def open_orders(request: web.Request) -> web.Response:
    ctx = context(request)
    key, _ = await ctx.authenticate(request)
    found = ctx.exchange.open_orders(
        ctx.owners_of(key.address),
        market=query_param(request, "market"),
        asset_id=query_param(request, "asset_id"),
        order_id=query_param(request, "id"),
    )
    size = ctx.scenario.page_size
    chunk, following = page(found, query_param(request, "next_cursor"), size)
    prefixed = ctx.prefixed()
    return web.json_response(
        {
            "data": [order_json(o, prefixed=prefixed) for o in chunk],
            "next_cursor": following,
            "limit": size,
            "count": len(chunk),
        }
    )


async def get_order(request: web.Request) -> web.Response:
    ctx = context(request)
    key, _ = await ctx.authenticate(request)
    order = ctx.exchange.orders.get(request.match_info["order_id"])
    if order is None or order.owner not in ctx.owners_of(key.address):
        raise ApiError(404, "order not found")
    return web.json_response(order_json(order, prefixed=ctx.prefixed()))


async def trades(request: web.Request) -> web.Response:
    ctx = context(request)
    key, _ = await ctx.authenticate(request)
    owners = ctx.owners_of(key.address)
    found = ctx.exchange.trades_for(
        owners, market=query_param(request, "market"), asset_id=query_param(request, "asset_id")
    )
    wanted_id = query_param(request, "id")
    after, before = _int_param(request, "after"), _int_param(request, "before")
    found = [
        t
        for t in found
        if (wanted_id is None or t.trade_id == wanted_id)
        and (after is None or t.match_time.timestamp() >= after)
        and (before is None or t.match_time.timestamp() <= before)
    ]
    size = ctx.scenario.page_size
    chunk, following = page(found, query_param(request, "next_cursor"), size)
    prefixed = ctx.prefixed()
    return web.json_response(
        {
            "data": [trade_json(t, owners, prefixed=prefixed) for t in chunk],
            "next_cursor": following,
            "limit": size,
            "count": len(chunk),
        }
    )


async def balance_allowance(request: web.Request) -> web.Response:
    ctx = context(request)
    key, _ = await ctx.authenticate(request)
    funder = _balance_owner(request, key.address)
    asset_type = (query_param(request, "asset_type") or "COLLATERAL").upper()
    if asset_type == "COLLATERAL":
        amount = ctx.exchange.ledger.account(funder).collateral
    else:
        token = query_param(request, "token_id")
        if token is None:
            raise ApiError(400, "token_id is required for CONDITIONAL balances")
        amount = ctx.exchange.ledger.account(funder).tokens(token)
    spenders = (ctx.scenario.exchange, ctx.scenario.neg_risk_exchange, NEG_RISK_ADAPTER)
    return web.json_response(
        {
            "balance": str(int(amount * SCALE)),
            "allowances": dict.fromkeys(spenders, UNLIMITED_ALLOWANCE),
        }
    )


async def balance_allowance_update(request: web.Request) -> web.Response:
    await context(request).authenticate(request)
    return web.json_response("OK")


async def heartbeat(request: web.Request) -> web.Response:
    ctx = context(request)
    key, body = await ctx.authenticate(request)
    payload = _json(body) if body else {}
    beat_id = payload.get("heartbeat_id", "") if isinstance(payload, dict) else ""
    accepted, next_id = ctx.heartbeats.beat(key.key, str(beat_id or ""), ctx.clock.monotonic())
    if not accepted:
        return web.json_response(
            {
                "error": "Invalid Heartbeat ID",
                "error_msg": "Invalid Heartbeat ID",
                "heartbeat_id": next_id,
            },
            status=400,
        )
    return web.json_response({"heartbeat_id": next_id})


async def notifications(request: web.Request) -> web.Response:
    await context(request).authenticate(request)
    return web.json_response([] if request.method == "GET" else "OK")


# --- helpers -----------------------------------------------------------------------------


def _balance_owner(request: web.Request, signer: str) -> str:
    """Whose money a balance read shows: for `signature_type` 1 or 2 the signer's proxy or Safe
    (derived from the signer, as the exchange does); else the wallet the account's orders were
    made by, or before its first order, for `signature_type=3`, the signer's deposit wallet (the
    deployed one, else the one the SDK derives), as the venue reads the wallet the SDK trades
    from."""
    ctx = context(request)
    kind = query_param(request, "signature_type")
    if kind in ("1", "2"):
        return str(legacy_wallet(signer, int(kind)))
    if signer.lower() in ctx.funders or kind != "3":
        return ctx.funder(signer)
    owned = owned_wallets(signer)
    deployed = [w for w in owned if w in request.app[SIM_RELAYER].deployed]
    return deployed[0] if deployed else beacon_wallet(signer)


def _l1(ctx: SimContext, request: web.Request) -> tuple[str, int]:
    return check_l1(
        request.headers,
        chain_id=ctx.scenario.chain_id,
        now=ctx.now(),
        max_skew_s=ctx.scenario.auth_max_skew_s,
    )


def _json(body: str) -> Any:
    try:
        return json.loads(body)
    except json.JSONDecodeError as error:
        raise ApiError(400, "invalid payload: not JSON") from error


def _int_param(request: web.Request, name: str) -> int | None:
    value = query_param(request, name)
    try:
        return None if value is None else int(value)
    except ValueError as error:
        raise ApiError(400, f"{name} must be unix seconds") from error


def _check_trading_mode(ctx: SimContext, items: list[Any], request: web.Request) -> None:
    now = ctx.now()
    cancel_only = ctx.faults.active("cancel_only_mode", now=now)
    if cancel_only is not None:
        ctx.faults.hit(cancel_only, request.method, request.rel_url.raw_path)
        raise ApiError(
            503,
            "Trading is currently cancel-only",
            retry_after_seconds=max(0, int((cancel_only.until or now) - now)),
        )
    post_only = ctx.faults.active("post_only_mode", now=now)
    if post_only is None:
        return
    if all(isinstance(i, dict) and i.get("postOnly") for i in items):
        return
    ctx.faults.hit(post_only, request.method, request.rel_url.raw_path)
    raise ApiError(
        503,
        "post-only mode: only post-only orders and cancels are allowed",
        code="post_only_mode",
        retry_after_seconds=max(0, int((post_only.until or now) - now)),
    )


def _place(
    ctx: SimContext, key: ApiKey, item: Any, request: web.Request
) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body) for one order; batch callers use only the body."""
    order_id = ""
    try:
        relayer = request.app[SIM_RELAYER]
        place_request = decode_order(
            ctx, key, item, deployed=lambda wallet: relayer.is_deployed(wallet, "WALLET")
        )
        order_id = place_request.order_id
        rejection = ctx.faults.take("reject_order", request.method, request.rel_url.raw_path)
        if rejection is not None:
            raise OrderRejected(
                str(rejection.params.get("code", "EXECUTION_ERROR")),
                str(rejection.params.get("message", "order rejected by fault injection")),
                http_status=int(rejection.params.get("status", 400)),
            )
        partial = ctx.faults.take("partial_fill", request.method, request.rel_url.raw_path)
        if partial is not None:
            ctx.faults.touched(partial, [order_id])
            fraction = Decimal(str(partial.params.get("fraction", "0.5")))
            place_request = _with_fraction(place_request, fraction)
        return 200, _accepted(ctx.exchange.place(place_request))
    except OrderRejected as rejected:
        return rejected.http_status, _refused(rejected, order_id)


def _with_fraction(request: PlaceRequest, fraction: Decimal) -> PlaceRequest:
    return dataclasses.replace(request, fill_fraction=fraction)


def _accepted(result: PlaceResult) -> dict[str, Any]:
    return {
        "success": True,
        "errorMsg": "",
        "orderID": result.order_id,
        "status": result.status,
        "makingAmount": dec(result.making),
        "takingAmount": dec(result.taking),
        "tradeIDs": list(result.trade_ids),
        "transactionsHashes": list(result.transaction_hashes),
    }


def _refused(rejected: OrderRejected, order_id: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "success": False,
        "errorMsg": rejected.message,
        "orderID": order_id,
        "status": "",
        "makingAmount": "0",
        "takingAmount": "0",
        "code": rejected.code,
    }
    if rejected.http_status != 200:
        body["error"] = rejected.message
    return body


def _cancel_answer(canceled: list[str], not_canceled: dict[str, str]) -> web.Response:
    return web.json_response({"canceled": canceled, "not_canceled": not_canceled})


def add_routes(app: web.Application) -> None:
    app.router.add_post("/auth/api-key", create_api_key)
    app.router.add_get("/auth/derive-api-key", derive_api_key)
    app.router.add_get("/auth/api-keys", list_api_keys)
    app.router.add_delete("/auth/api-key", delete_api_key)
    app.router.add_get("/auth/ban-status/closed-only", closed_only)
    app.router.add_post("/order", post_order)
    app.router.add_post("/orders", post_orders)
    app.router.add_delete("/order", cancel_order)
    app.router.add_delete("/orders", cancel_orders)
    app.router.add_delete("/cancel-all", cancel_all)
    app.router.add_delete("/cancel-market-orders", cancel_market_orders)
    app.router.add_get("/data/orders", open_orders)
    app.router.add_get("/data/order/{order_id}", get_order)
    app.router.add_get("/data/trades", trades)
    app.router.add_get("/balance-allowance", balance_allowance)
    app.router.add_get("/balance-allowance/update", balance_allowance_update)
    app.router.add_post("/v1/heartbeats", heartbeat)
    app.router.add_get("/notifications", notifications)
    app.router.add_delete("/notifications", notifications)


__all__ = ["MAX_BATCH", "add_routes"]

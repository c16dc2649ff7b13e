"""The simulator's admin API (never faulted, never authenticated: it is a test tool).

- `GET /_admin/state`: markets, every user order, trades (both sides), accounts,
  heartbeats, faults and their hits (`fault_hits`), WebSocket counts.
- `POST /_admin/faults` (a rule, a list, or `{"rules": [...]}`), `GET` / `DELETE` the same
  path to list / clear them (see `faults.py`).
- `POST /_admin/resolve {"condition_id", "outcome"?, "redeem"?}`: resolve a market now;
  outcome "50/50" pays 0.5 per share each side. Answers the winner (null for a 50/50) and the
  payouts. `"redeem": false` leaves every holding REDEEMABLE (as the real venue, which never
  redeems by itself) until `POST /_admin/redeem {"condition_id", "address"}` pays one
  account out (answers the collateral paid).
- `POST /_admin/price {"condition_id" or "token_id", "fair"}`: jump the fair price.
- `POST /_admin/tick_size {"condition_id", "tick_size"}`: change a tick size.
- `POST /_admin/balances {"address", "collateral"?, "deposit"?, "withdraw"?,
  "tokens"?: {token_id: size}}`: set the collateral, or move it by a deposit or a withdrawal
  (the operator moving money in or out of the wallet; refused below zero).
- `POST /_admin/advance {"seconds"}`: step simulated time (moves a FakeClock first).
- `POST /_admin/drop_ws {"channel": "market" | "user" | "all"}`: close sockets.
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from polysim.clob.context import ApiError, SimContext, context
from polysim.clob.faults import FaultError, FaultRule
from polysim.clob.model import SimMarket, SimTrade
from polysim.clob.wire import current_price, dec, order_json
from trader.domain import ZERO

PREFIX = "/_admin"


async def _body(request: web.Request) -> Any:
    text = await request.text()
    try:
        return json.loads(text) if text else {}
    except json.JSONDecodeError as error:
        raise ApiError(400, "not JSON") from error


def _decimal(value: Any, name: str) -> Decimal:
    try:
        return Decimal(str(value))
    except InvalidOperation as error:
        raise ApiError(400, f"{name} must be a number") from error


def _market(ctx: SimContext, body: dict[str, Any]) -> SimMarket:
    condition_id = str(body.get("condition_id", "")).lower()
    market = ctx.exchange.markets.get(condition_id)
    if market is None and body.get("token_id"):
        market = ctx.exchange.market_for_token(str(body["token_id"]))
    if market is None:
        raise ApiError(404, "market not found")
    return market


def _trade_json(trade: SimTrade) -> dict[str, Any]:
    def leg(side: Any) -> dict[str, Any]:
        return {
            "order_id": side.order_id,
            "owner": side.owner,
            "address": side.address,
            "token_id": side.token_id,
            "side": side.side.value,
            "price": dec(side.price),
            "fee": dec(side.fee),
            "synthetic": side.synthetic,
        }

    return {
        "id": trade.trade_id,
        "market": trade.market,
        "size": dec(trade.size),
        "status": trade.status.value,
        "match_time": trade.match_time.isoformat(),
        "transaction_hash": trade.transaction_hash,
        "taker": leg(trade.taker),
        "maker": leg(trade.maker),
    }


def state_json(ctx: SimContext) -> dict[str, Any]:
    exchange = ctx.exchange
    markets = []
    for market in exchange.markets.values():
        yes = market.spec.token_ids[0]
        bid, ask = market.best(yes)
        markets.append(
            {
                "condition_id": market.condition_id,
                "question": market.spec.question,
                "token_ids": list(market.spec.token_ids),
                "fair": dec(market.fair),
                "mid": dec(current_price(market, yes)),
                "best_bid": None if bid is None else dec(bid),
                "best_ask": None if ask is None else dec(ask),
                "tick_size": dec(market.tick_size),
                "closed": market.closed,
                "winner": market.winner,
                "volume": dec(market.volume),
            }
        )
    accounts = [
        {
            "address": a.address,
            "collateral": dec(a.collateral),
            "free_collateral": dec(exchange.free_collateral(a.address)),
            "holdings": {
                t: {
                    "size": dec(h.size),
                    "average_price": dec(h.average_price),
                    "realized_pnl": dec(h.realized_pnl),
                }
                for t, h in a.holdings.items()
            },
        }
        for a in exchange.ledger.accounts()
    ]
    return {
        "time": ctx.clock.now().isoformat(),
        "markets": markets,
        "orders": [order_json(o) for o in exchange.orders.values()],
        "open_order_ids": [o.order_id for o in exchange.open_orders()],
        "trades": [_trade_json(t) for t in exchange.trades],
        "accounts": accounts,
        "api_keys": [{"key": k.key, "address": k.address} for k in ctx.keys.all()],
        "heartbeats": ctx.heartbeats.armed(),
        "faults": [r.as_json() for r in ctx.faults.rules()],
        "fault_hits": [h.as_json() for h in ctx.faults.hits()],
        "websockets": {
            "market": ctx.hub.count("market") if ctx.hub else 0,
            "user": ctx.hub.count("user") if ctx.hub else 0,
        },
    }


async def get_state(request: web.Request) -> web.Response:
    return web.json_response(state_json(context(request)))


async def add_faults(request: web.Request) -> web.Response:
    ctx = context(request)
    body = await _body(request)
    specs = body.get("rules", [body]) if isinstance(body, dict) else body
    if not isinstance(specs, list):
        raise ApiError(400, "a rule, a list of rules, or {rules: [...]}")
    added = []
    for spec in specs:
        if not isinstance(spec, dict):
            raise ApiError(400, "each rule is an object")
        try:
            rule = ctx.faults.add(spec, now=ctx.now())
        except FaultError as error:
            raise ApiError(400, str(error)) from error
        await apply_immediate(ctx, rule)
        added.append(rule.as_json())
    return web.json_response({"added": added})


async def apply_immediate(ctx: SimContext, rule: FaultRule) -> None:
    """Carry out the faults that are actions rather than standing rules."""
    params = rule.params
    if rule.kind == "drop_ws" and ctx.hub is not None:
        channel = str(params.get("channel", "all"))
        for _ in range(await ctx.hub.drop(channel)):  # one hit per socket closed
            ctx.faults.hit(rule, "WS", channel)
    elif rule.kind == "price_jump":
        market = _market(ctx, params)
        ctx.liquidity.jump(market.condition_id, _decimal(params.get("to"), "to"))
        ctx.faults.hit(rule, "ADMIN", market.condition_id)
    elif rule.kind == "resolve":
        _resolve(ctx, _market(ctx, params), params.get("outcome"))


async def list_faults(request: web.Request) -> web.Response:
    return web.json_response([r.as_json() for r in context(request).faults.rules()])


async def clear_faults(request: web.Request) -> web.Response:
    context(request).faults.clear()
    return web.json_response({"cleared": True})


async def resolve(request: web.Request) -> web.Response:
    ctx = context(request)
    body = await _body(request)
    market = _market(ctx, body)
    payouts = _resolve(ctx, market, body.get("outcome"), redeem=body.get("redeem", True) is True)
    answer = {
        "condition_id": market.condition_id,
        "winner": market.winner,
        "payouts": {token: dec(payout) for token, payout in payouts.items()},
    }
    return web.json_response(answer)


def _resolve(
    ctx: SimContext, market: SimMarket, outcome: Any, *, redeem: bool = True
) -> dict[str, Decimal]:
    wanted = None if outcome is None else str(outcome)
    try:
        return ctx.exchange.resolve(market.condition_id, wanted, redeem=redeem)
    except ValueError as error:
        raise ApiError(400, str(error)) from error


async def redeem(request: web.Request) -> web.Response:
    ctx = context(request)
    body = await _body(request)
    if not isinstance(body, dict) or not body.get("address"):
        raise ApiError(400, "address is required")
    market = _market(ctx, body)
    try:
        paid = ctx.exchange.redeem_for(market.condition_id, str(body["address"]))
    except ValueError as error:
        raise ApiError(400, str(error)) from error
    account = ctx.exchange.ledger.account(str(body["address"]))
    return web.json_response(
        {
            "condition_id": market.condition_id,
            "paid": dec(paid),
            "collateral": dec(account.collateral),
        }
    )


async def price(request: web.Request) -> web.Response:
    ctx = context(request)
    body = await _body(request)
    market = _market(ctx, body)
    ctx.liquidity.jump(market.condition_id, _decimal(body.get("fair"), "fair"))
    return web.json_response({"condition_id": market.condition_id, "fair": dec(market.fair)})


async def tick_size(request: web.Request) -> web.Response:
    ctx = context(request)
    body = await _body(request)
    market = _market(ctx, body)
    ctx.exchange.set_tick_size(market.condition_id, _decimal(body.get("tick_size"), "tick_size"))
    return web.json_response(
        {"condition_id": market.condition_id, "tick_size": dec(market.tick_size)}
    )


async def balances(request: web.Request) -> web.Response:
    ctx = context(request)
    body = await _body(request)
    if not isinstance(body, dict) or not body.get("address"):
        raise ApiError(400, "address is required")
    account = ctx.exchange.ledger.account(str(body["address"]))
    if body.get("collateral") is not None:
        account.collateral = _decimal(body["collateral"], "collateral")
    moved = _decimal(body.get("deposit", 0), "deposit") - _decimal(
        body.get("withdraw", 0), "withdraw"
    )
    if account.collateral + moved < ZERO:
        raise ApiError(400, "a withdrawal cannot take the collateral below zero")
    account.collateral += moved
    for token_id, size in dict(body.get("tokens") or {}).items():
        holding = account.holding(str(token_id))
        holding.size = _decimal(size, "tokens")
        holding.cost = holding.cost if holding.size > 0 else ZERO
    return web.json_response({"address": account.address, "collateral": dec(account.collateral)})


async def advance(request: web.Request) -> web.Response:
    ctx = context(request)
    body = await _body(request)
    seconds = float(body.get("seconds", 0)) if isinstance(body, dict) else 0.0
    mover = getattr(ctx.clock, "advance", None)
    if callable(mover):
        mover(seconds)
    ctx.step(seconds)
    return web.json_response({"time": ctx.clock.now().isoformat()})


async def drop_ws(request: web.Request) -> web.Response:
    ctx = context(request)
    body = await _body(request)
    channel = str(body.get("channel", "all")) if isinstance(body, dict) else "all"
    dropped = await ctx.hub.drop(channel) if ctx.hub is not None else 0
    return web.json_response({"dropped": dropped})


def add_routes(app: web.Application) -> None:
    router = app.router
    router.add_get(f"{PREFIX}/state", get_state)
    router.add_post(f"{PREFIX}/faults", add_faults)
    router.add_get(f"{PREFIX}/faults", list_faults)
    router.add_delete(f"{PREFIX}/faults", clear_faults)
    router.add_post(f"{PREFIX}/resolve", resolve)
    router.add_post(f"{PREFIX}/redeem", redeem)
    router.add_post(f"{PREFIX}/price", price)
    router.add_post(f"{PREFIX}/tick_size", tick_size)
    router.add_post(f"{PREFIX}/balances", balances)
    router.add_post(f"{PREFIX}/advance", advance)
    router.add_post(f"{PREFIX}/drop_ws", drop_ws)


__all__ = ["PREFIX", "add_routes", "apply_immediate", "state_json"]

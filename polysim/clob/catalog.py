"""Gamma (market catalogue) and Data API (positions, trades), mounted under `/gamma` and
`/data-api` on the simulator's port so they never collide with the CLOB's own paths.

Gamma, as the real one: `outcomes`, `outcomePrices` and `clobTokenIds` are JSON-encoded
strings; tick and minimum size are numbers. `GET /gamma/markets` pages by `limit`/`offset`;
`GET /gamma/markets/keyset` (what the SDK's `list_markets` calls) answers
`{markets, next_cursor}` and takes `after_cursor`. Filters: `active`, `closed`, `id`, `slug`,
`condition_ids`, `clob_token_ids` (repeatable). A resolved market shows `closed: true`,
`acceptingOrders: false`, `umaResolutionStatus: "resolved"` and its payouts as outcome prices:
"1"/"0", or "0.5"/"0.5" for a 50/50.

Data API: `GET /data-api/positions?user=` (the v1 camelCase list) and
`GET /data-api/v2/positions?user=&condition_id=&status=&limit=&cursor=` (the SDK's
`list_positions`: `{data, pagination: {has_more, next_cursor}}`); `GET /data-api/trades?user=`.
Positions settle at resolution (each share paid its payout; unless resolved with `"redeem":
false`, which leaves them REDEEMABLE until `/_admin/redeem`), so a resolved
holding appears as CLOSED with its realized PnL.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from aiohttp import web

from polysim.clob.context import ApiError, SimContext, context, query_param
from polysim.clob.ledger import Account, Holding
from polysim.clob.model import SimMarket
from polysim.clob.wire import current_price, dec

GAMMA = "/gamma"
DATA = "/data-api"


def gamma_market_json(market: SimMarket) -> dict[str, Any]:
    spec = market.spec
    yes, no = (current_price(market, t) for t in spec.token_ids)
    bid, ask = market.best(spec.token_ids[0])
    last = market.last_trade.get(spec.token_ids[0])
    volume = spec.volume + market.volume
    liquidity = spec.liquidity or sum(
        (p * s for side in market.levels(spec.token_ids[0]) for p, s in side), spec.liquidity
    )
    closed_time = market.closed_at.isoformat() if market.closed_at else None
    return {
        "id": spec.gamma_id,
        "question": spec.question,
        "conditionId": market.condition_id,
        "slug": spec.slug,
        "description": spec.description,
        "startDate": None if spec.opened_at is None else spec.opened_at.isoformat(),
        "endDate": None if spec.end_date is None else spec.end_date.isoformat(),
        "outcomes": json.dumps([t.outcome for t in spec.tokens]),
        "outcomePrices": json.dumps([dec(yes), dec(no)]),
        "clobTokenIds": json.dumps(list(spec.token_ids)),
        "active": True,
        "closed": market.closed,
        "archived": False,
        "acceptingOrders": market.accepting_orders,
        "enableOrderBook": True,
        "negRisk": spec.neg_risk,
        "events": [{"id": spec.event, "slug": spec.event, "title": spec.event}]
        if spec.event
        else [],
        "orderPriceMinTickSize": _number(market.tick_size),
        "orderMinSize": _number(spec.min_order_size),
        "volume": dec(volume),
        "volumeNum": float(volume),
        "liquidity": dec(liquidity),
        "liquidityNum": float(liquidity),
        "bestBid": None if bid is None else float(bid),
        "bestAsk": None if ask is None else float(ask),
        "spread": None if bid is None or ask is None else float(ask - bid),
        "lastTradePrice": None if last is None else float(last[0]),
        "questionID": market.condition_id,
        "version": "v1",  # CTF markets: the SDK redeems and merges them through the adapters
        "umaResolutionStatus": "resolved" if market.closed else "",
        "closedTime": closed_time,
        "feesEnabled": spec.fee_rate_bps > 0,
        # Gamma's schedule: the rate as a fraction, the curve's exponent, makers free
        "feeSchedule": (
            {
                "rate": str(Decimal(spec.fee_rate_bps) / Decimal(10_000)),
                "exponent": spec.fee_exponent,
                "takerOnly": True,
                "rebateRate": "0",
            }
            if spec.fee_rate_bps > 0
            else None
        ),
        "takerBaseFee": spec.fee_rate_bps,
        "secondsDelay": spec.seconds_delay,
        "makerBaseFee": 0,
        "tags": [],
    }


def _number(value: Decimal) -> int | float:
    """A JSON number as the venue writes it: 5, not 5.0."""
    return int(value) if value == value.to_integral_value() else float(value)


def _selected(request: web.Request, ctx: SimContext) -> list[SimMarket]:
    def many(name: str) -> set[str]:
        return {v for v in request.query.getall(name, []) if v}

    ids, slugs = many("id"), many("slug")
    conditions = {c.lower() for c in many("condition_ids")}
    tokens = many("clob_token_ids")
    closed, active = request.query.get("closed"), request.query.get("active")
    found = []
    for market in ctx.exchange.markets.values():
        spec = market.spec
        if (
            (ids and spec.gamma_id not in ids)
            or (slugs and spec.slug not in slugs)
            or (conditions and market.condition_id not in conditions)
            or (tokens and not tokens & set(spec.token_ids))
            or (closed is not None and (closed.lower() == "true") != market.closed)
            or (active is not None and active.lower() == "false")
        ):
            continue
        found.append(market)
    return found


def _int(request: web.Request, name: str, default: int) -> int:
    try:
        return int(request.query.get(name, default))
    except ValueError as error:
        raise ApiError(400, f"{name} must be an integer") from error


async def gamma_markets(request: web.Request) -> web.Response:
    ctx = context(request)
    offset, limit = _int(request, "offset", 0), _int(request, "limit", 100)
    chunk = _selected(request, ctx)[offset : offset + limit]
    return web.json_response([gamma_market_json(m) for m in chunk])


async def gamma_markets_keyset(request: web.Request) -> web.Response:
    ctx = context(request)
    limit = _int(request, "limit", 20)
    offset = int(query_param(request, "after_cursor") or 0)
    selected = _selected(request, ctx)
    chunk = selected[offset : offset + limit]
    following = str(offset + limit) if offset + limit < len(selected) else None
    return web.json_response(
        {"markets": [gamma_market_json(m) for m in chunk], "next_cursor": following}
    )


async def gamma_market(request: web.Request) -> web.Response:
    ctx = context(request)
    wanted = request.match_info.get("id")
    slug = request.match_info.get("slug")
    for market in ctx.exchange.markets.values():
        if market.spec.gamma_id == wanted or (slug is not None and market.spec.slug == slug):
            return web.json_response(gamma_market_json(market))
    raise ApiError(404, "market not found")


# --- Data API ----------------------------------------------------------------------------


def _rows(ctx: SimContext, user: str) -> list[tuple[Account, Holding, SimMarket]]:
    account = ctx.exchange.ledger.account(user)
    rows = []
    for token_id, holding in account.holdings.items():
        market = ctx.exchange.market_for_token(token_id)
        if market is not None:
            rows.append((account, holding, market))
    return rows


def _position_v1(account: Account, holding: Holding, market: SimMarket) -> dict[str, Any]:
    token = holding.token_id
    index = market.index(token)
    price = current_price(market, token)
    value = holding.size * price
    cost = holding.cost
    return {
        "proxyWallet": account.address,
        "asset": token,
        "conditionId": market.condition_id,
        "size": float(holding.size),
        "avgPrice": float(holding.average_price),
        "initialValue": float(cost),
        "currentValue": float(value),
        "cashPnl": float(value - cost),
        "percentPnl": float((value - cost) / cost * 100) if cost else 0.0,
        "totalBought": float(holding.total_bought),
        "realizedPnl": float(holding.realized_pnl),
        "percentRealizedPnl": 0.0,
        "curPrice": float(price),
        "redeemable": market.closed and holding.size > 0,
        "mergeable": False,
        "title": market.spec.question,
        "slug": market.spec.slug,
        "icon": "",
        "eventSlug": market.spec.slug,
        "outcome": market.spec.tokens[index].outcome,
        "outcomeIndex": index,
        "oppositeOutcome": market.spec.tokens[1 - index].outcome,
        "oppositeAsset": market.complement(token),
        "endDate": None if market.spec.end_date is None else market.spec.end_date.isoformat(),
        "negativeRisk": market.spec.neg_risk,
    }


def _position_v2(account: Account, holding: Holding, market: SimMarket) -> dict[str, Any]:
    token = holding.token_id
    index = market.index(token)
    price = current_price(market, token)
    value = holding.size * price
    unrealized = value - holding.cost
    status = "OPEN" if holding.size > 0 and not market.closed else "CLOSED"
    if holding.size > 0 and market.closed:
        status = "REDEEMABLE"
    end = market.spec.end_date
    return {
        "proxy_wallet": account.address,
        "token_id": token,
        "condition_id": market.condition_id,
        "current_size": dec(holding.size),
        "avg_price": dec(holding.average_price),
        "entry_cost_usdc": dec(holding.cost),
        "entry_fees_usdc": dec(holding.fees),
        "total_cost_usdc": dec(holding.cost + holding.fees),
        "current_price": dec(price),
        "current_value": dec(value),
        "total_size": dec(holding.total_bought),
        "realized_pnl": dec(holding.realized_pnl),
        "unrealized_pnl": dec(unrealized),
        "total_pnl": dec(unrealized + holding.realized_pnl),
        "percent_pnl": dec(unrealized / holding.cost * 100) if holding.cost else "0",
        "percent_realized_pnl": "0",
        "status": status,
        "redeemable": status == "REDEEMABLE",
        "mergeable": False,
        "negative_risk": market.spec.neg_risk,
        "archived": False,
        "verified": True,
        "title": market.spec.question,
        "slug": market.spec.slug,
        "outcome": market.spec.tokens[index].outcome,
        "opposite_outcome": market.spec.tokens[1 - index].outcome,
        "outcome_index": index,
        "opposite_token_id": market.complement(token),
        "end_date": None if end is None else end.date().isoformat(),
        "last_event_at": int(holding.last_event_at),
        "first_entry_at": int(holding.first_entry_at),
    }


def _user(request: web.Request) -> str:
    user = query_param(request, "user")
    if user is None:
        raise ApiError(400, "user is required")
    return user


async def positions(request: web.Request) -> web.Response:
    ctx = context(request)
    market = query_param(request, "market")
    threshold = float(request.query.get("sizeThreshold", "0") or 0)
    rows = [
        _position_v1(a, h, m)
        for a, h, m in _rows(ctx, _user(request))
        if h.size > 0 and h.size >= threshold and (market is None or m.condition_id == market)
    ]
    return web.json_response(rows)


async def positions_v2(request: web.Request) -> web.Response:
    ctx = context(request)
    wanted = {c.lower() for c in request.query.getall("condition_id", []) if c}
    status = request.query.get("status")
    rows = [_position_v2(a, h, m) for a, h, m in _rows(ctx, _user(request))]
    rows = [
        r
        for r in rows
        if (not wanted or r["condition_id"] in wanted)
        and ((status is None and r["status"] != "CLOSED") or r["status"] == status)
    ]
    limit = _int(request, "limit", 100)
    offset = int(query_param(request, "cursor") or 0)
    chunk = rows[offset : offset + limit]
    following = str(offset + limit) if offset + limit < len(rows) else None
    return web.json_response(
        {"data": chunk, "pagination": {"has_more": following is not None, "next_cursor": following}}
    )


async def data_trades(request: web.Request) -> web.Response:
    ctx = context(request)
    user = _user(request)
    owners = ctx.owners_of(user)
    out = []
    for trade in reversed(ctx.exchange.trades_for(owners)):
        leg = trade.taker if trade.taker.owner in owners else trade.maker
        market = ctx.exchange.markets[trade.market]
        out.append(
            {
                "proxyWallet": leg.address,
                "side": leg.side.value,
                "asset": leg.token_id,
                "conditionId": trade.market,
                "size": float(trade.size),
                "price": float(leg.price),
                "timestamp": int(trade.match_time.timestamp()),
                "title": market.spec.question,
                "slug": market.spec.slug,
                "outcome": leg.outcome,
                "outcomeIndex": market.index(leg.token_id),
                "transactionHash": trade.transaction_hash,
            }
        )
    return web.json_response(out)


def add_routes(app: web.Application) -> None:
    router = app.router
    router.add_get(f"{GAMMA}/markets", gamma_markets)
    router.add_get(f"{GAMMA}/markets/keyset", gamma_markets_keyset)
    router.add_get(f"{GAMMA}/markets/slug/{{slug}}", gamma_market)
    router.add_get(f"{GAMMA}/markets/{{id}}", gamma_market)
    router.add_get(f"{DATA}/positions", positions)
    router.add_get(f"{DATA}/v2/positions", positions_v2)
    router.add_get(f"{DATA}/trades", data_trades)


__all__ = ["DATA", "GAMMA", "add_routes", "gamma_market_json"]

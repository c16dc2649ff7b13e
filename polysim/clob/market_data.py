"""The CLOB's public market-data endpoints: books, prices, market metadata, time.

`GET /price?side=BUY` is the best bid, `SELL` the best ask (as the venue documents).
`/clob-markets/{condition_id}` is the compact form the SDK reads before signing:
`t` tokens (`t` id, `o` outcome), `mts` tick, `mos` minimum size, `nr` neg-risk,
`fd` fee curve (`r` rate as a fraction, `e` exponent; absent when fees are off).
`/fee-rate` answers `{"base_fee": <integer bps>}` (the venue's OpenAPI; py-clob-client-v2
compares it with ints). Market listings page as the venue's do, `{data, next_cursor, limit,
count}` with base64-offset cursors ending at `LTE=`: `/markets` and `/simplified-markets` list
every market, `/sampling-markets` and `/sampling-simplified-markets` the open ones that pay
liquidity rewards; a simplified market is `{condition_id, rewards, tokens, active, closed,
archived, accepting_orders}`.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from aiohttp import web

from polysim.clob.context import ApiError, SimContext, context, page, query_param
from polysim.clob.model import SimMarket
from polysim.clob.scenario import COLLATERAL_ADDRESS
from polysim.clob.wire import book_json, current_price, dec, last_trade_side
from trader.domain import Side


def _market(ctx: SimContext, token_id: str | None) -> SimMarket:
    market = None if token_id is None else ctx.exchange.market_for_token(token_id)
    if market is None:
        raise ApiError(404, "No orderbook exists for the requested token id")
    return market


async def _tokens(request: web.Request) -> list[dict[str, Any]]:
    try:
        items = json.loads(await request.text())
    except json.JSONDecodeError as error:
        raise ApiError(400, "invalid payload: not JSON") from error
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ApiError(400, "invalid payload: a list of {token_id} objects is required")
    return items


async def get_book(request: web.Request) -> web.Response:
    ctx = context(request)
    token = query_param(request, "token_id")
    return web.json_response(book_json(_market(ctx, token), str(token), ctx.clock.now()))


async def post_books(request: web.Request) -> web.Response:
    ctx = context(request)
    now = ctx.clock.now()
    books = []
    for item in await _tokens(request):
        token = str(item.get("token_id", ""))
        books.append(book_json(_market(ctx, token), token, now))
    return web.json_response(books)


def _price(market: SimMarket, token: str, side: str) -> str:
    bid, ask = market.best(token)
    best = bid if side.upper() == Side.BUY else ask
    if best is None:
        raise ApiError(404, "No orderbook exists for the requested token id")
    return dec(best)


async def get_price(request: web.Request) -> web.Response:
    ctx = context(request)
    token = query_param(request, "token_id")
    market = _market(ctx, token)
    return web.json_response({"price": _price(market, str(token), request.query.get("side", ""))})


async def post_prices(request: web.Request) -> web.Response:
    ctx = context(request)
    answer: dict[str, dict[str, str]] = {}
    for item in await _tokens(request):
        token, side = str(item.get("token_id", "")), str(item.get("side", "BUY")).upper()
        answer.setdefault(token, {})[side] = _price(_market(ctx, token), token, side)
    return web.json_response(answer)


async def get_midpoint(request: web.Request) -> web.Response:
    ctx = context(request)
    token = query_param(request, "token_id")
    return web.json_response({"mid": dec(current_price(_market(ctx, token), str(token)))})


async def post_midpoints(request: web.Request) -> web.Response:
    ctx = context(request)
    answer = {}
    for item in await _tokens(request):
        token = str(item.get("token_id", ""))
        answer[token] = dec(current_price(_market(ctx, token), token))
    return web.json_response(answer)


def _spread(market: SimMarket, token: str) -> str:
    bid, ask = market.best(token)
    return "0" if bid is None or ask is None else dec(ask - bid)


async def get_spread(request: web.Request) -> web.Response:
    ctx = context(request)
    token = query_param(request, "token_id")
    return web.json_response({"spread": _spread(_market(ctx, token), str(token))})


async def post_spreads(request: web.Request) -> web.Response:
    ctx = context(request)
    answer = {}
    for item in await _tokens(request):
        token = str(item.get("token_id", ""))
        answer[token] = _spread(_market(ctx, token), token)
    return web.json_response(answer)


async def get_last_trade_price(request: web.Request) -> web.Response:
    ctx = context(request)
    token = query_param(request, "token_id")
    price, side = last_trade_side(_market(ctx, token), str(token))
    return web.json_response({"price": price, "side": side})


async def post_last_trade_prices(request: web.Request) -> web.Response:
    ctx = context(request)
    answer = []
    for item in await _tokens(request):
        token = str(item.get("token_id", ""))
        price, side = last_trade_side(_market(ctx, token), token)
        if side:
            answer.append({"token_id": token, "price": price, "side": side})
    return web.json_response(answer)


async def get_tick_size(request: web.Request) -> web.Response:
    ctx = context(request)
    token = query_param(request, "token_id") or request.match_info.get("token_id")
    return web.json_response({"minimum_tick_size": float(_market(ctx, token).tick_size)})


async def get_neg_risk(request: web.Request) -> web.Response:
    ctx = context(request)
    token = query_param(request, "token_id") or request.match_info.get("token_id")
    return web.json_response({"neg_risk": _market(ctx, token).spec.neg_risk})


async def get_fee_rate(request: web.Request) -> web.Response:
    ctx = context(request)
    token = query_param(request, "token_id") or request.match_info.get("token_id")
    return web.json_response({"base_fee": int(_market(ctx, token).spec.fee_rate_bps)})


async def markets_by_token(request: web.Request) -> web.Response:
    ctx = context(request)
    market = _market(ctx, request.match_info["token_id"])
    yes, no = market.spec.token_ids
    return web.json_response(
        {"condition_id": market.condition_id, "primary_token_id": yes, "secondary_token_id": no}
    )


def _by_condition(ctx: SimContext, condition_id: str) -> SimMarket:
    market = ctx.exchange.markets.get(condition_id.lower())
    if market is None:
        raise ApiError(404, "market not found")
    return market


async def clob_market_compact(request: web.Request) -> web.Response:
    market = _by_condition(context(request), request.match_info["condition_id"])
    spec = market.spec
    body: dict[str, Any] = {
        "c": market.condition_id,
        "t": [{"t": t.token_id, "o": t.outcome} for t in spec.tokens],
        "mts": float(market.tick_size),
        "mos": float(spec.min_order_size),
        "nr": spec.neg_risk,
        "ao": market.accepting_orders,
        "cl": market.closed,
    }
    if spec.fee_rate_bps > 0:
        body["fd"] = {"r": spec.fee_rate_bps / 10_000, "e": spec.fee_exponent}
    return web.json_response(body)


def clob_market_json(market: SimMarket) -> dict[str, Any]:
    spec = market.spec
    return {
        "accepting_orders": market.accepting_orders,
        "accepting_order_timestamp": None,
        "active": True,
        "archived": False,
        "closed": market.closed,
        "condition_id": market.condition_id,
        "description": spec.description,
        "enable_order_book": True,
        "end_date_iso": None if spec.end_date is None else spec.end_date.isoformat(),
        "fpmm": "",
        "game_start_time": None,
        "icon": "",
        "image": "",
        "is_50_50_outcome": False,
        "maker_base_fee": 0,
        "market_slug": spec.slug,
        "minimum_order_size": float(spec.min_order_size),
        "minimum_tick_size": float(market.tick_size),
        "neg_risk": spec.neg_risk,
        "neg_risk_market_id": "",
        "neg_risk_request_id": "",
        "notifications_enabled": False,
        "question": spec.question,
        "question_id": market.condition_id,
        "rewards": rewards_json(market),
        "seconds_delay": spec.seconds_delay,
        "tags": [],
        "taker_base_fee": spec.fee_rate_bps,
        "tokens": _tokens_json(market),
    }


def simplified_market_json(market: SimMarket) -> dict[str, Any]:
    return {
        "condition_id": market.condition_id,
        "rewards": rewards_json(market),
        "tokens": _tokens_json(market),
        "active": True,
        "closed": market.closed,
        "archived": False,
        "accepting_orders": market.accepting_orders,
    }


def _tokens_json(market: SimMarket) -> list[dict[str, Any]]:
    return [
        {
            "outcome": t.outcome,
            "price": float(current_price(market, t.token_id)),
            "token_id": t.token_id,
            "winner": market.winner == t.token_id,
        }
        for t in market.spec.tokens
    ]


def rewards_json(market: SimMarket) -> dict[str, Any]:
    """The venue's `rewards`: `rates: null` and zeros for a market that pays none."""
    rewards = market.spec.rewards
    if rewards is None:
        return {"rates": None, "min_size": 0, "max_spread": 0}
    return {
        "rates": [
            {"asset_address": COLLATERAL_ADDRESS, "rewards_daily_rate": _number(rewards.daily_rate)}
        ],
        "min_size": _number(rewards.min_size),
        "max_spread": _number(rewards.max_spread),
    }


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def _sampling(market: SimMarket) -> bool:
    return market.spec.rewards is not None and not market.closed


async def clob_market(request: web.Request) -> web.Response:
    market = _by_condition(context(request), request.match_info["condition_id"])
    return web.json_response(clob_market_json(market))


def _listing(
    shape: Callable[[SimMarket], dict[str, Any]], *, sampling: bool = False
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """A paged market listing handler: every market (or the sampling ones) in `shape`."""

    async def handler(request: web.Request) -> web.Response:
        ctx = context(request)
        markets = [m for m in ctx.exchange.markets.values() if not sampling or _sampling(m)]
        size = ctx.scenario.page_size
        chunk, following = page(markets, query_param(request, "next_cursor"), size)
        return web.json_response(
            {
                "data": [shape(m) for m in chunk],
                "next_cursor": following,
                "limit": size,
                "count": len(chunk),
            }
        )

    return handler


async def server_time(request: web.Request) -> web.Response:
    return web.json_response(int(context(request).now()))


async def ok(request: web.Request) -> web.Response:
    return web.json_response("OK")


async def version(request: web.Request) -> web.Response:
    return web.json_response({"version": 2})


def add_routes(app: web.Application) -> None:
    router = app.router
    router.add_get("/book", get_book)
    router.add_post("/books", post_books)
    router.add_get("/price", get_price)
    router.add_post("/prices", post_prices)
    router.add_get("/midpoint", get_midpoint)
    router.add_post("/midpoints", post_midpoints)
    router.add_get("/spread", get_spread)
    router.add_post("/spreads", post_spreads)
    router.add_get("/last-trade-price", get_last_trade_price)
    router.add_post("/last-trades-prices", post_last_trade_prices)
    router.add_get("/tick-size", get_tick_size)
    router.add_get("/tick-size/{token_id}", get_tick_size)
    router.add_get("/neg-risk", get_neg_risk)
    router.add_get("/neg-risk/{token_id}", get_neg_risk)
    router.add_get("/fee-rate", get_fee_rate)
    router.add_get("/fee-rate/{token_id}", get_fee_rate)
    router.add_get("/markets-by-token/{token_id}", markets_by_token)
    router.add_get("/clob-markets/{condition_id}", clob_market_compact)
    router.add_get("/markets/{condition_id}", clob_market)
    router.add_get("/markets", _listing(clob_market_json))
    router.add_get("/simplified-markets", _listing(simplified_market_json))
    router.add_get("/sampling-markets", _listing(clob_market_json, sampling=True))
    router.add_get("/sampling-simplified-markets", _listing(simplified_market_json, sampling=True))
    router.add_get("/time", server_time)
    router.add_get("/ok", ok)
    router.add_get("/", ok)
    router.add_get("/version", version)


__all__ = ["add_routes", "clob_market_json", "rewards_json", "simplified_market_json"]

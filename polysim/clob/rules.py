"""The venue's order checks, with its error codes and the messages the SDK recognises.

Invalid input answers HTTP 400 `{"error": message, "code": CODE}`. Refusals the venue reports
in a 200 body (`success: false`, `errorMsg`) use the exact strings the official SDK maps to
its `RejectedOrder.code` (post-only crossing, unfilled FOK/FAK, market not ready).

| code | when |
|---|---|
| INVALID_ORDER_PAYLOAD | malformed order JSON, owner is not the API key |
| INVALID_ORDER_SIGNATURE | the EIP-712 signature does not recover to the signer / key owner |
| INVALID_ORDER_DUPLICATED | the same signed order (same hash) was posted before |
| INVALID_ORDER_MIN_TICK_SIZE | limit price off the tick grid or outside [tick, 1 - tick] |
| INVALID_ORDER_MIN_SIZE | below the market's minimum shares; marketable BUY under $1 |
| INVALID_ORDER_EXPIRATION | GTD less than a minute ahead; expiration on a non-GTD order |
| INVALID_ORDER_NOT_ENOUGH_BALANCE | free collateral (BUY, fee included) or free tokens (SELL) |
| INVALID_POST_ONLY_ORDER | post-only FOK/FAK (400); post-only that would cross (200) |
| FOK_ORDER_NOT_FILLED_ERROR | FOK that cannot fill completely now (200) |
| FAK_ORDER_NOT_FILLED_ERROR | FAK that matches nothing (200) |
| MARKET_NOT_READY | market closed or not accepting orders (200) |
| MARKET_NOT_FOUND | unknown token id |
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from polysim.clob.ledger import taker_fee
from polysim.clob.model import OrderRejected, PlaceRequest, SimMarket
from trader.domain import OrderType, Side

if TYPE_CHECKING:
    from polysim.clob.exchange import SimExchange

FOK_NOT_FILLED = "order couldn't be fully filled. FOK orders are fully filled or killed."
POST_ONLY_CROSSES = "invalid post-only order: order crosses book"
MIN_GTD_LEAD_S = 60
MIN_MARKETABLE_BUY = Decimal(1)
MARKETABLE = (OrderType.FOK, OrderType.FAK)


def check_market(exchange: SimExchange, request: PlaceRequest) -> SimMarket:
    """The market the order trades on, if it exists, is open and has not seen this order."""
    market = exchange.market_for_token(request.token_id)
    if market is None:
        raise OrderRejected("MARKET_NOT_FOUND", f"market for token {request.token_id} not found")
    if market.closed or not market.accepting_orders:
        raise OrderRejected(
            "MARKET_NOT_READY", "the market is not yet ready to process new orders", http_status=200
        )
    if request.order_id in exchange.orders or request.order_id in exchange.open:
        raise OrderRejected(
            "INVALID_ORDER_DUPLICATED", f"order {request.order_id} is invalid. Duplicated."
        )
    return market


def check_order(exchange: SimExchange, market: SimMarket, request: PlaceRequest) -> None:
    now = int(exchange.clock.now().timestamp())
    _check_type(request, now)
    _check_price(market, request)
    _check_size(market, request)
    _check_funds(exchange, market, request)


def check_post_only_and_fok(
    market: SimMarket, request: PlaceRequest, book_side: Side, book_price: Decimal
) -> None:
    if request.post_only and market.book.crosses(book_side, book_price):
        raise OrderRejected("INVALID_POST_ONLY_ORDER", POST_ONLY_CROSSES, http_status=200)
    if request.order_type is OrderType.FOK and (
        market.book.available(book_side, book_price) < request.size
    ):
        raise OrderRejected("FOK_ORDER_NOT_FILLED_ERROR", FOK_NOT_FILLED, http_status=200)


def _check_type(request: PlaceRequest, now: int) -> None:
    if request.post_only and request.order_type in MARKETABLE:
        raise OrderRejected(
            "INVALID_POST_ONLY_ORDER", "invalid post-only order: only GTC and GTD can be post-only"
        )
    if request.order_type is OrderType.GTD:
        if request.expiration < now + MIN_GTD_LEAD_S:
            raise OrderRejected(
                "INVALID_ORDER_EXPIRATION",
                "invalid expiration: a GTD order must expire at least a minute from now",
            )
    elif request.expiration != 0:
        raise OrderRejected(
            "INVALID_ORDER_EXPIRATION", "invalid expiration: only GTD orders carry an expiration"
        )


def _check_price(market: SimMarket, request: PlaceRequest) -> None:
    tick, price = market.tick_size, request.price
    if request.order_type in MARKETABLE:
        if not 0 < price < 1:
            raise OrderRejected("INVALID_ORDER_MIN_TICK_SIZE", f"invalid price ({price})")
        return
    if price < tick or price > 1 - tick:
        raise OrderRejected(
            "INVALID_ORDER_MIN_TICK_SIZE",
            f"invalid price ({price}), min: {tick} - max: {1 - tick}",
        )
    if price % tick != 0:
        raise OrderRejected(
            "INVALID_ORDER_MIN_TICK_SIZE",
            f"invalid price ({price}): breaks the minimum tick size rule: {tick}",
        )


def _check_size(market: SimMarket, request: PlaceRequest) -> None:
    if request.order_type in MARKETABLE and request.side is Side.BUY:
        if request.collateral < MIN_MARKETABLE_BUY:
            raise OrderRejected(
                "INVALID_ORDER_MIN_SIZE",
                f"invalid amount for a marketable BUY order ({request.collateral}), min: $1",
            )
        return
    minimum = market.spec.min_order_size
    if request.size < minimum:
        raise OrderRejected(
            "INVALID_ORDER_MIN_SIZE", f"Size ({request.size}) lower than the minimum: {minimum}"
        )


def _check_funds(exchange: SimExchange, market: SimMarket, request: PlaceRequest) -> None:
    if request.side is Side.BUY:
        marketable = request.order_type in MARKETABLE
        need = request.collateral if marketable else request.price * request.size
        spec = market.spec
        need += taker_fee(request.size, request.price, spec.fee_rate_bps, spec.fee_exponent)
        free = exchange.free_collateral(request.address)
    else:
        need = request.size
        free = exchange.free_tokens(request.address, request.token_id)
    if need > free:
        raise OrderRejected(
            "INVALID_ORDER_NOT_ENOUGH_BALANCE",
            f"not enough balance / allowance: balance: {free}, order amount: {need}",
        )


__all__ = [
    "FOK_NOT_FILLED",
    "POST_ONLY_CROSSES",
    "check_market",
    "check_order",
    "check_post_only_and_fok",
]

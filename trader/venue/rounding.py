"""Rounding and local validation at the venue boundary.

The domain carries exact `Decimal` prices and sizes; the venue accepts prices on the market's tick
grid within [tick, 1 - tick], sizes with two decimals, at least the market's minimum size, and
marketable BUYs of at least $1 notional. Everything here rounds *towards safety*: a BUY price is
rounded down and a SELL price up, so the rounded order is never worse than the limit the strategy
asked for, and sizes are rounded down, so we never trade more than asked.

An order the venue would refuse is refused here with `OrderRefused` before anything is signed.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, Decimal

from trader.domain import ONE, ZERO, OrderRequest, OrderType, Side
from trader.venue.base import OrderRefused

SIZE_STEP = Decimal("0.01")
MIN_MARKETABLE_BUY_NOTIONAL = Decimal(1)
GTD_MIN_LEAD = timedelta(seconds=180)  # the venue wants GTD expirations >= 3 minutes ahead
IMMEDIATE_TYPES = frozenset({OrderType.FOK, OrderType.FAK})


def round_price(price: Decimal, tick_size: Decimal, side: Side) -> Decimal:
    """Snap `price` to the tick grid: BUY rounds down, SELL rounds up (never worse than asked)."""
    _require_tick(tick_size)
    if not price.is_finite():
        raise OrderRefused(f"price {price} is not a finite number", code="invalid_price")
    rounding = ROUND_FLOOR if side is Side.BUY else ROUND_CEILING
    ticks = (price / tick_size).to_integral_value(rounding=rounding)
    return (ticks * tick_size).quantize(tick_size)


def round_size(size: Decimal) -> Decimal:
    """Round a share count down to the venue's two decimals."""
    if not size.is_finite():
        raise OrderRefused(f"size {size} is not a finite number", code="invalid_size")
    return size.quantize(SIZE_STEP, rounding=ROUND_DOWN)


def is_marketable(
    request: OrderRequest, *, best_bid: Decimal | None = None, best_ask: Decimal | None = None
) -> bool:
    """Would this order take liquidity? FOK/FAK always do; a limit order does when it crosses."""
    if request.post_only:
        return False
    if request.order_type in IMMEDIATE_TYPES:
        return True
    if request.side is Side.BUY:
        return best_ask is not None and request.price >= best_ask
    return best_bid is not None and request.price <= best_bid


def round_order(
    request: OrderRequest,
    *,
    tick_size: Decimal,
    min_order_size: Decimal,
    best_bid: Decimal | None = None,
    best_ask: Decimal | None = None,
    now: datetime | None = None,
) -> OrderRequest:
    """Round `request` to the market's grid and refuse what the venue would refuse.

    `best_bid` / `best_ask` (when known) decide whether a limit order is marketable, which is
    where the $1 minimum notional for BUYs applies. `now` enables the GTD expiration check.
    """
    price = round_price(request.price, tick_size, request.side)
    size = round_size(request.size)
    if size <= ZERO:
        raise OrderRefused(
            f"size {request.size} rounds to {size} shares: nothing to trade", code="invalid_size"
        )
    if size < min_order_size:
        raise OrderRefused(
            f"size {size} is below the market's minimum order size {min_order_size}",
            code="below_min_size",
        )
    if price < tick_size or price > ONE - tick_size:
        raise OrderRefused(
            f"price {price} (from {request.price}) is outside [{tick_size}, {ONE - tick_size}]",
            code="price_out_of_range",
        )
    rounded = dataclasses.replace(request, price=price, size=size)
    if request.side is Side.BUY and is_marketable(rounded, best_bid=best_bid, best_ask=best_ask):
        notional = price * size
        if notional < MIN_MARKETABLE_BUY_NOTIONAL:
            raise OrderRefused(
                f"marketable BUY notional {notional} is below the venue's "
                f"{MIN_MARKETABLE_BUY_NOTIONAL} minimum",
                code="below_min_notional",
            )
    _check_order_type(rounded, now)
    return rounded


def _check_order_type(request: OrderRequest, now: datetime | None) -> None:
    if request.post_only and request.order_type in IMMEDIATE_TYPES:
        raise OrderRefused(
            f"post-only is only possible for GTC and GTD orders, not {request.order_type}",
            code="invalid_post_only",
        )
    if request.order_type is not OrderType.GTD:
        return
    if request.expiration is None:
        raise OrderRefused("a GTD order needs an expiration", code="invalid_expiration")
    if request.expiration.tzinfo is None:
        raise OrderRefused("the GTD expiration must be timezone-aware", code="invalid_expiration")
    if now is not None and request.expiration < now + GTD_MIN_LEAD:
        raise OrderRefused(
            f"GTD expiration {request.expiration.isoformat()} is less than "
            f"{int(GTD_MIN_LEAD.total_seconds())} s ahead",
            code="invalid_expiration",
        )


def _require_tick(tick_size: Decimal) -> None:
    if not tick_size.is_finite() or tick_size <= ZERO or tick_size >= ONE:
        raise OrderRefused(f"tick size {tick_size} is not usable", code="invalid_tick_size")

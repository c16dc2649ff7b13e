"""The touch: where a passive (post-only) order may rest without crossing.

`passive_price` is pure: the maker desk (trader/execution/maker.py) calls it with the book it
reprices on and our own resting size by price, so an order never chases itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from trader.domain import ONE, ZERO, Book, BookLevel, Side


def passive_price(
    side: Side,
    limit: Decimal,
    book: Book,
    improve_ticks: int,
    own: Mapping[Decimal, Decimal] | None = None,
) -> Decimal | None:
    """The post-only price at or inside the touch, or None when there is none within `limit`.

    `own`: our resting size by price on this side, left out of the book (so an order never
    chases itself). A BUY goes `improve_ticks` above the best other bid, at most one tick below
    the best ask and never above `limit`; a SELL the mirror. A price behind the touch is none."""
    tick = book.tick_size
    same = _without(book.bids if side is Side.BUY else book.asks, own or {})
    best = same[0].price if same else None
    other = book.best_ask if side is Side.BUY else book.best_bid
    step = tick * improve_ticks * side.sign
    if best is not None:
        price = best + step
    elif other is not None:
        price = other - tick * side.sign
    else:
        return None
    if side is Side.BUY:
        price = min(price, limit, other - tick if other is not None else price)
        price = (price / tick).to_integral_value(ROUND_FLOOR) * tick
        behind = best is not None and price < best
    else:
        price = max(price, limit, other + tick if other is not None else price)
        price = (price / tick).to_integral_value(ROUND_CEILING) * tick
        behind = best is not None and price > best
    if behind or not tick <= price <= ONE - tick:
        return None
    return price.quantize(tick)


def _without(levels: tuple[BookLevel, ...], own: Mapping[Decimal, Decimal]) -> list[BookLevel]:
    kept = []
    for level in levels:
        size = level.size - own.get(level.price, ZERO)
        if size > ZERO:
            kept.append(BookLevel(level.price, size))
    return kept

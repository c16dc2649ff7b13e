"""What an exit may sell at: the books without our own resting orders, the slippage floor, and
the limit (or why the book is not sold into now). Pure functions of values; see
`trader.signals.exits`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from decimal import ROUND_CEILING, Decimal
from typing import Protocol

from trader.domain import ONE, ZERO, Book, BookLevel, Side


class RestingOrder(Protocol):
    """One of our orders resting on the venue (the execution core's working orders)."""

    @property
    def token_id(self) -> str: ...
    @property
    def side(self) -> Side: ...
    @property
    def price(self) -> Decimal: ...
    @property
    def remaining(self) -> Decimal: ...


def without_own(book: Book, resting: Iterable[RestingOrder]) -> Book:
    """`book` as the rest of the market makes it: our resting size taken out of its levels."""
    own: dict[Side, dict[Decimal, Decimal]] = {Side.BUY: {}, Side.SELL: {}}
    for order in resting:
        if order.token_id == book.token_id:
            side = own[order.side]
            side[order.price] = side.get(order.price, ZERO) + order.remaining
    bids, asks = _without(book.bids, own[Side.BUY]), _without(book.asks, own[Side.SELL])
    return replace(book, bids=bids, asks=asks)


def _without(
    levels: tuple[BookLevel, ...], own: Mapping[Decimal, Decimal]
) -> tuple[BookLevel, ...]:
    left = ((level.price, level.size - own.get(level.price, ZERO)) for level in levels)
    return tuple(BookLevel(price, size) for price, size in left if size > ZERO)


def slippage_floor(book: Book, slippage: Decimal) -> Decimal | None:
    """The lowest price an exit sells at: best bid x (1 - slippage), up to the tick."""
    if book.best_bid is None:
        return None
    floor = book.best_bid * (ONE - slippage)
    ticks = (floor / book.tick_size).to_integral_value(rounding=ROUND_CEILING)
    return max(ticks * book.tick_size, book.tick_size)


def sale_limit(
    book: Book, value: Decimal | None, *, slippage: Decimal, spread: Decimal, discount: Decimal
) -> Decimal | str:
    """The exit's limit on `book`, or why the book is not sold into now: a one-sided book, a
    best bid under mid x (1 - slippage) (dust under a real price), a spread over `max_spread`,
    or a best bid under the token's value (`value`, the mid without one) less `discount`.
    The limit is the slippage floor, raised to that value less the discount, up to the tick."""
    bid, ask, mid = book.best_bid, book.best_ask, book.mid
    if bid is None or ask is None or mid is None:
        return "the book is one-sided"
    if bid < mid * (ONE - slippage):
        return f"the bid {bid} is under the mid {mid} x (1 - EXIT_SLIPPAGE {slippage})"
    if ask - bid > spread:
        return f"the spread {ask - bid} is over EXIT_MAX_SPREAD {spread}"
    least = (mid if value is None else value) - discount
    if bid < least:
        return f"the bid {bid} is under the value less EXIT_MAX_DISCOUNT, {least}"
    floor = slippage_floor(book, slippage) or book.tick_size
    ticks = (least / book.tick_size).to_integral_value(rounding=ROUND_CEILING)
    return max(floor, ticks * book.tick_size)

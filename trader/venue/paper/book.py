"""The paper venue's own orders: placement, liquidity taken per snapshot, resting fills.

Synchronous and free of I/O; `PaperVenue` calls it under its lock and does the awaiting (the
journal, the feed). See `trader.venue.paper.venue` for the fill rules.

Memory stays bounded on a long run. LIVE orders are all kept: they are what a submit's funds
check and a book update look at, and nothing else is scanned. An order that ends (MATCHED,
CANCELED, EXPIRED, an FOK/FAK killed, CANCELED_MARKET_RESOLVED) moves to a window of the
`keep_closed` most recently ended orders (1,000 by default), so `get` (and through it the venue's
`get_order` and `resolve_unknown`) still answers for it for a while: reconciliation looks an
order up within a minute or so of it leaving the open list. Older ended orders are forgotten and
`get` answers None, as the live venue may for an order long filled or cancelled; reconciliation
then settles such an order from its trades.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from trader.domain import (
    ZERO,
    Book,
    FeeSchedule,
    Fill,
    Order,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
)
from trader.fees import taker_fee
from trader.venue.base import CancelResult
from trader.venue.paper.ledger import Take, amount_unspent, take_liquidity, through_liquidity

_IMMEDIATE = (OrderType.FOK, OrderType.FAK)
KEEP_CLOSED = 1000
_KILL_CODES = {
    OrderType.FOK: "FOK_ORDER_NOT_FILLED_ERROR",
    OrderType.FAK: "FAK_ORDER_NOT_FILLED_ERROR",
}


@dataclass(slots=True)
class PaperOrder:
    order_id: str
    request: OrderRequest
    order: Order
    sequence: int


@dataclass(slots=True)
class _Consumption:
    stamp: tuple[datetime, str]
    taken: dict[tuple[Side, Decimal], Decimal] = field(default_factory=dict)


class PaperOrderBook:
    def __init__(self, *, keep_closed: int = KEEP_CLOSED) -> None:
        if keep_closed < 0:
            raise ValueError("keep_closed must not be negative")
        self._keep_closed = keep_closed
        self._open: dict[str, PaperOrder] = {}  # LIVE orders, oldest first
        self._closed: OrderedDict[str, PaperOrder] = OrderedDict()  # most recently ended last
        self._books: dict[str, Book] = {}
        self._consumed: dict[str, _Consumption] = {}
        self._sequence = 0

    # --- reading ----------------------------------------------------------------------------

    def get(self, order_id: str) -> Order | None:
        """A LIVE order, or one among the `keep_closed` most recently ended; else None."""
        entry = self._open.get(order_id) or self._closed.get(order_id)
        return entry.order if entry else None

    def open_orders(self) -> list[Order]:
        return [e.order for e in self._live()]

    @property
    def open_count(self) -> int:
        return len(self._open)

    @property
    def closed_count(self) -> int:
        """Ended orders still remembered (at most `keep_closed`)."""
        return len(self._closed)

    def has_open(self, token_id: str) -> bool:
        return any(e.order.token_id == token_id for e in self._open.values())

    def latest_book(self, token_id: str) -> Book | None:
        return self._books.get(token_id)

    def reserved_cash(self, fees_of: Callable[[str], FeeSchedule]) -> Decimal:
        """Cash the open BUY orders could still spend, fees (by token) included."""
        return sum(
            (
                e.order.price * e.order.remaining
                + taker_fee(e.order.remaining, e.order.price, fees_of(e.order.token_id))
                for e in self._live()
                if e.order.side is Side.BUY
            ),
            ZERO,
        )

    def reserved_shares(self, token_id: str) -> Decimal:
        """Shares of `token_id` the open SELL orders could still deliver."""
        return sum(
            (
                e.order.remaining
                for e in self._live()
                if e.order.side is Side.SELL and e.order.token_id == token_id
            ),
            ZERO,
        )

    @staticmethod
    def crosses(request: OrderRequest, book: Book) -> bool:
        if request.side is Side.BUY:
            return book.best_ask is not None and request.price >= book.best_ask
        return book.best_bid is not None and request.price <= book.best_bid

    # --- taking and placing -----------------------------------------------------------------

    def take(self, request: OrderRequest, book: Book) -> list[Take]:
        """What a new order takes from `book` now; FOK takes all or nothing."""
        consumption = self._consumption(book)
        taken_side = request.side.opposite
        consumed = {p: q for (s, p), q in consumption.taken.items() if s is taken_side}
        levels = book.asks if request.side is Side.BUY else book.bids
        takes = take_liquidity(
            levels,
            side=request.side,
            limit=request.price,
            size=request.size,
            consumed=consumed,
            amount=request.amount if request.side is Side.BUY else None,
        )
        if request.order_type is OrderType.FOK and not _complete(request, takes):
            return []
        for take in takes:
            key = (taken_side, take.price)
            consumption.taken[key] = consumption.taken.get(key, ZERO) + take.size
        return takes

    def place(
        self, order_id: str, request: OrderRequest, fills: Iterable[Fill], now: datetime
    ) -> Order:
        matched = sum((f.size for f in fills), ZERO)
        spent_all = request.amount is not None and request.side is Side.BUY
        spent = sum((f.price * f.size for f in fills), ZERO)
        spent_all = spent_all and not amount_unspent(request.amount or ZERO, spent, request.price)
        if spent_all:  # a marketable buy of an amount is done when the amount is spent
            request = dataclasses.replace(request, size=matched)
        if matched >= request.size:
            status = OrderStatus.MATCHED
        elif request.order_type in _IMMEDIATE:
            status = OrderStatus.CANCELED
        else:
            status = OrderStatus.LIVE
        order = Order(
            order_id=order_id,
            token_id=request.token_id,
            side=request.side,
            price=request.price,
            original_size=request.size,
            size_matched=matched,
            status=status,
            created_at=now,
            market=request.market,
            order_type=request.order_type,
            client_order_id=request.client_order_id,
        )
        self._sequence += 1
        entry = PaperOrder(order_id, request, order, self._sequence)
        if status is OrderStatus.LIVE:
            self._open[order_id] = entry
        else:
            self._remember(entry)
        return order

    @staticmethod
    def kill_code(request: OrderRequest, order: Order) -> str | None:
        """The venue's error code when an immediate order found nothing it could fill."""
        killed = order.status is OrderStatus.CANCELED and request.order_type in _IMMEDIATE
        if killed and (request.order_type is OrderType.FOK or order.size_matched == ZERO):
            return _KILL_CODES[request.order_type]
        return None

    def cancel(self, order_ids: Iterable[str]) -> CancelResult:
        canceled: list[str] = []
        not_canceled: dict[str, str] = {}
        for order_id in order_ids:
            entry = self._open.get(order_id)
            if entry is not None:
                self._close(entry, OrderStatus.CANCELED)
                canceled.append(order_id)
            elif order_id in self._closed:
                not_canceled[order_id] = "already canceled or matched"
            else:
                not_canceled[order_id] = "order not found"
        return CancelResult(canceled=tuple(canceled), not_canceled=not_canceled)

    def cancel_market(self, market: str) -> list[str]:
        """The market resolved: its LIVE orders end as CANCELED_MARKET_RESOLVED (their ids)."""
        ended = [e for e in self._live() if e.order.market == market]
        for entry in ended:
            self._close(entry, OrderStatus.CANCELED_MARKET_RESOLVED)
        return [e.order_id for e in ended]

    def expire(self, now: datetime) -> None:
        for entry in self._live():
            expiration = entry.request.expiration
            if entry.request.order_type is OrderType.GTD and expiration and expiration <= now:
                self._close(entry, OrderStatus.EXPIRED)

    # --- resting fills ----------------------------------------------------------------------

    def set_latest_book(self, book: Book) -> None:
        """A fresh update: liquidity taken from the previous snapshot is forgotten."""
        self._books[book.token_id] = book
        self._consumed.pop(book.token_id, None)

    def forget_book(self, token_id: str) -> None:
        """No longer following this token's updates: its cached book would go stale."""
        self._books.pop(token_id, None)

    def through_fills(self, book: Book) -> list[tuple[PaperOrder, Decimal, Decimal]]:
        """(order, price, size) for resting orders the opposite side moved strictly through.

        Orders are served best price first, then oldest first; size that filled one order is
        not offered to the next.
        """
        results: list[tuple[PaperOrder, Decimal, Decimal]] = []
        for side in (Side.BUY, Side.SELL):
            levels = book.asks if side is Side.BUY else book.bids
            used = ZERO
            for entry in self._queue(book.token_id, side):
                available = through_liquidity(levels, side=side, price=entry.order.price) - used
                size = min(entry.order.remaining, available)
                if size > ZERO:
                    results.append((entry, entry.order.price, size))
                    used += size
        return results

    def record_fill(self, order_id: str, fill: Fill) -> None:
        entry = self._open.get(order_id) or self._closed.get(order_id)
        if entry is None:  # ended and forgotten meanwhile: nothing left to update
            return
        matched = entry.order.size_matched + fill.size
        entry.order = dataclasses.replace(entry.order, size_matched=matched)
        if matched >= entry.order.original_size and order_id in self._open:
            self._close(entry, OrderStatus.MATCHED)

    # --- internals --------------------------------------------------------------------------

    def _live(self) -> list[PaperOrder]:
        return list(self._open.values())

    def _close(self, entry: PaperOrder, status: OrderStatus) -> None:
        entry.order = dataclasses.replace(entry.order, status=status)
        self._open.pop(entry.order_id, None)
        self._remember(entry)

    def _remember(self, entry: PaperOrder) -> None:
        """Keep an ended order for `get`, dropping the oldest beyond `keep_closed`."""
        self._closed[entry.order_id] = entry
        self._closed.move_to_end(entry.order_id)
        while len(self._closed) > self._keep_closed:
            self._closed.popitem(last=False)

    def _queue(self, token_id: str, side: Side) -> list[PaperOrder]:
        entries = [e for e in self._live() if e.order.token_id == token_id and e.order.side is side]
        sign = side.sign
        entries.sort(key=lambda e: (-sign * e.order.price, e.sequence))
        return entries

    def _consumption(self, book: Book) -> _Consumption:
        stamp = (book.timestamp, book.hash)
        current = self._consumed.get(book.token_id)
        if current is None or current.stamp != stamp:
            current = _Consumption(stamp)
            self._consumed[book.token_id] = current
        return current


def _complete(request: OrderRequest, takes: list[Take]) -> bool:
    """A FOK order is filled whole: its size, or (an amount buy) its amount, to the share."""
    if request.amount is not None and request.side is Side.BUY:
        spent = sum((t.price * t.size for t in takes), ZERO)
        return not amount_unspent(request.amount, spent, request.price)
    return sum((t.size for t in takes), ZERO) >= request.size

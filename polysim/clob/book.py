"""A price-time-priority limit order book for one market, in the first outcome's terms.

The simulator keeps one book per binary market. An order on the second outcome is entered
mirrored: BUY NO at p rests as SELL YES at 1 - p, SELL NO at p as BUY YES at 1 - p (the venue
matches complementary tokens the same way, minting or merging pairs). The book itself knows
nothing of tokens, owners' balances or fees: it matches and rests, and remembers which price
levels changed so the caller can publish `price_change` messages.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

from trader.domain import ZERO, Side


@dataclass(slots=True)
class RestingOrder:
    order_id: str
    side: Side  # in book terms
    price: Decimal  # in book terms
    remaining: Decimal
    sequence: int
    owner: str


@dataclass(frozen=True, slots=True)
class Match:
    maker_order_id: str
    maker_owner: str
    price: Decimal  # in book terms: the maker's resting price
    size: Decimal


class OrderBook:
    """Bids and asks as FIFO queues per price level; best prices found by bisection."""

    def __init__(self) -> None:
        self._levels: dict[Side, dict[Decimal, deque[RestingOrder]]] = {
            Side.BUY: {},
            Side.SELL: {},
        }
        self._prices: dict[Side, list[Decimal]] = {Side.BUY: [], Side.SELL: []}  # ascending
        self._orders: dict[str, RestingOrder] = {}
        self._sequence = 0
        # levels touched since the last take_changes(), with their size before the first touch
        self.dirty: dict[tuple[Side, Decimal], Decimal] = {}

    def __contains__(self, order_id: object) -> bool:
        return order_id in self._orders

    def __len__(self) -> int:
        return len(self._orders)

    def get(self, order_id: str) -> RestingOrder | None:
        return self._orders.get(order_id)

    def orders(self) -> Iterator[RestingOrder]:
        return iter(list(self._orders.values()))

    def best(self, side: Side) -> Decimal | None:
        prices = self._prices[side]
        if not prices:
            return None
        return prices[-1] if side is Side.BUY else prices[0]

    def crosses(self, side: Side, price: Decimal) -> bool:
        """Would a taker on `side` with this limit match anything resting?"""
        best = self.best(side.opposite)
        if best is None:
            return False
        return best <= price if side is Side.BUY else best >= price

    def available(self, side: Side, price: Decimal) -> Decimal:
        """How much a taker on `side` with this limit could fill right now."""
        return sum((size for _, size in self._walk(side, price)), ZERO)

    def take(self, side: Side, price: Decimal, size: Decimal) -> list[Match]:
        """Match a taker against resting orders, best price first, oldest first within a price."""
        matches: list[Match] = []
        left = size
        book_side = side.opposite
        while left > 0:
            best = self.best(book_side)
            if best is None or (best > price if side is Side.BUY else best < price):
                break
            queue = self._levels[book_side][best]
            maker = queue[0]
            fill = min(left, maker.remaining)
            self._touch(book_side, best)
            matches.append(Match(maker.order_id, maker.owner, best, fill))
            maker.remaining -= fill
            left -= fill
            if maker.remaining <= 0:
                queue.popleft()
                del self._orders[maker.order_id]
                if not queue:
                    self._drop_level(book_side, best)
        return matches

    def add(self, order_id: str, side: Side, price: Decimal, size: Decimal, owner: str) -> None:
        if order_id in self._orders:
            raise ValueError(f"order {order_id} already rests in the book")
        self._touch(side, price)
        self._sequence += 1
        order = RestingOrder(order_id, side, price, size, self._sequence, owner)
        levels = self._levels[side]
        if price not in levels:
            levels[price] = deque()
            bisect.insort(self._prices[side], price)
        levels[price].append(order)
        self._orders[order_id] = order

    def remove(self, order_id: str) -> RestingOrder | None:
        order = self._orders.get(order_id)
        if order is None:
            return None
        self._touch(order.side, order.price)
        del self._orders[order_id]
        queue = self._levels[order.side][order.price]
        queue.remove(order)
        if not queue:
            self._drop_level(order.side, order.price)
        return order

    def level_size(self, side: Side, price: Decimal) -> Decimal:
        queue = self._levels[side].get(price)
        return sum((o.remaining for o in queue), ZERO) if queue else ZERO

    def levels(self, side: Side) -> list[tuple[Decimal, Decimal]]:
        """Aggregated (price, size) levels, best first."""
        prices = self._prices[side]
        ordered = reversed(prices) if side is Side.BUY else iter(prices)
        return [(p, self.level_size(side, p)) for p in ordered]

    def take_changes(self) -> list[tuple[Side, Decimal, Decimal]]:
        """Levels whose size changed since the last call: (side, price, new size)."""
        changes: list[tuple[Side, Decimal, Decimal]] = []
        for (side, price), before in self.dirty.items():
            now = self.level_size(side, price)
            if now != before:
                changes.append((side, price, now))
        self.dirty = {}
        return changes

    def _touch(self, side: Side, price: Decimal) -> None:
        key = (side, price)
        if key not in self.dirty:
            self.dirty[key] = self.level_size(side, price)

    def _walk(self, side: Side, price: Decimal) -> Iterator[tuple[Decimal, Decimal]]:
        for level_price, size in self.levels(side.opposite):
            if level_price > price if side is Side.BUY else level_price < price:
                return
            yield level_price, size

    def _drop_level(self, side: Side, price: Decimal) -> None:
        del self._levels[side][price]
        prices = self._prices[side]
        del prices[bisect.bisect_left(prices, price)]


def mirror_price(price: Decimal) -> Decimal:
    """A price on one outcome expressed on its complement."""
    return Decimal(1) - price


__all__ = ["Match", "OrderBook", "RestingOrder", "mirror_price"]

"""`ReplayMarketData`: the paper venue's `MarketDataSource`, serving a history at the clock's now.

Recorded books come first: where the recorder kept a book of the token at or before now (and
no price point is newer), that book is served as it was. The fill model, stated
(`FillModel`): where the history has prices but no recorded books, the
book of a token at "now" is synthesised around its last recorded price p at or before now:
best bid = p - half_spread rounded down to the tick, best ask = p + half_spread rounded up to
the tick, then `levels` levels a tick apart on each side, each `depth` shares deep, inside
(0, 1). The paper venue walks those levels (a buy pays the asks, a sell gets the bids) and
charges the market's own taker fee (its `FeeSchedule`, from the history). Markets are listed
only while open (`HistoricalMarket.open_at`); a market whose resolution time has passed resolves
to its recorded payouts (1/0, or 0.5 each for a 50/50). Nothing is read past the clock's now.

`publish_books()` is the replay's market socket: the kernel calls it after moving the clock, and
every subscriber (the paper venue's watchers of resting orders) receives the open tokens' books.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from trader.backtest.history import History
from trader.clock import Clock
from trader.domain import ONE, ZERO, Book, BookLevel, Market, Payouts
from trader.venue.base import VenueUnavailable
from trader.venue.fanout import BookFanOut


@dataclass(frozen=True, slots=True)
class FillModel:
    half_spread: Decimal = Decimal("0.01")  # from the recorded price to the best bid and ask
    depth: Decimal = Decimal(250)  # shares at each level
    levels: int = 3  # levels on each side, a tick apart

    def describe(self) -> str:
        return (
            f"books synthesised from the last price at or before now: best bid/ask at price "
            f"-/+ {self.half_spread} (rounded out to the tick), {self.levels} levels a tick "
            f"apart, {self.depth} shares each; taker fees by each market's schedule"
        )


def synthesise_book(
    token_id: str, price: Decimal, market: Market, model: FillModel, now: datetime
) -> Book:
    tick = market.tick_size
    best_bid = ((price - model.half_spread) / tick).to_integral_value(ROUND_FLOOR) * tick
    best_ask = ((price + model.half_spread) / tick).to_integral_value(ROUND_CEILING) * tick
    bids = tuple(
        BookLevel(level, model.depth)
        for i in range(model.levels)
        if (level := best_bid - tick * i) > ZERO
    )
    asks = tuple(
        BookLevel(level, model.depth)
        for i in range(model.levels)
        if (level := best_ask + tick * i) < ONE
    )
    return Book(
        token_id=token_id,
        bids=bids,
        asks=asks,
        timestamp=now,
        tick_size=tick,
        min_order_size=market.min_order_size,
        market=market.condition_id,
    )


class ReplayMarketData:
    """The history as a market-data source, at `clock.now()`."""

    def __init__(self, history: History, clock: Clock, model: FillModel | None = None) -> None:
        self._history = history
        self._clock = clock
        self.model = model or FillModel()
        self._fanout = BookFanOut()
        self._published: float | None = None
        self._cache: dict[str, Book] = {}
        self._cached_at: datetime | None = None

    async def list_markets(self, *, limit: int = 500) -> Sequence[Market]:
        now = self._clock.now()
        return [m.market for m in self._history.markets if m.open_at(now)][:limit]

    async def get_book(self, token_id: str) -> Book:
        return self.book(token_id)

    def book(self, token_id: str) -> Book:
        """The token's book at now (synthesised once per token per instant: the pipeline, the
        board and the venue each ask for it within one cycle)."""
        now = self._clock.now()
        if now != self._cached_at:
            self._cache.clear()
            self._cached_at = now
        cached = self._cache.get(token_id)
        if cached is None:
            cached = self._cache[token_id] = self._synthesise(token_id, now)
        return cached

    def _synthesise(self, token_id: str, now: datetime) -> Book:
        item = self._history.market_of_token(token_id)
        if item is None or not item.open_at(now):
            raise VenueUnavailable(f"no book for token {token_id}: its market is not open")
        recorded = self._history.recorded_book(token_id, now)
        if recorded is not None:  # what the bot saw: replaces the synthesised book
            return recorded
        price = self._history.price_at(token_id, now)
        if price is None:
            raise VenueUnavailable(f"no book for token {token_id}: no price recorded yet")
        return synthesise_book(token_id, price, item.market, self.model, now)

    def publish_books(self) -> int:
        """Publish the book of every open token that a subscriber follows; how many."""
        self._published = self._clock.monotonic()
        published = 0
        for token_id in sorted(self._fanout.tokens()):
            try:
                book = self.book(token_id)
            except VenueUnavailable:
                continue
            self._fanout.publish(book)
            published += 1
        return published

    def book_updates(self, token_ids: Sequence[str]) -> AsyncIterator[Book]:
        return self._fanout.subscribe(token_ids)

    def book_age(self, token_id: str) -> float | None:
        """Every served book is synthesised at now: as old as the last publish (0 before)."""
        if self._published is None:
            return 0.0
        return self._clock.monotonic() - self._published

    def feed_age(self) -> float | None:
        return None  # no socket to watch

    async def resolved_markets(self, condition_ids: Sequence[str]) -> dict[str, Payouts]:
        now, wanted = self._clock.now(), set(condition_ids)
        return {
            m.market.condition_id: dict(m.payouts)
            for m in self._history.markets
            if m.market.condition_id in wanted and m.payouts is not None and m.resolved_by(now)
        }

    def close(self) -> None:
        self._fanout.close()

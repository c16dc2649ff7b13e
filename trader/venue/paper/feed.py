"""An in-memory market data source: books set by hand (demos, benchmarks, tests).

It implements the `MarketDataSource` protocol `PaperVenue` reads, like the live adapter's
public market-data part does, so paper trading can run on replayed or scripted books. It has no
socket, so `feed_age` is None (whoever watches the feed falls back to the books' silence), and
markets resolve when `resolve` says so.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterable, Sequence

from trader.clock import Clock
from trader.domain import Book, Market, Payouts
from trader.venue.base import VenueUnavailable
from trader.venue.fanout import BookFanOut


class StaticMarketData:
    """Markets and books kept in memory; `set_book` publishes an update to subscribers."""

    def __init__(self, clock: Clock, markets: Iterable[Market] = ()) -> None:
        self._clock = clock
        self._markets = list(markets)
        self._books: dict[str, Book] = {}
        self._updated: dict[str, float] = {}
        self._payouts: dict[str, Payouts] = {}
        self._fanout = BookFanOut()

    async def list_markets(self, *, limit: int = 500) -> Sequence[Market]:
        return self._markets[:limit]

    async def get_book(self, token_id: str) -> Book:
        book = self._books.get(token_id)
        if book is None:
            raise VenueUnavailable(f"no book for token {token_id}")
        return book

    def book_updates(self, token_ids: Sequence[str]) -> AsyncIterator[Book]:
        return self._fanout.subscribe(token_ids)

    def book_age(self, token_id: str) -> float | None:
        updated = self._updated.get(token_id)
        return None if updated is None else self._clock.monotonic() - updated

    def feed_age(self) -> float | None:
        return None  # no socket: nothing to be connected or not

    async def resolved_markets(self, condition_ids: Sequence[str]) -> dict[str, Payouts]:
        return {c: dict(self._payouts[c]) for c in condition_ids if c in self._payouts}

    def resolve(self, condition_id: str, payouts: Payouts) -> None:
        """The market has resolved: `payouts` per share by token (1/0, or 0.5/0.5)."""
        self._payouts[condition_id] = dict(payouts)

    def set_book(self, book: Book, *, stamp: bool = True) -> Book:
        """Store and publish `book` (timestamped now unless `stamp` is False)."""
        if stamp:
            book = dataclasses.replace(book, timestamp=self._clock.now())
        self._books[book.token_id] = book
        self._updated[book.token_id] = self._clock.monotonic()
        self._fanout.publish(book)
        return book

    def add_market(self, market: Market) -> None:
        self._markets.append(market)

    def close(self) -> None:
        self._fanout.close()

"""What the execution core knows about markets and books, for risk checks and marks.

`MarketBoard` keeps the markets (refreshed from the venue's list) and the latest book per
token as it arrives on the bus (coalesced: only the latest matters). On the hot path the engine
asks `book_for(token)`: the cached book when it is fresh, otherwise one REST read. The age the
risk engine sees is the younger of the venue's own feed age and the board's.

`feed_age()` says how long the whole feed has been silent, for the automatic halt: None until
a first book has arrived (a quiet start is not an outage).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from trader.bus import Subscription
from trader.clock import Clock
from trader.domain import Book, Market
from trader.venue.base import Venue, VenueError

log = logging.getLogger(__name__)

BookListener = Callable[[Book], None]


@dataclass(frozen=True, slots=True)
class BookView:
    book: Book | None
    age_s: float | None


class MarketBoard:
    def __init__(self, venue: Venue, clock: Clock, *, refetch_after_s: float = 5.0) -> None:
        self._venue = venue
        self._clock = clock
        self._refetch_after = refetch_after_s
        self._markets: dict[str, Market] = {}
        self._by_token: dict[str, Market] = {}
        self._books: dict[str, Book] = {}
        self._received: dict[str, float] = {}
        self._last_update: float | None = None
        self._listeners: list[BookListener] = []

    # markets --------------------------------------------------------------------------------

    def set_markets(self, markets: Sequence[Market]) -> None:
        for market in markets:
            self.put_market(market)

    def put_market(self, market: Market) -> None:
        self._markets[market.condition_id] = market
        for token in market.tokens:
            self._by_token[token.token_id] = market

    async def refresh_markets(self, *, limit: int = 500) -> int:
        markets = await self._venue.list_markets(limit=limit)
        self.set_markets(markets)
        return len(markets)

    def market(self, condition_id: str) -> Market | None:
        return self._markets.get(condition_id)

    def markets(self) -> list[Market]:
        return list(self._markets.values())

    def event_markets(self, condition_id: str) -> list[str]:
        """Every market of `condition_id`'s neg-risk event (itself included); [] if none."""
        found = self._markets.get(condition_id)
        if found is None or not found.event_id:
            return []
        return [m.condition_id for m in self._markets.values() if m.event_id == found.event_id]

    def market_of_token(self, token_id: str) -> Market | None:
        return self._by_token.get(token_id)

    def outcome_of(self, token_id: str) -> str:
        market = self._by_token.get(token_id)
        token = next((t for t in market.tokens if t.token_id == token_id), None) if market else None
        return token.outcome if token else ""

    def title_of(self, token_id: str) -> str:
        """How alerts name a token: "question — outcome" (an unknown token by its id's first
        12 characters, so an alert about it still says which)."""
        market = self._by_token.get(token_id)
        question = market.question if market else token_id[:12]
        return f"{question} — {self.outcome_of(token_id)}"

    # books ----------------------------------------------------------------------------------

    def add_listener(self, listener: BookListener) -> None:
        self._listeners.append(listener)

    def put_book(self, book: Book) -> None:
        now = self._clock.monotonic()
        self._books[book.token_id] = book
        self._received[book.token_id] = now
        self._last_update = now
        for listener in self._listeners:
            listener(book)

    def cached_book(self, token_id: str) -> Book | None:
        return self._books.get(token_id)

    def book_age(self, token_id: str) -> float | None:
        ages = [self._venue.book_age(token_id)]
        received = self._received.get(token_id)
        if received is not None:
            ages.append(self._clock.monotonic() - received)
        known = [age for age in ages if age is not None]
        return min(known) if known else None

    async def book_for(self, token_id: str) -> BookView:
        """The freshest book we can have now: cached, or one REST read when it is old."""
        book = self._books.get(token_id)
        age = self.book_age(token_id)
        if book is None or age is None or age > self._refetch_after:
            try:
                self.put_book(await self._venue.get_book(token_id))
            except VenueError as error:
                log.warning("book read for %s failed: %s", token_id, error)
            book = self._books.get(token_id)
            age = self.book_age(token_id)
        return BookView(book, age)

    def feed_started(self) -> None:
        """A (re)subscription began: the silence before it is not an outage."""
        self._last_update = self._clock.monotonic()

    def feed_age(self) -> float | None:
        if self._last_update is None:
            return None
        return self._clock.monotonic() - self._last_update

    async def consume(self, subscription: Subscription[Book]) -> None:
        """Apply every book update from the bus (run as a supervised task)."""
        try:
            async for envelope in subscription:
                self.put_book(envelope.payload)
        finally:
            subscription.close()

"""Local order books kept current by the market WebSocket, with per-token freshness.

A token's book is *fresh* from a snapshot (a `book` message, or a REST `/book` when none comes)
until something makes it doubtful: the socket drops (every token, until the snapshots the
venue sends on resubscribe), or a `tick_size_change` (that token: the book is dropped and a new
snapshot fetched). Deltas for a token without a fresh book are ignored rather than applied to a
book that may have missed some. `book_age` is infinite while a token is not fresh, so anything
that checks staleness sees it at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import math
from collections.abc import Awaitable, Callable, Iterable
from decimal import Decimal

from trader.clock import Clock
from trader.domain import Book
from trader.venue.fanout import BookFanOut, BookSubscription
from trader.venue.parsing.rest import ParseError
from trader.venue.parsing.stream import (
    BookSnapshot,
    MarketEvent,
    PriceChange,
    TickSizeChange,
    apply_price_change,
    parse_market_frame,
)
from trader.venue.polymarket.socket import ReconnectingSocket, Send

log = logging.getLogger(__name__)

Snapshot = Callable[[str], Awaitable[Book]]


class MarketBooks:
    def __init__(
        self,
        url: str,
        *,
        clock: Clock,
        snapshot: Snapshot,
        snapshot_grace: float = 2.0,
        reconnect_base: float = 0.5,
    ) -> None:
        self._clock = clock
        self._snapshot = snapshot
        self._snapshot_grace = snapshot_grace
        self._tokens: set[str] = set()
        self._books: dict[str, Book] = {}
        self._fresh: set[str] = set()
        self._updated: dict[str, float] = {}
        self._ticks: dict[str, tuple[Decimal, Decimal]] = {}  # tick size, minimum order size
        self._fanout = BookFanOut()
        self._tasks: set[asyncio.Task[None]] = set()
        self.socket = ReconnectingSocket(
            url,
            clock=clock,
            name="market",
            on_open=self._on_open,
            on_frame=self._on_frame,
            on_down=self._on_down,
            reconnect_base=reconnect_base,
        )

    # --- lifecycle and subscriptions --------------------------------------------------------

    def start(self) -> None:
        self.socket.start()

    async def close(self) -> None:
        self._fanout.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.socket.close()

    def subscribe(self, token_ids: Iterable[str]) -> BookSubscription:
        """Books of `token_ids` as they change (latest per token); starts tracking them."""
        wanted = list(token_ids)
        subscription = self._fanout.subscribe(wanted)
        self.track(wanted)
        for token_id in wanted:  # a consumer starts from the current book when there is one
            if token_id in self._fresh:
                subscription.put(self._books[token_id])
        return subscription

    def track(self, token_ids: Iterable[str]) -> None:
        new = sorted(set(token_ids) - self._tokens)
        if not new:
            return
        self._tokens.update(new)
        if self.socket.connected:
            frame = {"operation": "subscribe", "assets_ids": new}
            self._spawn(self._send_then_snapshot(json.dumps(frame), new))

    # --- reading ----------------------------------------------------------------------------

    def book(self, token_id: str) -> Book | None:
        """The current book, or None when it is not known to be current."""
        return self._books.get(token_id) if token_id in self._fresh else None

    def book_age(self, token_id: str) -> float | None:
        updated = self._updated.get(token_id)
        if updated is None:
            return None
        if token_id not in self._fresh:
            return math.inf
        return max(0.0, self._clock.monotonic() - updated)

    def feed_age(self) -> float | None:
        """The market socket's liveness (see `ReconnectingSocket.feed_age`)."""
        return self.socket.feed_age()

    def remember_tick(self, token_id: str, tick_size: Decimal, min_order_size: Decimal) -> None:
        self._ticks[token_id] = (tick_size, min_order_size)

    # --- socket callbacks -------------------------------------------------------------------

    async def _on_open(self, send: Send) -> None:
        if self._tokens:
            await send(json.dumps({"type": "market", "assets_ids": sorted(self._tokens)}))
            self._spawn(self._snapshot_if_silent(sorted(self._tokens)))

    def _on_down(self) -> None:
        self._fresh.clear()

    def _on_frame(self, text: str) -> None:
        try:
            events = parse_market_frame(text)
        except (ParseError, ValueError, KeyError, TypeError) as error:
            log.warning("unreadable market frame (%s); refreshing every book", error)
            self._fresh.clear()
            self._spawn(self._snapshot_if_silent(sorted(self._tokens), grace=0.0))
            return
        for event in events:
            self._apply(event)

    def _apply(self, event: MarketEvent) -> None:
        if isinstance(event, BookSnapshot):
            if event.book.token_id in self._tokens:
                self._store(self._with_ticks(event.book))
        elif isinstance(event, PriceChange):
            book = self.book(event.token_id)
            if book is not None:
                self._store(apply_price_change(book, event))
        elif isinstance(event, TickSizeChange) and event.token_id in self._tokens:
            _, min_size = self._ticks.get(event.token_id, (event.new_tick_size, Decimal(5)))
            self._ticks[event.token_id] = (event.new_tick_size, min_size)
            self._fresh.discard(event.token_id)
            self._spawn(self._snapshot_if_silent([event.token_id], grace=0.0))

    def _store(self, book: Book) -> None:
        self._books[book.token_id] = book
        self._fresh.add(book.token_id)
        self._updated[book.token_id] = self._clock.monotonic()
        self._fanout.publish(book)

    def _with_ticks(self, book: Book) -> Book:
        known = self._ticks.get(book.token_id)
        if known is None:
            return book
        return dataclasses.replace(book, tick_size=known[0], min_order_size=known[1])

    # --- snapshots --------------------------------------------------------------------------

    async def _send_then_snapshot(self, frame: str, token_ids: list[str]) -> None:
        await self.socket.send(frame)
        await self._snapshot_if_silent(token_ids)

    async def _snapshot_if_silent(self, token_ids: list[str], grace: float | None = None) -> None:
        """Wait for the venue's own snapshots; fetch REST books for tokens still without one."""
        await self._clock.sleep(self._snapshot_grace if grace is None else grace)
        for token_id in token_ids:
            if token_id in self._fresh or token_id not in self._tokens:
                continue
            try:
                book = await self._snapshot(token_id)
            except Exception as error:
                log.warning("snapshot of %s failed: %s", token_id, error)
                continue
            if token_id not in self._fresh and self.socket.connected:
                self.remember_tick(token_id, book.tick_size, book.min_order_size)
                self._store(book)

    def _spawn(self, coroutine: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

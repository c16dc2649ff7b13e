"""In-venue fan-out of streams to any number of consumers.

`FanOut` delivers every item to every subscriber, never dropping (fills). `BookFanOut` keeps
only the latest book per token for each subscriber, so a slow consumer never works through stale
books. A subscription is registered when it is created, not when it is first iterated, so
nothing published in between is lost; `close()` ends it (iteration stops).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

from trader.domain import Book

T = TypeVar("T")


class Subscription(Generic[T]):
    """An async iterator over one consumer's items; `close()` ends it."""

    def __init__(self, on_close: Callable[[Subscription[T]], None]) -> None:
        self._queue: asyncio.Queue[T] = asyncio.Queue()
        self._closed = asyncio.Event()
        self._on_close = on_close

    def put(self, item: T) -> None:
        if not self._closed.is_set():
            self._queue.put_nowait(item)

    def __aiter__(self) -> Subscription[T]:
        return self

    async def __anext__(self) -> T:
        if not self._queue.empty():
            return self._queue.get_nowait()
        if self._closed.is_set():
            raise StopAsyncIteration
        getter = asyncio.ensure_future(self._queue.get())
        closer = asyncio.ensure_future(self._closed.wait())
        try:
            await asyncio.wait({getter, closer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            closer.cancel()
            if not getter.done():
                getter.cancel()
        if getter.done() and not getter.cancelled():
            return getter.result()
        raise StopAsyncIteration

    async def aclose(self) -> None:
        self.close()

    def close(self) -> None:
        if not self._closed.is_set():
            self._closed.set()
            self._on_close(self)


class FanOut(Generic[T]):
    """Publish to every open subscription; nothing is dropped."""

    def __init__(self) -> None:
        self._subscriptions: set[Subscription[T]] = set()

    def subscribe(self) -> Subscription[T]:
        subscription: Subscription[T] = Subscription(self._subscriptions.discard)
        self._subscriptions.add(subscription)
        return subscription

    def publish(self, item: T) -> None:
        for subscription in list(self._subscriptions):
            subscription.put(item)

    def close(self) -> None:
        for subscription in list(self._subscriptions):
            subscription.close()

    def __len__(self) -> int:
        return len(self._subscriptions)


class BookSubscription:
    """Latest book per token, in the order tokens last changed; `close()` ends it."""

    def __init__(
        self, token_ids: Iterable[str], on_close: Callable[[BookSubscription], None]
    ) -> None:
        self.token_ids = frozenset(token_ids)
        self._pending: dict[str, Book] = {}
        self._ready = asyncio.Event()
        self._closed = False
        self._on_close = on_close

    def put(self, book: Book) -> None:
        if self._closed or book.token_id not in self.token_ids:
            return
        self._pending.pop(book.token_id, None)  # re-insert: the newest change goes last
        self._pending[book.token_id] = book
        self._ready.set()

    def __aiter__(self) -> BookSubscription:
        return self

    async def __anext__(self) -> Book:
        while not self._pending:
            if self._closed:
                raise StopAsyncIteration
            self._ready.clear()
            await self._ready.wait()
        token_id = next(iter(self._pending))
        return self._pending.pop(token_id)

    async def aclose(self) -> None:
        self.close()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._ready.set()
            self._on_close(self)


class BookFanOut:
    """Fan books out to subscriptions filtered by token, coalescing per token."""

    def __init__(self) -> None:
        self._subscriptions: set[BookSubscription] = set()

    def subscribe(self, token_ids: Iterable[str]) -> BookSubscription:
        subscription = BookSubscription(token_ids, self._subscriptions.discard)
        self._subscriptions.add(subscription)
        return subscription

    def publish(self, book: Book) -> None:
        for subscription in list(self._subscriptions):
            subscription.put(book)

    def tokens(self) -> frozenset[str]:
        """Every token some subscription wants."""
        return frozenset().union(*(s.token_ids for s in self._subscriptions))

    def close(self) -> None:
        for subscription in list(self._subscriptions):
            subscription.close()

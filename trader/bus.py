"""The in-process bus for facts: typed topics with two delivery policies.

- `CoalescingTopic`: high-volume facts keyed by something (book updates by token). Each
  subscriber holds at most one pending message per key: a newer one replaces it in place,
  so a slow consumer never works through stale data and memory stays bounded by the keys.
- `QueueTopic`: facts that must never be dropped (orders, fills, approvals, alerts). Each
  subscriber gets every message, in publish order, on an unbounded queue.

Every message travels in an `Envelope` with its correlation id. `publish` never blocks and
never awaits, so the hot path can publish without yielding.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from trader.domain import Alert, Book, Fill, Order, OrderIntent, Resolution, new_correlation_id

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Envelope(Generic[T]):
    payload: T
    correlation_id: str
    published_at: float = field(default_factory=time.monotonic)


class Subscription(Generic[T]):
    """One consumer's view of a topic; iterate it or call `get()`."""

    def __init__(self, unsubscribe: Callable[[Subscription[T]], None]) -> None:
        self._wakeup = asyncio.Event()
        self._unsubscribe = unsubscribe
        self.closed = False

    def _push(self, envelope: Envelope[T]) -> None:
        raise NotImplementedError

    def _pop(self) -> Envelope[T] | None:
        raise NotImplementedError

    def pending(self) -> int:
        raise NotImplementedError

    def get_nowait(self) -> Envelope[T] | None:
        return self._pop()

    async def get(self) -> Envelope[T]:
        while True:
            envelope = self._pop()
            if envelope is not None:
                return envelope
            if self.closed:
                raise StopAsyncIteration
            self._wakeup.clear()
            await self._wakeup.wait()

    def __aiter__(self) -> AsyncIterator[Envelope[T]]:
        return self

    async def __anext__(self) -> Envelope[T]:
        return await self.get()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._unsubscribe(self)
            self._wakeup.set()


class _QueueSubscription(Subscription[T]):
    def __init__(self, unsubscribe: Callable[[Subscription[T]], None]) -> None:
        super().__init__(unsubscribe)
        self._items: deque[Envelope[T]] = deque()

    def _push(self, envelope: Envelope[T]) -> None:
        self._items.append(envelope)
        self._wakeup.set()

    def _pop(self) -> Envelope[T] | None:
        return self._items.popleft() if self._items else None

    def pending(self) -> int:
        return len(self._items)


class _CoalescingSubscription(Subscription[T]):
    def __init__(
        self, unsubscribe: Callable[[Subscription[T]], None], key: Callable[[T], Hashable]
    ) -> None:
        super().__init__(unsubscribe)
        self._key = key
        self._latest: OrderedDict[Hashable, Envelope[T]] = OrderedDict()

    def _push(self, envelope: Envelope[T]) -> None:
        # Replacing keeps the key's place in line: a hot token cannot starve the others.
        self._latest[self._key(envelope.payload)] = envelope
        self._wakeup.set()

    def _pop(self) -> Envelope[T] | None:
        if not self._latest:
            return None
        _, envelope = self._latest.popitem(last=False)
        return envelope

    def pending(self) -> int:
        return len(self._latest)


class Topic(Generic[T]):
    def __init__(self, name: str) -> None:
        self.name = name
        self._subscribers: list[Subscription[T]] = []
        self.published = 0

    def _new_subscription(self) -> Subscription[T]:
        raise NotImplementedError

    def subscribe(self) -> Subscription[T]:
        subscription = self._new_subscription()
        self._subscribers.append(subscription)
        return subscription

    def _remove(self, subscription: Subscription[T]) -> None:
        if subscription in self._subscribers:
            self._subscribers.remove(subscription)

    def publish(self, payload: T, correlation_id: str | None = None) -> Envelope[T]:
        envelope = Envelope(payload, correlation_id or new_correlation_id())
        self.published += 1
        for subscription in self._subscribers:
            subscription._push(envelope)
        return envelope

    def pending(self) -> int:
        return sum(subscription.pending() for subscription in self._subscribers)


class QueueTopic(Topic[T]):
    """Never drops: every subscriber receives every message in order."""

    def _new_subscription(self) -> Subscription[T]:
        return _QueueSubscription(self._remove)


class CoalescingTopic(Topic[T]):
    """Keeps only the latest message per key for each subscriber."""

    def __init__(self, name: str, key: Callable[[T], Hashable]) -> None:
        super().__init__(name)
        self._key = key

    def _new_subscription(self) -> Subscription[T]:
        return _CoalescingSubscription(self._remove, self._key)


def _book_key(book: Book) -> Hashable:
    return book.token_id


class Bus:
    """The topics of one trader process. Built by the composition root and injected."""

    def __init__(self) -> None:
        self.books: CoalescingTopic[Book] = CoalescingTopic("books", _book_key)
        self.intents: QueueTopic[OrderIntent] = QueueTopic("intents")
        self.orders: QueueTopic[Order] = QueueTopic("orders")
        self.fills: QueueTopic[Fill] = QueueTopic("fills")
        self.alerts: QueueTopic[Alert] = QueueTopic("alerts")
        self.approvals: QueueTopic[object] = QueueTopic("approvals")
        # one per market settled (Accounts.settle), for whoever scores what was forecast on it
        self.resolutions: QueueTopic[Resolution] = QueueTopic("resolutions")
        self.heartbeats: CoalescingTopic[str] = CoalescingTopic("heartbeats", str)

    def topics(self) -> tuple[Topic[object], ...]:
        return (
            self.books,  # type: ignore[return-value]
            self.intents,
            self.orders,
            self.fills,
            self.alerts,
            self.approvals,
            self.resolutions,
            self.heartbeats,
        )

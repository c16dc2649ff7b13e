from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal

from trader.bus import Bus, Envelope
from trader.domain import Alert, Book, BookLevel, Severity

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def book(token: str, price: Decimal) -> Book:
    return Book(token, (BookLevel(price, Decimal(10)),), (), NOW)


async def test_coalescing_keeps_only_latest_per_token_for_a_blocked_consumer() -> None:
    bus = Bus()
    subscription = bus.books.subscribe()
    tokens = [f"t{i}" for i in range(50)]

    for n in range(100_000):
        bus.books.publish(book(tokens[n % 50], Decimal(n)))

    assert subscription.pending() <= 50
    received: dict[str, Decimal] = {}
    while (envelope := subscription.get_nowait()) is not None:
        received[envelope.payload.token_id] = envelope.payload.bids[0].price
    latest = {tokens[n % 50]: Decimal(n) for n in range(100_000 - 50, 100_000)}
    assert received == latest


async def test_coalescing_keeps_first_arrival_order_so_no_token_starves() -> None:
    bus = Bus()
    subscription = bus.books.subscribe()
    bus.books.publish(book("a", Decimal(1)))
    bus.books.publish(book("b", Decimal(1)))
    bus.books.publish(book("a", Decimal(2)))
    first = await subscription.get()
    second = await subscription.get()
    assert (first.payload.token_id, first.payload.bids[0].price) == ("a", Decimal(2))
    assert second.payload.token_id == "b"


async def test_queue_topic_delivers_every_message_in_order_to_each_subscriber() -> None:
    bus = Bus()
    fast, slow = bus.alerts.subscribe(), bus.alerts.subscribe()
    sent = [Alert("venue_errors", Severity.WARNING, f"n{i}") for i in range(20_000)]

    async def consume() -> list[str]:
        titles = []
        async for envelope in fast:
            titles.append(envelope.payload.title)
            if len(titles) == len(sent):
                break
        return titles

    task = asyncio.create_task(consume())
    for alert in sent:
        bus.alerts.publish(alert, correlation_id="c-" + alert.title)
    fast_titles = await task
    slow_titles = []
    while (envelope := slow.get_nowait()) is not None:
        slow_titles.append(envelope.payload.title)
    assert fast_titles == [a.title for a in sent]
    assert slow_titles == [a.title for a in sent]


async def test_every_message_carries_a_correlation_id() -> None:
    bus = Bus()
    subscription = bus.fills.subscribe()
    given = bus.alerts.publish(Alert("x", Severity.INFO, "t"), correlation_id="abc")
    assert given.correlation_id == "abc"
    captured: list[Envelope[Alert]] = []
    alerts = bus.alerts.subscribe()
    bus.alerts.publish(Alert("x", Severity.INFO, "t"))
    captured.append(await alerts.get())
    assert len(captured[0].correlation_id) == 32
    assert subscription.pending() == 0


async def test_closed_subscription_stops_iteration_and_receives_nothing() -> None:
    bus = Bus()
    subscription = bus.intents.subscribe()
    subscription.close()
    bus.alerts.publish(Alert("x", Severity.INFO, "t"))
    assert bus.intents.pending() == 0
    collected = [envelope async for envelope in subscription]
    assert collected == []

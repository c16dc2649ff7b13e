"""`MarketBooks` against a scripted WebSocket server on 127.0.0.1 (the real `websockets`)."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve

from tests.support.waiting import eventually
from trader.clock import SystemClock
from trader.domain import Book, BookLevel
from trader.venue.polymarket.books import MarketBooks
from trader.venue.polymarket.socket import ReconnectingSocket, Send

TOKEN = "111"


def book_message(bid: str, ask: str) -> dict[str, Any]:
    return {
        "event_type": "book",
        "asset_id": TOKEN,
        "market": "0xm",
        "bids": [{"price": "0.10", "size": "5"}, {"price": bid, "size": "10"}],
        "asks": [{"price": "0.90", "size": "5"}, {"price": ask, "size": "10"}],
        "timestamp": "1700000000000",
    }


class ScriptedVenue:
    """Sends a book on every subscription; the test pushes more frames or drops the socket."""

    def __init__(self) -> None:
        self.received: list[Any] = []
        self.connections: list[ServerConnection] = []
        self.bid, self.ask = "0.40", "0.60"

    async def handler(self, connection: ServerConnection) -> None:
        self.connections.append(connection)
        async for message in connection:
            if message == "PING":
                await connection.send("PONG")
                continue
            self.received.append(json.loads(message))
            await connection.send(json.dumps([book_message(self.bid, self.ask)]))

    async def push(self, payload: Any) -> None:
        await self.connections[-1].send(json.dumps(payload))


@pytest.fixture
async def venue_socket() -> AsyncIterator[tuple[ScriptedVenue, str]]:
    scripted = ScriptedVenue()
    async with serve(scripted.handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield scripted, f"ws://127.0.0.1:{port}"


async def rest_snapshot(token_id: str) -> Book:
    return Book(
        token_id=token_id,
        bids=(BookLevel(Decimal("0.45"), Decimal(1)),),
        asks=(BookLevel(Decimal("0.55"), Decimal(1)),),
        timestamp=datetime(2026, 1, 1, tzinfo=UTC),
        tick_size=Decimal("0.001"),
    )


@pytest.fixture
async def books(venue_socket: tuple[ScriptedVenue, str]) -> AsyncIterator[MarketBooks]:
    _, url = venue_socket
    keeper = MarketBooks(
        url, clock=SystemClock(), snapshot=rest_snapshot, snapshot_grace=0.2, reconnect_base=0.3
    )
    keeper.start()
    yield keeper
    await keeper.close()


async def test_books_subscribe_take_the_snapshot_and_apply_deltas(
    venue_socket: tuple[ScriptedVenue, str], books: MarketBooks
) -> None:
    scripted, _ = venue_socket
    updates = books.subscribe([TOKEN])

    first = await asyncio.wait_for(anext(updates), 5)
    await scripted.push(
        {
            "event_type": "price_change",
            "market": "0xm",
            "timestamp": "1700000001000",
            "price_changes": [{"asset_id": TOKEN, "side": "BUY", "price": "0.42", "size": "3"}],
        }
    )
    second = await asyncio.wait_for(anext(updates), 5)

    assert scripted.received[0] == {"type": "market", "assets_ids": [TOKEN]}
    assert (first.best_bid, first.best_ask) == (Decimal("0.40"), Decimal("0.60"))
    assert second.best_bid == Decimal("0.42")
    assert books.book(TOKEN) == second
    assert (books.book_age(TOKEN) or math.inf) < 5
    await updates.aclose()


async def test_books_go_stale_when_the_socket_drops_and_recover_on_resubscribe(
    venue_socket: tuple[ScriptedVenue, str], books: MarketBooks
) -> None:
    scripted, _ = venue_socket
    books.track([TOKEN])
    await eventually(lambda: books.book(TOKEN) is not None)
    scripted.bid = "0.30"

    await scripted.connections[-1].close()

    await eventually(lambda: books.book_age(TOKEN) == math.inf)
    assert books.book(TOKEN) is None
    await eventually(lambda: books.book(TOKEN) is not None)
    assert books.book(TOKEN).best_bid == Decimal("0.30")  # type: ignore[union-attr]
    assert len(scripted.received) == 2  # subscribed again on the new connection


async def test_books_tick_size_change_drops_the_book_until_a_rest_snapshot(
    venue_socket: tuple[ScriptedVenue, str], books: MarketBooks
) -> None:
    scripted, _ = venue_socket
    books.track([TOKEN])
    await eventually(lambda: books.book(TOKEN) is not None)

    await scripted.push(
        {
            "event_type": "tick_size_change",
            "asset_id": TOKEN,
            "old_tick_size": "0.01",
            "new_tick_size": "0.001",
            "timestamp": "1700000002000",
        }
    )

    await eventually(
        lambda: books.book(TOKEN) is not None and books.book(TOKEN).best_bid == Decimal("0.45")
    )  # type: ignore[union-attr]
    assert books.book(TOKEN).tick_size == Decimal("0.001")  # type: ignore[union-attr]


async def test_books_know_nothing_of_a_token_never_seen(books: MarketBooks) -> None:
    books.track([TOKEN])

    assert books.book_age(TOKEN) is None  # never seen
    assert books.book(TOKEN) is None


async def test_socket_silent_for_three_pings_is_replaced() -> None:
    async def silent(connection: ServerConnection) -> None:
        async for _ in connection:  # hears PINGs, never answers
            pass

    downs: list[int] = []

    async def on_open(send: Send) -> None:
        await send("hello")

    async with serve(silent, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        socket = ReconnectingSocket(
            f"ws://127.0.0.1:{port}",
            clock=SystemClock(),
            name="test",
            on_open=on_open,
            on_frame=lambda _: None,
            on_down=lambda: downs.append(1),
            reconnect_base=0.01,
            ping_interval=0.05,
        )
        socket.start()
        try:
            await eventually(lambda: socket.connects >= 2)
        finally:
            await socket.close()

    assert downs

"""The market socket's liveness (`feed_age`) against a scripted WebSocket server on 127.0.0.1:
anything it delivers (PONG included) keeps it young, a lost connection is infinite, a socket
that is not running has none."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator

import pytest
from websockets.asyncio.server import Server, ServerConnection, serve

from tests.support.waiting import eventually
from trader.clock import SystemClock
from trader.venue.polymarket.socket import ReconnectingSocket, Send


class SteppedClock(SystemClock):
    """Monotonic time moves only when the test says. Sleeps are real but short, so the socket's
    PING loop and reconnects run quickly whatever interval they ask for; clearing `running`
    holds every sleeper (a reconnect waits until it is set again)."""

    def __init__(self) -> None:
        self.mono = 0.0
        self.running = asyncio.Event()
        self.running.set()

    def monotonic(self) -> float:
        return self.mono

    async def sleep(self, seconds: float) -> None:
        await self.running.wait()
        await asyncio.sleep(0.005)


class Venue:
    """Answers PING with PONG when `answering`; otherwise says nothing after its greeting."""

    def __init__(self) -> None:
        self.answering = False
        self.pings = 0

    async def handler(self, connection: ServerConnection) -> None:
        await connection.send("hello")
        async for message in connection:
            if message == "PING":
                self.pings += 1
                if self.answering:
                    await connection.send("PONG")


@pytest.fixture
async def server() -> AsyncIterator[tuple[Venue, Server]]:
    venue = Venue()
    async with serve(venue.handler, "127.0.0.1", 0) as running:
        yield venue, running


def socket_for(running: Server, clock: SteppedClock) -> ReconnectingSocket:
    port = next(iter(running.sockets)).getsockname()[1]

    async def on_open(send: Send) -> None:
        return None

    return ReconnectingSocket(
        f"ws://127.0.0.1:{port}",
        clock=clock,
        name="test",
        on_open=on_open,
        on_frame=lambda _: None,
        on_down=lambda: None,
        ping_interval=1000.0,  # "every 1000 s" on the stepped clock: often, in real time
    )


async def test_a_silent_connection_ages_and_a_pong_makes_it_young_again(
    server: tuple[Venue, Server],
) -> None:
    venue, running = server
    clock = SteppedClock()
    socket = socket_for(running, clock)
    assert socket.feed_age() is None  # not started
    socket.start()
    try:
        await eventually(lambda: socket.feed_age() == 0.0)  # connected, greeted at time 0
        await eventually(lambda: venue.pings >= 2)
        clock.mono = 50.0

        silent_age = socket.feed_age()  # PINGs go out, nothing comes back
        venue.answering = True
        await eventually(lambda: socket.feed_age() == 0.0)  # a PONG heard at time 50
    finally:
        await socket.close()

    assert silent_age == 50.0
    assert socket.feed_age() is None  # closed


async def test_a_lost_connection_is_infinitely_old_until_it_is_back(
    server: tuple[Venue, Server],
) -> None:
    _, running = server
    clock = SteppedClock()
    socket = socket_for(running, clock)
    socket.start()
    try:
        await eventually(lambda: socket.connects == 1 and socket.feed_age() == 0.0)
        clock.mono = 10.0
        clock.running.clear()  # the reconnect waits

        await socket.drop()
        await eventually(lambda: socket.feed_age() == math.inf)
        clock.running.set()
        await eventually(lambda: socket.connects == 2)
        back = socket.feed_age()
    finally:
        clock.running.set()
        await socket.close()

    assert back == 0.0  # heard at the new connection's open, at time 10


async def test_a_socket_that_cannot_connect_is_infinitely_old() -> None:
    async with serve(Venue().handler, "127.0.0.1", 0) as running:
        socket = socket_for(running, SteppedClock())
    # the server is gone before the socket ever connects
    socket.start()
    try:
        await eventually(lambda: socket.feed_age() == math.inf)
    finally:
        await socket.close()

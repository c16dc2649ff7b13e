"""A WebSocket that stays connected: reconnect with backoff, resubscribe, keepalive PINGs.

Why not the SDK's stream managers: `polymarket-client` 0.14.0 reconnects on its own but says
nothing when the socket drops (so tokens could not be reported stale during the outage) and its
subscription queues drop the oldest events when full (a silent gap in a book). This class tells
its owner when the connection opens and when it goes down, and hands every frame over as it
arrives; the owner decides what a gap means.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
from collections.abc import Awaitable, Callable

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

from trader.clock import Clock

log = logging.getLogger(__name__)

Send = Callable[[str], Awaitable[bool]]

PING_INTERVAL = 10.0  # the venue wants a text PING every 10 s
OPEN_TIMEOUT = 10.0


class ReconnectingSocket:
    """Runs one connection at a time until closed. Callbacks:

    - `on_open(send)`: the connection is up; send the subscription frames;
    - `on_frame(text)`: one frame (PONG frames are swallowed here);
    - `on_down()`: the connection is gone (also before the first connect succeeds).
    """

    def __init__(
        self,
        url: str,
        *,
        clock: Clock,
        name: str,
        on_open: Callable[[Send], Awaitable[None]],
        on_frame: Callable[[str], None],
        on_down: Callable[[], None],
        reconnect_base: float = 0.5,
        reconnect_max: float = 30.0,
        ping_interval: float = PING_INTERVAL,
    ) -> None:
        self.url = url
        self._clock = clock
        self._name = name
        self._on_open = on_open
        self._on_frame = on_frame
        self._on_down = on_down
        self._reconnect_base = reconnect_base
        self._reconnect_max = reconnect_max
        self._ping_interval = ping_interval
        # websockets logs every frame at DEBUG, and the user channel's subscription carries the
        # API secret: its connection logger never goes below INFO, whatever the app configures.
        self._wire_log = logging.getLogger(f"{__name__}.wire.{name}")
        self._wire_log.setLevel(logging.INFO)
        self._connection: ClientConnection | None = None
        self._last_heard = 0.0
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.connects = 0  # how many times a connection opened (tests and metrics read this)

    @property
    def connected(self) -> bool:
        return self._connection is not None

    def feed_age(self) -> float | None:
        """Seconds since the connection last delivered anything, PONG included: a healthy socket
        on a quiet market stays young because the venue answers every PING. Infinite while
        disconnected (also before the first connect succeeds); None when not running (never
        started, or closed)."""
        if self._task is None or self._closed:
            return None
        if self._connection is None:
            return math.inf
        return max(0.0, self._clock.monotonic() - self._last_heard)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"ws-{self._name}")

    async def close(self) -> None:
        self._closed = True
        task, self._task = self._task, None
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await self._connection.close()
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def send(self, text: str) -> bool:
        """Send on the current connection; False when there is none (the next open resends)."""
        connection = self._connection
        if connection is None:
            return False
        try:
            await connection.send(text)
        except ConnectionClosed:
            return False
        return True

    async def drop(self) -> None:
        """Close the current connection as if the network failed (it reconnects)."""
        if self._connection is not None:
            await self._connection.close()

    async def _run(self) -> None:
        failures = 0
        while not self._closed:
            try:
                opened = await self._connect_once()
            except Exception:  # a bug must not end the reconnect loop: log it and go on
                log.exception("%s socket: unexpected failure", self._name)
                opened = False
            failures = 0 if opened else failures + 1
            if self._closed:
                return
            delay = min(self._reconnect_max, self._reconnect_base * 2 ** min(failures, 10))
            await self._clock.sleep(delay * (0.8 + 0.4 * random.random()))  # noqa: S311

    async def _connect_once(self) -> bool:
        try:
            async with connect(
                self.url, open_timeout=OPEN_TIMEOUT, ping_interval=None, logger=self._wire_log
            ) as ws:
                self._connection = ws
                self._last_heard = self._clock.monotonic()
                self.connects += 1
                pinger = asyncio.create_task(self._ping(ws))
                try:
                    await self._on_open(self.send)
                    async for raw in ws:
                        self._last_heard = self._clock.monotonic()
                        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
                        if text.strip() != "PONG":
                            self._deliver(text)
                finally:
                    pinger.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await pinger
            return True
        except (OSError, TimeoutError, WebSocketException) as error:
            log.warning(
                "%s socket %s: %s", self._name, "lost" if self.connected else "failed", error
            )
            return self.connected
        finally:
            self._connection = None
            self._on_down()

    def _deliver(self, text: str) -> None:
        try:
            self._on_frame(text)
        except Exception:
            log.exception("%s socket: a frame could not be handled", self._name)

    async def _ping(self, ws: ClientConnection) -> None:
        """PING every interval; a socket silent for three intervals (not even PONG) is dead."""
        while True:
            await self._clock.sleep(self._ping_interval)
            if self._clock.monotonic() - self._last_heard > 3 * self._ping_interval:
                log.warning("%s socket silent; reconnecting", self._name)
                await ws.close()
                return
            try:
                await ws.send("PING")
            except ConnectionClosed:
                return

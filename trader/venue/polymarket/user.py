"""Our fills and order updates from the user WebSocket, with REST trades as the fallback.

The user channel is the primary fill source. Each fill is emitted the first time its
(trade id, order id) is seen, from whichever source sees it first: the socket, the REST
backfill run after every (re)connect (which covers what happened while the socket was down), or
a periodic REST poll. Later status changes of a known fill (MINED, CONFIRMED) are not re-emitted;
a FAILED one is logged loudly, since the venue then reverses it.

The subscription frame carries the API secret: it is built on demand, sent, and never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime, timedelta

from trader.clock import Clock
from trader.domain import Fill, TradeStatus
from trader.venue.fanout import FanOut
from trader.venue.parsing.rest import AccountIdentity, ParseError
from trader.venue.parsing.stream import OrderUpdate, TradeUpdate, parse_user_frame
from trader.venue.polymarket.socket import ReconnectingSocket, Send

log = logging.getLogger(__name__)

Backfill = Callable[[datetime | None], Awaitable[Sequence[Fill]]]
BACKFILL_MARGIN = timedelta(minutes=2)


class UserChannel:
    def __init__(
        self,
        url: str,
        *,
        clock: Clock,
        identity: AccountIdentity,
        subscribe_frame: Callable[[], str],
        backfill: Backfill,
        poll_interval: float | None = 30.0,
        reconnect_base: float = 0.5,
    ) -> None:
        self._clock = clock
        self._identity = identity
        self._subscribe_frame = subscribe_frame
        self._backfill = backfill
        self._poll_interval = poll_interval
        self._seen: set[tuple[str, str]] = set()
        self._statuses: dict[tuple[str, str], TradeStatus] = {}
        self._since: datetime | None = None
        self._fills = FanOut[Fill]()
        self._orders = FanOut[OrderUpdate]()
        self._tasks: set[asyncio.Task[None]] = set()
        self._backfill_lock = asyncio.Lock()
        self.socket = ReconnectingSocket(
            url,
            clock=clock,
            name="user",
            on_open=self._on_open,
            on_frame=self._on_frame,
            on_down=lambda: None,
            reconnect_base=reconnect_base,
        )

    def start(self) -> None:
        self._since = self._clock.now() - BACKFILL_MARGIN
        self.socket.start()
        if self._poll_interval is not None:
            self._spawn(self._poll(self._poll_interval))

    async def close(self) -> None:
        self._fills.close()
        self._orders.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.socket.close()

    def fills(self) -> AsyncIterator[Fill]:
        return self._fills.subscribe()

    def order_updates(self) -> AsyncIterator[OrderUpdate]:
        return self._orders.subscribe()

    def accept(self, fill: Fill) -> bool:
        """Publish `fill` unless its (trade id, order id) was seen; True when it was new."""
        key = fill.key
        if key in self._seen:
            previous = self._statuses.get(key)
            if fill.status is TradeStatus.FAILED and previous is not TradeStatus.FAILED:
                log.error("trade %s of order %s FAILED after matching", *key)
            self._statuses[key] = fill.status
            return False
        self._seen.add(key)
        self._statuses[key] = fill.status
        if self._since is None or fill.timestamp - BACKFILL_MARGIN > self._since:
            self._since = fill.timestamp - BACKFILL_MARGIN
        self._fills.publish(fill)
        return True

    async def sync(self) -> int:
        """Read REST trades since the last fill (less a margin); emit the unseen. How many."""
        async with self._backfill_lock:
            fills = await self._backfill(self._since)
            return sum(self.accept(fill) for fill in fills)

    async def _on_open(self, send: Send) -> None:
        await send(self._subscribe_frame())
        self._spawn(self._sync_quietly())

    def _on_frame(self, text: str) -> None:
        try:
            events = parse_user_frame(text, self._identity)
        except (ParseError, ValueError, KeyError, TypeError) as error:
            log.warning("unreadable user frame (%s); backfilling trades over REST", error)
            self._spawn(self._sync_quietly())
            return
        for event in events:
            if isinstance(event, TradeUpdate):
                for fill in event.fills:
                    self.accept(fill)
            else:
                self._orders.publish(event)

    async def _sync_quietly(self) -> None:
        try:
            await self.sync()
        except Exception as error:
            log.warning("REST trades backfill failed: %s", error)

    async def _poll(self, interval: float) -> None:
        while True:
            await self._clock.sleep(interval)
            await self._sync_quietly()

    def _spawn(self, coroutine: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

"""Write-behind: the writes that follow a submit, queued and done in order by one task
(`WriteBehind`), and the rows one submit's answer or streamed fill changes (`FillRows`).

A failed write is retried with a backoff; an event log flush queued ahead of the rows it
explains is a barrier: while it fails, nothing behind it is written.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from trader.store.trading import FillWrite, OrderChange

log = logging.getLogger(__name__)
Write = Callable[[], Awaitable[object]]
Entry = tuple[str, Write, bool]  # a queued write: what, how, and whether it is a barrier


@dataclass(slots=True)
class FillRows:
    """The rows one submit's answer (or one streamed fill) changes: each fill with the position
    it leaves, and the order changes (one per order: later changes folded into earlier)."""

    fills: list[FillWrite] = field(default_factory=list)
    orders: list[OrderChange] = field(default_factory=list)

    def change(self, change: OrderChange) -> None:
        for i, earlier in enumerate(self.orders):
            if earlier.client_order_id == change.client_order_id:
                self.orders[i] = earlier.then(change)
                return
        self.orders.append(change)


class WriteBehind:
    """Queued writes, done in order by one task. A plain write that fails `max_attempts` times
    is given up (reconciliation restores it). A barrier (an event log flush that must precede
    the rows queued behind it: a fill's, a settlement's) that fails stops the drain and stays
    at the head of the queue: nothing behind it is written until it goes through, on the next
    drain (the writer task retries every `retry_s` seconds, or sooner on a new write)."""

    def __init__(
        self, *, max_attempts: int = 5, first_backoff_s: float = 0.05, retry_s: float = 5.0
    ) -> None:
        self._queue: deque[tuple[str, Write, bool]] = deque()
        self._lock = asyncio.Lock()
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._max_attempts = max_attempts
        self._first_backoff = first_backoff_s
        self._retry_s = retry_s
        self.failed = 0

    def enqueue(
        self, what: str, write: Write, *, barrier: bool = False, wake: bool = True
    ) -> Entry:
        """Queue a write; the entry, for `write_through`. `wake=False`: the caller writes it
        through at once, and wakes the writer task only if that does not happen."""
        entry = (what, write, barrier)
        self._queue.append(entry)
        self._idle.clear()
        if wake:
            self._wakeup.set()
        return entry

    async def write_through(self, entries: Sequence[Entry], write: Write) -> bool:
        """Write these queued entries now, by `write` (one transaction doing what they do), if
        nothing is queued ahead of them; True if so. Otherwise, or if `write` fails, they stay
        queued for the writer task, each with its own retries (a barrier first), as if this
        had not been called. The hot path's one commit for a fill
        (trader/execution/engine/answers.py)."""
        written = False
        try:
            async with self._lock:
                if not self._at_head(entries):
                    return False
                try:
                    await write()
                except Exception as error:
                    log.warning("writing %s at once failed (%s); queued", entries[0][0], error)
                    return False
                for _ in entries:
                    self._queue.popleft()
                if not self._queue:
                    self._idle.set()
                written = True
                return True
        finally:
            if not written:  # cancelled too: the queued entries are the writer task's now
                self._wakeup.set()

    def _at_head(self, entries: Sequence[Entry]) -> bool:
        if len(self._queue) < len(entries):
            return False
        return all(self._queue[i] is entry for i, entry in enumerate(entries))

    @property
    def pending(self) -> int:
        return len(self._queue)

    async def run(self) -> None:
        """Write queued items in order, forever (a supervised task)."""
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            if not await self.drain_now():
                # a barrier is stuck: try again after a while (or at the next write)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), self._retry_s)
                self._wakeup.set()

    async def drain_now(self) -> bool:
        """Write everything queued, in order, now (safe to call beside `run`). False when a
        barrier failed: it and everything behind it stay queued."""
        async with self._lock:
            while self._queue:
                what, write, barrier = self._queue[0]
                if not await self._write(what, write, barrier):
                    return False
                self._queue.popleft()
            self._idle.set()
            return True

    async def _write(self, what: str, write: Write, barrier: bool) -> bool:
        delay = self._first_backoff
        for attempt in range(1, self._max_attempts + 1):
            try:
                await write()
                return True
            except asyncio.CancelledError:
                raise
            except Exception:
                if attempt == self._max_attempts:
                    self.failed += 1
                    if barrier:
                        log.exception(
                            "writing %s failed %d times; the %d writes behind it wait for it",
                            what, attempt, len(self._queue) - 1,
                        )  # fmt: skip
                        return False
                    log.exception("giving up writing %s; reconciliation will restore it", what)
                    return True
                log.warning("writing %s failed (attempt %d); retrying", what, attempt)
                # I/O backoff on the loop's real time, like the event log's: not a clock read.
                await asyncio.sleep(delay)
                delay *= 2
        return True

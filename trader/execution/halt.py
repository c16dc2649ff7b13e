"""The automatic halt: when the venue or the feed cannot be trusted, stop and say so once.

Causes: repeated venue errors within a window (5xx, lost submits, throttling, maintenance:
anything but a plain rejection of an order's content), the market feed down for longer than
a threshold, a reconciliation difference beyond tolerance, or the supervisor's circuit
breaker. Each does the same: move the trading-state machine to HALTED with the cause (in
memory at once, then persisted), cancel everything (checking the
venue shows none left), and publish ONE critical alert. Further causes while halted add an
event-log line, not another alert. Only a re-arm clears it.

"Feed down" asks the venue's market socket first (`FeedLiveness.feed_age`): a socket that keeps
answering PINGs is alive however quiet the markets are, so a quiet market never halts. A socket
that is disconnected (infinite age) is timed from the first check that sees it so: a reconnect
between two checks is not an outage, and a real one halts within one check interval of the
threshold. A venue without a socket to ask (None) falls back to the books' silence: how long
since the last book update reached the market board.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections import deque
from collections.abc import Callable
from decimal import Decimal
from typing import Protocol, runtime_checkable

from trader.bus import Bus
from trader.clock import Clock
from trader.domain import SYSTEM_ACTOR, Alert, Severity, TradingState, new_correlation_id
from trader.execution.kill import KillSwitch
from trader.execution.market_data import MarketBoard
from trader.execution.ports import EventSink
from trader.execution.trading_state import TradingStateMachine, Transition, TransitionRefused
from trader.state import ControlState
from trader.venue.base import OrderRefused, OrderRejected, VenueError

log = logging.getLogger(__name__)
HALT_ACTOR = "system:auto-halt"


@runtime_checkable
class FeedLiveness(Protocol):
    """A venue that can say whether its market feed is alive."""

    def feed_age(self) -> float | None:
        """Seconds since the market socket last delivered anything (PONG included); inf while
        disconnected; None when no feed is running."""
        ...


class AutoHalt:
    def __init__(
        self,
        *,
        kill_switch: KillSwitch,
        state: ControlState,
        trading: TradingStateMachine,
        board: MarketBoard,
        events: EventSink,
        bus: Bus,
        clock: Clock,
        watching: Callable[[], bool] | None = None,
        feed: FeedLiveness | None = None,
    ) -> None:
        self._kill = kill_switch
        self._watching = watching  # the feed only matters while we hold or work something
        self._feed = feed
        self._down_since: float | None = None  # when a check first saw the socket disconnected
        self._state = state
        self._trading = trading
        self._board = board
        self._events = events
        self._bus = bus
        self._clock = clock
        self._errors: deque[float] = deque()
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[bool]] = set()
        self.halts = 0

    # causes --------------------------------------------------------------------------------

    def record_venue_error(self, error: VenueError, step: str) -> None:
        """The engine's hook (synchronous): count the error, halt when they repeat."""
        if isinstance(error, OrderRejected | OrderRefused) or self._halted():
            return  # about this order's content (not a venue fault), or halted already
        limits = self._state.risk_limits
        now = self._clock.monotonic()
        self._errors.append(now)
        window = float(limits.halt_venue_error_window_s)
        while self._errors and now - self._errors[0] > window:
            self._errors.popleft()
        if len(self._errors) >= limits.halt_venue_errors:
            detail = f"{len(self._errors)} venue errors within {window:.0f}s, last: {error}"
            self._spawn("venue_errors", detail)

    def check_feed(self) -> bool:
        """Halt if the market feed has been down too long; True if it is."""
        silence, what = self._feed_silence()  # every check, so an outage is timed from its start
        if self._halted() or (self._watching is not None and not self._watching()):
            return False
        limit = float(self._state.risk_limits.halt_feed_down_s)
        if silence is None or silence <= limit:
            return False
        self._spawn("feed_down", f"{what} for {silence:.0f}s (limit {limit:.0f}s)")
        return True

    def _feed_silence(self) -> tuple[float | None, str]:
        """How long the feed has been down (None: nothing to judge yet), and in what way."""
        age = self._feed.feed_age() if self._feed is not None else None
        if age is None:  # no socket to ask: the books' silence is all there is
            self._down_since = None
            return self._board.feed_age(), "no market data"
        if math.isinf(age):
            now = self._clock.monotonic()
            if self._down_since is None:
                self._down_since = now
            return now - self._down_since, "market socket disconnected"
        self._down_since = None
        return age, "market socket silent"

    async def watch_feed(self, interval_s: float = 5.0) -> None:
        """Check the feed every few seconds (a supervised task)."""
        while True:
            self.check_feed()
            await self._clock.sleep(interval_s)

    async def on_reconcile_mismatch(self, value: Decimal, detail: str) -> bool:
        tolerance = self._state.risk_limits.halt_reconcile_tolerance
        if value <= tolerance:
            return False
        return await self.trigger(
            "reconcile_mismatch",
            f"positions differ by {value:.2f} USD (tolerance {tolerance}): {detail}",
        )

    async def on_circuit_breaker(self, component: str, error: BaseException) -> None:
        """The supervisor's on_trip."""
        await self.trigger(
            "circuit_breaker",
            f"component {component} crashed 3 times: {type(error).__name__}: {error}",
        )

    # the halt ------------------------------------------------------------------------------

    def _halted(self) -> bool:
        return self._trading.state in (TradingState.HALTED, TradingState.KILLED)

    def _spawn(self, cause: str, detail: str) -> None:
        task = asyncio.get_running_loop().create_task(self.trigger(cause, detail))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def trigger(self, cause: str, detail: str) -> bool:
        """Halt (once). True if this call halted trading, False if it already was."""
        corr = new_correlation_id()
        async with self._lock:
            reason = f"{cause}: {detail}"
            try:
                change = await self._trading.change(
                    Transition.HALT, reason, HALT_ACTOR, correlation_id=corr
                )
            except TransitionRefused:  # KILLED: the kill already stopped everything
                change = None
            if change is None or not change.changed:
                self._events.append(
                    "auto_halt_suppressed",
                    {"cause": cause, "detail": detail, "state": self._trading.state.value},
                    correlation_id=corr,
                    actor=HALT_ACTOR,
                )
                return False
            self._events.append(
                "auto_halt",
                {"cause": cause, "detail": detail},
                correlation_id=corr,
                actor=HALT_ACTOR,
            )
            body = detail + "\n" + await self._cancel(corr)
            if not change.persisted:
                body += "\nHALTED holds in memory but is NOT yet saved (retrying)."
            self._bus.alerts.publish(
                Alert(
                    "auto_halt",
                    Severity.CRITICAL,
                    f"Trading HALTED: {cause}",
                    body + "\nRe-arm with /rearm once the cause is fixed.",
                    corr,
                    f"auto_halt:{cause}",
                ),
                corr,
            )
            self._errors.clear()
            self.halts += 1  # counted once the cancel and the alert are done
            return True

    async def _cancel(self, corr: str) -> str:
        try:
            canceled, left = await self._kill.cancel_everything(SYSTEM_ACTOR, "automatic halt")
        except VenueError as error:
            log.error("automatic halt could not cancel orders: %s", error)
            self._events.append(
                "auto_halt_cancel_failed",
                {"error": str(error)},
                correlation_id=corr,
                actor=HALT_ACTOR,
            )
            return f"Cancelling orders FAILED ({error}); the venue may still hold open orders."
        if left:
            return f"Cancelled {canceled} orders; {left} still open at the venue."
        return f"Cancelled {canceled} orders; none left open."

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task

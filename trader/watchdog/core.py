"""The watchdog's loop: read the heartbeat, decide, alert; trusts nothing the app says.

Every `poll_interval_s` it reads the app's heartbeat row. The age of the heartbeat is measured
on the watchdog's own monotonic clock from the moment it saw the row change (the wall-clock age
of the row only places that moment within the last poll), so a clock difference between the
two processes or hosts cannot hide a silence.

- Silent (age over `timeout_s`): a critical alert, repeated with backoff (`repeat_first_s`,
  doubling, capped at `repeat_max_s`) while the silence lasts; "recovered" once the heartbeat
  moves again (saying so when the app came back as a new process).
- Stopped cleanly (the last beat says `stopped`): one notice, no repeats, no cancel.
- In live mode, once the silence passes `cancel_after_s`: cancel every open order through the
  venue (`EmergencyCanceller`), retried with backoff until it succeeds once per episode. The
  venue's own heartbeat dead-man switch remains the first line; this is the second.
- Database unreachable: logged at once, alerted when it lasts longer than `timeout_s`, and
  "reachable again" when it comes back; the loop never dies of it.

An alert that no channel accepted is tried again with backoff (the next poll, then doubling up
to 30 s); one-shot messages (recovered, cancelled, database back) wait in order in an outbox.
Without any alert channel configured the log is the delivery.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from trader.clock import Clock
from trader.ops.health.checks import human
from trader.ops.health.heartbeat import APP_COMPONENT, STOPPED_KEY
from trader.store.tables import HeartbeatRow
from trader.watchdog.sender import AlertSender

log = logging.getLogger(__name__)


class HeartbeatReader(Protocol):
    """trader.store.repositories.HeartbeatRepository fits."""

    async def latest(self, component: str) -> HeartbeatRow | None: ...


class EmergencyCanceller(Protocol):
    async def cancel_all(self) -> str:
        """Cancel every open order at the venue; a summary for the operator. Raises on failure."""
        ...


@dataclass(frozen=True, slots=True)
class WatchdogConfig:
    timeout_s: float
    cancel_after_s: float | None = None  # None: never cancel (paper mode)
    poll_interval_s: float = 1.0
    repeat_first_s: float | None = None  # default: timeout_s
    repeat_max_s: float = 3600.0
    read_timeout_s: float = 10.0
    cancel_timeout_s: float = 60.0
    component: str = APP_COMPONENT
    label: str = "Polyops"

    @staticmethod
    def poll_for(timeout_s: float) -> float:
        """A poll interval that keeps detection within timeout + 2 s: at most 2 s, a quarter
        of the timeout for short ones."""
        return max(0.1, min(2.0, timeout_s / 4))

    def repeat_after(self, sent: int) -> float:
        first = self.repeat_first_s or self.timeout_s
        return float(min(self.repeat_max_s, first * 2 ** max(0, sent - 1)))


@dataclass(slots=True)
class _Silence:
    started: float  # monotonic, when the watchdog declared it
    began: float  # monotonic, when the heartbeat last moved before it
    pid: int | None  # the process that went quiet
    stopped: bool  # the last beat was a clean stop
    alerts: int = 0
    next_alert: float = 0.0
    cancelled: bool = False
    cancel_failures: int = 0
    next_cancel: float = 0.0


@dataclass(slots=True)
class _Outage:
    since: float
    error: str
    alerted: bool = False


_UNSEEN = object()
OUTBOX_SIZE = 20
MAX_RETRY_S = 30.0


class Watchdog:
    def __init__(
        self,
        reader: HeartbeatReader,
        sender: AlertSender,
        clock: Clock,
        config: WatchdogConfig,
        *,
        canceller: EmergencyCanceller | None = None,
    ) -> None:
        self._reader = reader
        self._sender = sender
        self._clock = clock
        self.config = config
        self._canceller = canceller if config.cancel_after_s is not None else None
        self._started = clock.monotonic()
        self._seen_key: object = _UNSEEN
        self._changed_at = self._started  # monotonic time the heartbeat last moved
        self._beat: HeartbeatRow | None = None
        self._silence: _Silence | None = None
        self._outage: _Outage | None = None
        self._outbox: deque[str] = deque(maxlen=OUTBOX_SIZE)  # one-shot messages, in order
        self._failures = 0  # deliveries in a row that no channel accepted
        self._retry_at = 0.0  # monotonic; no delivery attempt before it
        self.sent: deque[str] = deque(maxlen=100)  # the latest delivered texts, newest last

    @property
    def silent(self) -> bool:
        return self._silence is not None

    async def run(self) -> None:
        while True:
            try:
                await self.poll()
            except Exception:  # a bug here must not end the watchdog
                log.exception("watchdog poll failed")
            await self._clock.sleep(self.config.poll_interval_s)

    async def poll(self) -> None:
        now = self._clock.monotonic()
        try:
            async with asyncio.timeout(self.config.read_timeout_s):
                beat = await self._reader.latest(self.config.component)
        except Exception as error:
            await self._database_failed(error, now)
            return
        await self._database_ok(now)
        self._observe(beat, now)
        await self._flush(now)
        age = now - self._changed_at
        if age > self.config.timeout_s:
            await self._on_silence(age, now)
        elif self._silence is not None:
            await self._on_recovery(now)

    # --- observing the heartbeat -----------------------------------------------------------

    def _observe(self, beat: HeartbeatRow | None, now: float) -> None:
        key = None if beat is None else (beat.ts, beat.pid)
        if beat is not None:
            self._beat = beat  # the newest content (a final beat may share the last one's time)
        if key == self._seen_key:
            return
        first = self._seen_key is _UNSEEN
        self._seen_key = key
        if beat is None:
            return  # no row yet: the silence counts from the watchdog's start
        wall_age = max(0.0, (self._clock.now() - beat.ts).total_seconds())
        # The first sight trusts the row's own time; later, only within the last poll.
        lag = wall_age if first else min(wall_age, self.config.poll_interval_s)
        self._changed_at = now - lag

    # --- silence ---------------------------------------------------------------------------

    async def _on_silence(self, age: float, now: float) -> None:
        beat = self._beat
        if self._silence is None:
            stopped = bool(beat is not None and beat.details.get(STOPPED_KEY))
            self._silence = _Silence(
                started=now,
                began=self._changed_at,
                pid=None if beat is None else beat.pid,
                stopped=stopped,
                next_alert=now,
            )
        silence = self._silence
        due = now >= silence.next_alert and not (silence.stopped and silence.alerts)
        if (
            due
            and await self._flush(now)
            and await self._attempt(self._silence_text(age, silence.alerts), now)
        ):
            silence.alerts += 1
            silence.next_alert = now + self.config.repeat_after(silence.alerts)
        cancel_after = self.config.cancel_after_s
        if (
            self._canceller is not None
            and cancel_after is not None
            and not silence.stopped
            and not silence.cancelled
            and age > cancel_after
            and now >= silence.next_cancel
        ):
            await self._cancel(silence, age, now)

    def _silence_text(self, age: float, repeat: int) -> str:
        label, beat = self.config.label, self._beat
        if beat is not None and beat.details.get(STOPPED_KEY):
            reason = beat.details.get("reason", "shutdown")
            return (
                f"⚠️ {label} app stopped ({reason} at {_hhmmss(beat.ts)}) "
                f"and has not come back for {human(age)}."
            )
        if repeat:
            return f"🚨 {label} app still silent: no heartbeat for {human(age)} (repeat {repeat})."
        head = f"🚨 {label} app silent: no heartbeat for {human(age)}"
        if beat is None:
            return f"{head}; none recorded since the watchdog started."
        return (
            f"{head} (timeout {human(self.config.timeout_s)}). Last beat {_hhmmss(beat.ts)} "
            f"from pid {beat.pid} (v{beat.version}): trading {beat.trading_state}, "
            f"{beat.open_orders} open orders."
        )

    async def _cancel(self, silence: _Silence, age: float, now: float) -> None:
        assert self._canceller is not None
        label = self.config.label
        try:
            async with asyncio.timeout(self.config.cancel_timeout_s):
                summary = await self._canceller.cancel_all()
        except Exception as error:
            silence.cancel_failures += 1
            delay = min(self.config.repeat_max_s, 5.0 * 2 ** (silence.cancel_failures - 1))
            silence.next_cancel = now + delay
            what = f"{type(error).__name__}: {error}"[:200]
            log.error("emergency cancel failed (retrying in %.0f s): %s", delay, what)
            if silence.cancel_failures == 1:
                await self._notify(
                    now,
                    f"🚨 {label} watchdog could not cancel open orders after {human(age)} of "
                    f"silence: {what}. Retrying.",
                )
            return
        silence.cancelled = True
        log.critical("emergency cancel done: %s", summary)
        await self._notify(
            now,
            f"🚨 {label} watchdog cancelled open orders at the venue after {human(age)} "
            f"of silence: {summary}.",
        )

    async def _on_recovery(self, now: float) -> None:
        silence, self._silence = self._silence, None
        assert silence is not None
        beat = self._beat
        label = self.config.label
        lasted = human(now - silence.began)
        if silence.alerts == 0 and not silence.cancelled:
            log.info("heartbeat back before any alert was delivered")
            return
        text = f"✅ {label} app recovered: heartbeat back after about {lasted} of silence"
        if beat is not None and silence.pid not in (None, beat.pid):
            text += f" from a new process (pid {silence.pid} -> {beat.pid})"
        if beat is not None:
            text += f" (pid {beat.pid}, trading {beat.trading_state})"
        if silence.cancelled:
            text += "; open orders were cancelled by the watchdog"
        await self._notify(now, text + ".")

    # --- the database ----------------------------------------------------------------------

    async def _database_failed(self, error: Exception, now: float) -> None:
        what = f"{type(error).__name__}: {error}".splitlines()[0][:200]
        if self._outage is None:
            self._outage = _Outage(since=now, error=what)
            log.warning("watchdog cannot read the heartbeat (will keep trying): %s", what)
        outage = self._outage
        if not outage.alerted and now - outage.since > self.config.timeout_s:
            outage.alerted = await self._attempt(
                f"⚠️ {self.config.label} watchdog cannot read the heartbeat: database unreachable "
                f"for {human(now - outage.since)} ({type(error).__name__}). Still trying.",
                now,
            )

    async def _database_ok(self, now: float) -> None:
        outage, self._outage = self._outage, None
        if outage is None:
            return
        log.warning("watchdog reads the database again after %s", human(now - outage.since))
        if outage.alerted:
            await self._notify(
                now,
                f"✅ {self.config.label} watchdog: database reachable again (recovered after "
                f"{human(now - outage.since)}).",
            )

    # --- delivery --------------------------------------------------------------------------

    async def _notify(self, now: float, text: str) -> None:
        """A one-shot message: queued behind any undelivered ones, retried until delivered."""
        if len(self._outbox) == self._outbox.maxlen:
            log.error("watchdog outbox full; dropping: %s", self._outbox[0])
        self._outbox.append(text)
        await self._flush(now)

    async def _flush(self, now: float) -> bool:
        """Deliver queued messages in order; True once none is left."""
        while self._outbox:
            if not await self._attempt(self._outbox[0], now):
                return False
            self._outbox.popleft()
        return True

    async def _attempt(self, text: str, now: float) -> bool:
        if now < self._retry_at:
            return False  # backing off after failed deliveries
        if self._sender.recipients == 0:
            log.warning("watchdog alert (no channel configured): %s", text)
            self.sent.append(text)
            return True
        log.warning("watchdog alert: %s", text)
        try:
            delivered = await self._sender.send(text)
        except Exception:
            log.exception("watchdog alert sender failed")
            delivered = 0
        if delivered:
            self._failures, self._retry_at = 0, 0.0
            self.sent.append(text)
            return True
        self._failures += 1
        delay = min(MAX_RETRY_S, self.config.poll_interval_s * 2 ** (self._failures - 1))
        self._retry_at = now + delay
        log.error("watchdog alert not delivered to any operator; retrying in %.0f s", delay)
        return False


def _hhmmss(when: datetime) -> str:
    return when.strftime("%H:%M:%S UTC")

"""Alerts and approval requests to every chat transport: severity, settings, quiet hours,
deduplication, digests, and critical alerts that repeat until someone acknowledges them.

The notifier decides what to say and whether it rings; each `AlertChannel` (Telegram, the
terminal, WhatsApp later) decides how to deliver it and keeps its own message ids, so one
`update(key, ...)` edits every copy of an approval request or a critical alert.

Rules, in order, for one alert:
1. Critical alerts are always delivered and always ring, whatever the settings say; they
   repeat every `repeat_every` until acknowledged (with the Acknowledge button).
2. A kind set to off, or below the minimum severity, is dropped (counted in `stats`).
3. The same alert again within `dedupe_window` is not sent; it is counted and the count is
   mentioned in the next digest.
4. At most `burst_limit` alerts go out one by one per `digest_window`; the rest are folded
   into one digest message sent when the window closes.
5. A kind set to silent, and everything non-critical during quiet hours, arrives without a
   notification sound.

A transport registers its channel when it is built, not yet started (`add_channel(channel,
started=False)`): what the notifier sends it meanwhile (the start-up alert, the first cycle's
fills) is queued, up to `pending_limit` sends and edits, and delivered in order by
`start_channel(channel)` once the transport can send; `remove_channel` drops a transport that
could not start, with its queue.

With a `ChatMemory` (the composition root passes the database's), every critical alert sent
with an Acknowledge button, and its acknowledgement, is written there; `restore()` (the relay
calls it on start) takes back the ones still unacknowledged, so they go on repeating after a
restart and their old buttons still work. A failing memory is logged, never in the way of an
alert.

Timekeeping uses the injected clock; `tick()` does the timed work (digests, repeats,
expiring approval messages). `run_timer()` calls it on a short real-time cadence, so a test
moves a `FakeClock` and calls `tick()` itself.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from bot import alerts as catalog
from bot.alerts import AlertMode, AlertPolicy
from bot.render.common import RenderContext
from bot.reply import Reply, Role
from trader.control.api import ChatMemory, Clock
from trader.domain import Actor, Alert, Severity

log = logging.getLogger(__name__)


class AlertChannel(Protocol):
    """One transport's delivery of notifier messages to its authorised people."""

    async def publish(self, reply: Reply, *, audience: Role, key: str | None = None) -> None:
        """Send to everyone with at least `audience`; remember the copies under `key`."""

    async def update(self, key: str, reply: Reply) -> None:
        """Replace every copy sent under `key` (its buttons go unless `reply` has some)."""


@dataclass(frozen=True, slots=True)
class NotifierConfig:
    dedupe_window: timedelta = timedelta(minutes=5)
    digest_window: timedelta = timedelta(seconds=60)
    burst_limit: int = 5
    repeat_every: timedelta = timedelta(minutes=5)
    tick_seconds: float = 1.0
    digest_examples: int = 5
    pending_limit: int = 200  # sends and edits queued for a channel not started yet


@dataclass(frozen=True, slots=True)
class _Send:
    reply: Reply
    audience: Role
    key: str | None


@dataclass(frozen=True, slots=True)
class _Edit:
    key: str
    reply: Reply


@dataclass
class _Critical:
    alert: Alert
    next_repeat_at: datetime
    repeats: int = 0
    duplicates: int = 0


@dataclass
class _Digest:
    opened_at: datetime
    alerts: list[Alert] = field(default_factory=list)
    repeats: Counter[str] = field(default_factory=Counter)


class Notifier:
    def __init__(
        self,
        clock: Clock,
        *,
        zone: ZoneInfo | None = None,
        config: NotifierConfig | None = None,
        policy: AlertPolicy | None = None,
        memory: ChatMemory | None = None,
    ) -> None:
        self._clock = clock
        self._memory = memory
        self._zone = zone or ZoneInfo("UTC")
        self.render = RenderContext(self._zone)  # how replies show times (the relay's too)
        self.config = config or NotifierConfig()
        self.policy = policy or AlertPolicy()
        self._channels: list[AlertChannel] = []
        self._pending: dict[int, deque[_Send | _Edit]] = {}  # by id(channel): not started yet
        self._seen: dict[str, datetime] = {}
        self._sent_at: deque[datetime] = deque()
        self._digest: _Digest | None = None
        self._criticals: dict[str, _Critical] = {}
        self._approvals: dict[str, tuple[datetime, Callable[[], Reply]]] = {}
        self._lock = asyncio.Lock()
        self.stats: Counter[str] = Counter()

    def add_channel(self, channel: AlertChannel, *, started: bool = True) -> None:
        """Deliver to `channel` from now on; if not `started`, queue for it until
        `start_channel(channel)`."""
        if not any(known is channel for known in self._channels):
            self._channels.append(channel)
        if not started:
            self._pending.setdefault(id(channel), deque(maxlen=self.config.pending_limit))

    async def start_channel(self, channel: AlertChannel) -> int:
        """The transport can send: deliver what was queued for it, in order; how many."""
        async with self._lock:
            queued = self._pending.pop(id(channel), deque())
            for item in queued:
                await self._deliver(channel, item)
            return len(queued)

    def remove_channel(self, channel: AlertChannel) -> None:
        """The transport could not start (or is gone): forget it and what was queued."""
        self._channels = [known for known in self._channels if known is not channel]
        dropped = self._pending.pop(id(channel), ())
        if dropped:
            log.warning("%d alert(s) queued for %s dropped", len(dropped), type(channel).__name__)

    def set_policy(self, policy: AlertPolicy) -> None:
        self.policy = policy

    # alerts ---------------------------------------------------------------------------

    async def notify(self, alert: Alert) -> None:
        async with self._lock:
            await self._notify(alert)

    async def _notify(self, alert: Alert) -> None:
        now = self._clock.now()
        self.stats["received"] += 1
        critical = alert.severity is Severity.CRITICAL
        mode = self.policy.mode_for(alert.kind)
        if not critical and (mode is AlertMode.OFF or not self.policy.admits(alert.severity)):
            self.stats["dropped"] += 1
            return
        key = _dedupe_key(alert)
        first = self._seen.get(key)
        if first is not None and now - first < self.config.dedupe_window:
            self._count_repeat(alert, key, now)
            return
        self._seen[key] = now
        self._prune_seen(now)
        if critical:
            immediate = len(self._criticals) < self.config.burst_limit
        else:
            immediate = self._take_burst_slot(now)
        if not immediate:
            self._open_digest(now).alerts.append(alert)
            self.stats["folded"] += 1
            return
        await self._send_alert(alert, now, silent=not critical and self._silent_for(mode, now))

    def _count_repeat(self, alert: Alert, key: str, now: datetime) -> None:
        self.stats["deduplicated"] += 1
        for state in self._criticals.values():
            if _dedupe_key(state.alert) == key:
                state.duplicates += 1
                return  # the next repeat of the critical alert reports the count
        self._open_digest(now).repeats[alert.title] += 1

    def _take_burst_slot(self, now: datetime) -> bool:
        while self._sent_at and now - self._sent_at[0] >= self.config.digest_window:
            self._sent_at.popleft()
        folding = self._digest is not None and bool(self._digest.alerts)
        if len(self._sent_at) >= self.config.burst_limit or folding:
            return False  # once folding has begun, later alerts wait too (order is kept)
        self._sent_at.append(now)
        return True

    def _open_digest(self, now: datetime) -> _Digest:
        if self._digest is None:
            self._digest = _Digest(opened_at=now)
        return self._digest

    def _silent_for(self, mode: AlertMode, now: datetime) -> bool:
        quiet = self.policy.quiet_hours
        return mode is AlertMode.SILENT or (quiet is not None and quiet.contains(now, self._zone))

    async def _send_alert(self, alert: Alert, now: datetime, *, silent: bool) -> None:
        if alert.severity is Severity.CRITICAL:
            ack_id = secrets.token_hex(6)
            self._criticals[ack_id] = _Critical(alert, now + self.config.repeat_every)
            if self._memory is not None:
                await self._remember(self._memory.remember_critical(ack_id, alert, now))
            await self._publish(catalog.alert_reply(alert, ack_id=ack_id), key=f"ak:{ack_id}")
        else:
            await self._publish(replace(catalog.alert_reply(alert), silent=silent))
        self.stats["sent"] += 1

    async def _publish(
        self, reply: Reply, *, key: str | None = None, audience: Role = Role.VIEWER
    ) -> None:
        await self._each(_Send(reply, audience, key))

    async def _update(self, key: str, reply: Reply) -> None:
        await self._each(_Edit(key, reply))

    async def _each(self, item: _Send | _Edit) -> None:
        for channel in list(self._channels):
            queue = self._pending.get(id(channel))
            if queue is not None:
                if len(queue) == queue.maxlen:
                    self.stats["pending_dropped"] += 1  # the oldest goes
                queue.append(item)
            else:
                await self._deliver(channel, item)

    @staticmethod
    async def _deliver(channel: AlertChannel, item: _Send | _Edit) -> None:
        try:
            if isinstance(item, _Send):
                await channel.publish(item.reply, audience=item.audience, key=item.key)
            else:
                await channel.update(item.key, item.reply)
        except Exception:  # one broken transport must not silence the others
            log.exception("alert channel %s failed", type(channel).__name__)

    def _prune_seen(self, now: datetime) -> None:
        if len(self._seen) < 512:
            return
        window = self.config.dedupe_window
        self._seen = {k: at for k, at in self._seen.items() if now - at < window}

    # acknowledgement ------------------------------------------------------------------

    async def acknowledge(self, ack_id: str, actor: Actor) -> Alert | None:
        """Stop repeating one critical alert. None if unknown or already acknowledged."""
        async with self._lock:
            state = self._criticals.pop(ack_id, None)
            if state is None:
                return None
            self.stats["acknowledged"] += 1
            now = self._clock.now()
            if self._memory is not None:
                await self._remember(self._memory.acknowledge_critical(ack_id, now))
            done = catalog.acknowledged_reply(state.alert, actor, now, self.render)
            await self._update(f"ak:{ack_id}", done)
            return state.alert

    async def restore(self) -> int:
        """Take back the critical alerts still unacknowledged before a restart: they repeat
        when due (at once if overdue). How many."""
        if self._memory is None:
            return 0
        try:
            pending = await self._memory.unacknowledged_criticals()
        except Exception:
            log.exception("could not read the unacknowledged critical alerts")
            return 0
        async with self._lock:
            for item in pending:
                if item.ack_id not in self._criticals:
                    due = item.sent_at + self.config.repeat_every
                    self._criticals[item.ack_id] = _Critical(item.alert, due)
                    self._seen[_dedupe_key(item.alert)] = item.sent_at
        return len(pending)

    @staticmethod
    async def _remember(write: Awaitable[None]) -> None:
        try:
            await write
        except Exception:  # the alert goes out all the same
            log.exception("could not record a critical alert's state")

    @property
    def unacknowledged(self) -> list[Alert]:
        return [state.alert for state in self._criticals.values()]

    # approvals ------------------------------------------------------------------------

    async def announce_approval(
        self, request_id: str, reply: Reply, expires_at: datetime, expired: Callable[[], Reply]
    ) -> None:
        """Send an approval request to the operators; `expired()` replaces it at expiry."""
        async with self._lock:
            self._approvals[request_id] = (expires_at, expired)
            await self._publish(reply, key=f"ap:{request_id}", audience=Role.OPERATOR)

    async def close_approval(self, request_id: str, reply: Reply) -> None:
        """The request was decided (or vanished): every copy says so, without buttons."""
        async with self._lock:
            self._approvals.pop(request_id, None)
            await self._update(f"ap:{request_id}", replace(reply, buttons=()))

    # timed work -----------------------------------------------------------------------

    async def tick(self) -> None:
        async with self._lock:
            now = self._clock.now()
            await self._flush_digest(now)
            await self._repeat_criticals(now)
            await self._expire_approvals(now)

    async def _flush_digest(self, now: datetime) -> None:
        digest = self._digest
        if digest is None or now - digest.opened_at < self.config.digest_window:
            return
        self._digest = None
        alerts = digest.alerts
        critical = any(a.severity is Severity.CRITICAL for a in alerts)
        reply = catalog.digest_reply(alerts, digest.repeats, self.config.digest_examples)
        if critical:
            await self._send_alert(
                Alert("digest", Severity.CRITICAL, reply.title, "\n".join(reply.lines)),
                now,
                silent=False,
            )
            return
        modes = {self.policy.mode_for(a.kind) for a in alerts}
        silent = modes == {AlertMode.SILENT} or self._silent_for(AlertMode.ON, now)
        self._sent_at.append(now)
        await self._publish(replace(reply, silent=silent))
        self.stats["digests"] += 1

    async def _repeat_criticals(self, now: datetime) -> None:
        for ack_id, state in list(self._criticals.items()):
            if now < state.next_repeat_at:
                continue
            state.repeats += 1
            state.next_repeat_at = now + self.config.repeat_every
            reply = catalog.alert_reply(
                state.alert, ack_id=ack_id, repeat=state.repeats, duplicates=state.duplicates
            )
            await self._publish(reply, key=f"ak:{ack_id}")
            self.stats["repeats"] += 1

    async def _expire_approvals(self, now: datetime) -> None:
        for request_id, (expires_at, expired) in list(self._approvals.items()):
            if now >= expires_at:
                del self._approvals[request_id]
                await self._update(f"ap:{request_id}", replace(expired(), buttons=()))

    async def run_timer(self) -> None:
        """Call `tick()` on a short real-time cadence until cancelled."""
        while True:
            await asyncio.sleep(self.config.tick_seconds)
            try:
                await self.tick()
            except Exception:
                log.exception("notifier tick failed")


def _dedupe_key(alert: Alert) -> str:
    if alert.dedupe_key:
        return f"{alert.kind}|{alert.dedupe_key}"
    return f"{alert.kind}|{alert.severity.value}|{alert.title}|{alert.body}"

"""Alerts and approval requests from every instance through the hub's one notifier.

`InstanceTarget` sits between one instance's `ControlRelay` and the shared `Notifier`: it
names the instance in every alert's title (and in its deduplication key, so two instances'
alike alerts are not folded into one) and makes every approval button come back to it. Quiet
hours, digests and repeats are the notifier's, so they apply across instances; the policy is
the first instance's alert settings.

Each instance's daily report is held for a moment (`MorningReport`): once every instance's has
arrived (or `REPORT_WAIT_S` after the first) they go out as one message with a section per
instance. An attachment that is not a file on the hub's machine (the dashboard PNG of a trader
elsewhere) is left out, and the text says where to get it (`/report <name>`).

`InstanceWatch` asks each instance for its status every `interval_s`; one that stops
answering is itself a critical alert ("[beta] instance not answering", repeated until
acknowledged like any critical one), and one that answers again says so.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from bot.alerts import AlertPolicy
from bot.notifier import Notifier
from bot.relay import ControlRelay
from bot.render import hub as render_hub
from bot.render.common import RenderContext
from bot.reply import Reply
from trader.control.api import Clock, ControlError, ControlPort
from trader.domain import Actor, Alert, Severity

log = logging.getLogger(__name__)
WATCH_ACTOR = Actor(channel="system", user_id="hub")


REPORT_WAIT_S = 900.0


class MorningReport:
    """Gathers the instances' daily reports into one message, a section each."""

    def __init__(
        self, names: Sequence[str], notifier: Notifier, *, wait_s: float = REPORT_WAIT_S
    ) -> None:
        self._names = list(names)
        self._notifier = notifier
        self._wait_s = wait_s
        self._held: dict[str, Alert] = {}
        self._timer: asyncio.Task[None] | None = None

    async def add(self, name: str, alert: Alert) -> None:
        self._held[name] = alert
        if set(self._held) >= set(self._names):
            await self.flush()
        elif self._timer is None:
            self._timer = asyncio.create_task(self._flush_later())

    async def _flush_later(self) -> None:
        await asyncio.sleep(self._wait_s)
        self._timer = None
        await self.flush()

    async def flush(self) -> None:
        if self._timer is not None and self._timer is not asyncio.current_task():
            self._timer.cancel()
        self._timer = None
        held, self._held = self._held, {}
        if not held:
            return
        sections = []
        for name in self._names:
            if name in held:
                sections.append(f"— {name} —\n{held[name].body}")
            else:
                sections.append(f"— {name} —\nno report arrived")
        first = next((a.attachment for a in held.values() if a.attachment), None)
        await self._notifier.notify(
            Alert(
                "daily_report",
                Severity.INFO,
                f"Daily report · {len(self._names)} instances",
                "\n\n".join(sections),
                attachment=first,
            )
        )


class InstanceTarget:
    def __init__(
        self,
        name: str,
        notifier: Notifier,
        *,
        primary: bool,
        tag: bool,
        reports: MorningReport | None = None,
    ) -> None:
        self._name = name
        self._notifier = notifier
        self._primary = primary
        self._tag = tag
        self._reports = reports

    @property
    def render(self) -> RenderContext:
        return self._notifier.render

    def _reply(self, reply: Reply) -> Reply:
        return render_hub.tagged(self._name, reply) if self._tag else reply

    def set_policy(self, policy: AlertPolicy) -> None:
        if self._primary:
            self._notifier.set_policy(policy)

    async def restore(self) -> int:
        return await self._notifier.restore() if self._primary else 0

    async def notify(self, alert: Alert) -> None:
        if alert.attachment and not await asyncio.to_thread(Path(alert.attachment).is_file):
            where = f"(the image is on {self._name}'s machine: /report {self._name})"
            alert = replace(alert, attachment=None, body=f"{alert.body}\n{where}")
        if self._reports is not None and alert.kind == "daily_report":
            await self._reports.add(self._name, alert)
            return
        if self._tag:
            key = alert.dedupe_key
            alert = replace(
                alert,
                title=render_hub.tag(self._name, alert.title),
                dedupe_key=f"{self._name}:{key}" if key else None,
            )
        await self._notifier.notify(alert)

    async def announce_approval(
        self, request_id: str, reply: Reply, expires_at: datetime, expired: Callable[[], Reply]
    ) -> None:
        await self._notifier.announce_approval(
            request_id, self._reply(reply), expires_at, lambda: self._reply(expired())
        )

    async def close_approval(self, request_id: str, reply: Reply) -> None:
        await self._notifier.close_approval(request_id, self._reply(reply))


class InstanceRelays:
    """One `ControlRelay` per instance, each restarted after a failure (an instance that is
    down at the hub's start is reached once it answers; the watch alerts meanwhile)."""

    def __init__(
        self,
        instances: Sequence[ControlPort],
        notifier: Notifier,
        clock: Clock,
        *,
        retry_s: float = 2.0,
        report_wait_s: float = REPORT_WAIT_S,
    ) -> None:
        several = len(instances) > 1
        names = [control.name for control in instances]
        self.reports = MorningReport(names, notifier, wait_s=report_wait_s) if several else None
        self._relays = [
            (
                control.name,
                ControlRelay(
                    control,
                    InstanceTarget(
                        control.name,
                        notifier,
                        primary=index == 0,
                        tag=several,
                        reports=self.reports,
                    ),
                    clock,
                ),
            )
            for index, control in enumerate(instances)
        ]
        self._retry_s = retry_s

    def subscribe(self) -> None:
        for _name, relay in self._relays:
            relay.subscribe()

    async def run(self) -> None:
        await asyncio.gather(*(self._keep(name, relay) for name, relay in self._relays))

    async def _keep(self, name: str, relay: ControlRelay) -> None:
        while True:
            try:
                await relay.run()
            except ControlError as error:
                log.info("relay of %s waits for it: %s", name, error)
            await asyncio.sleep(self._retry_s)


class InstanceWatch:
    def __init__(
        self,
        instances: Sequence[ControlPort],
        notifier: Notifier,
        *,
        interval_s: float,
        timeout_s: float = 8.0,
    ) -> None:
        self._instances = list(instances)
        self._notifier = notifier
        self._interval = interval_s
        self._timeout = min(timeout_s, interval_s * 2)
        self.down: set[str] = set()

    async def check(self) -> None:
        """Ask every instance once; alert on each change between answering and not."""
        await asyncio.gather(*(self._check(control) for control in self._instances))

    async def _check(self, control: ControlPort) -> None:
        name = control.name
        try:
            await asyncio.wait_for(control.status(WATCH_ACTOR), self._timeout)
        except (ControlError, TimeoutError) as error:
            if name in self.down:
                return
            self.down.add(name)
            why = str(error) or f"no answer within {self._timeout:.0f} s"
            await self._notifier.notify(
                Alert(
                    "instance_down",
                    Severity.CRITICAL,
                    render_hub.tag(name, "instance not answering"),
                    f"{why}. The hub asks again every {self._interval:.0f} s; "
                    "its own watchdog still guards it.",
                    dedupe_key=f"instance_down:{name}",
                )
            )
            return
        if name in self.down:
            self.down.discard(name)
            await self._notifier.notify(
                Alert(
                    "instance_up",
                    Severity.INFO,
                    render_hub.tag(name, "instance answering again"),
                    dedupe_key=f"instance_up:{name}",
                )
            )

    async def run(self) -> None:
        while True:
            try:
                await self.check()
            except Exception:  # the watch must outlive a bug in one check
                log.exception("instance watch failed")
            await asyncio.sleep(self._interval)

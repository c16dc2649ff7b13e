"""Alerts and approval requests from every instance through the hub's one notifier.

`InstanceTarget` sits between one instance's `ControlRelay` and the shared `Notifier`: it
names the instance in every alert's title (and in its deduplication key, so two instances'
alike alerts are not folded into one) and makes every approval button come back to it. Quiet
hours, digests and repeats are the notifier's, so they apply across instances; the policy is
the first instance's alert settings.

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

from bot.alerts import AlertPolicy
from bot.notifier import Notifier
from bot.relay import ControlRelay
from bot.render import hub as render_hub
from bot.reply import Reply
from trader.control.api import Clock, ControlError, ControlPort
from trader.domain import Actor, Alert, Severity

log = logging.getLogger(__name__)
WATCH_ACTOR = Actor(channel="system", user_id="hub")


class InstanceTarget:
    def __init__(self, name: str, notifier: Notifier, *, primary: bool, tag: bool) -> None:
        self._name = name
        self._notifier = notifier
        self._primary = primary
        self._tag = tag

    def _reply(self, reply: Reply) -> Reply:
        return render_hub.tagged(self._name, reply) if self._tag else reply

    def set_policy(self, policy: AlertPolicy) -> None:
        if self._primary:
            self._notifier.set_policy(policy)

    async def restore(self) -> int:
        return await self._notifier.restore() if self._primary else 0

    async def notify(self, alert: Alert) -> None:
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
    ) -> None:
        several = len(instances) > 1
        self._relays = [
            (
                control.name,
                ControlRelay(
                    control,
                    InstanceTarget(control.name, notifier, primary=index == 0, tag=several),
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

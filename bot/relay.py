"""Carries the Control API's alert and approval streams into the notifier.

`bot` never touches the bus: the Control API offers `subscribe_alerts` and
`subscribe_approvals`. On start the relay loads the alert settings into the notifier's policy,
has it take back the critical alerts still unacknowledged (`Notifier.restore`), and
re-announces the approval requests still pending (they survive a restart; the old
messages' buttons keep working too, since they carry the request key). Then it forwards
every alert and every new approval request until cancelled; a request superseded by a newer
one for its market has its card edited to say so, without buttons.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from bot import alerts
from bot.alerts import AlertPolicy
from bot.render import trading as render_trading
from bot.render.common import RenderContext
from bot.reply import Reply
from trader.control.api import ApprovalRequest, Clock, ControlError, ControlPort, EventStream
from trader.domain import Actor, Alert

log = logging.getLogger(__name__)

RELAY_ACTOR = Actor(channel="system", user_id="notifier")


class RelayTarget(Protocol):
    """What the relay forwards to: the `Notifier` (or, in the hub, one instance's tagger)."""

    @property
    def render(self) -> RenderContext:
        """The operator's time zone for the texts it is handed."""
        ...

    def set_policy(self, policy: AlertPolicy) -> None: ...

    async def restore(self) -> int: ...

    async def notify(self, alert: Alert) -> None: ...

    async def announce_approval(
        self, request_id: str, reply: Reply, expires_at: datetime, expired: Callable[[], Reply]
    ) -> None: ...

    async def close_approval(self, request_id: str, reply: Reply) -> None: ...


class ControlRelay:
    def __init__(self, control: ControlPort, notifier: RelayTarget, clock: Clock) -> None:
        self._control = control
        self._notifier = notifier
        self._clock = clock
        self._announced: set[str] = set()
        self._streams: tuple[EventStream[Alert], EventStream[ApprovalRequest]] | None = None

    async def load_policy(self) -> None:
        settings = await self._control.alert_settings(RELAY_ACTOR)
        self._notifier.set_policy(alerts.policy_from_settings(settings))

    async def announce(self, request: ApprovalRequest, *, again: bool = False) -> None:
        if request.status == "superseded":  # a newer request for its market replaced it
            await self._notifier.close_approval(
                request.key, render_trading.approval_superseded(request)
            )
            return
        if request.key in self._announced or request.status != "pending":
            return
        self._announced.add(request.key)
        reply = render_trading.approval_request(request, self._clock.now(), self._notifier.render)
        if again:
            reply = Reply(
                reply.title + " (still pending after a restart)", reply.lines, buttons=reply.buttons
            )
        await self._notifier.announce_approval(
            request.key, reply, request.expires_at, lambda: render_trading.approval_expired(request)
        )

    def subscribe(self) -> bool:
        """Open both streams now (call before the first alert is published, so none is
        missed); False without an execution core. `run()` subscribes itself if needed."""
        if self._streams is None:
            try:
                self._streams = (
                    self._control.subscribe_alerts(RELAY_ACTOR),
                    self._control.subscribe_approvals(RELAY_ACTOR),
                )
            except ControlError as error:
                log.warning("no alert or approval stream: %s", error)
                return False
        return True

    async def run(self) -> None:
        """Forward until cancelled. Without an execution core only the policy is loaded."""
        await self.load_policy()
        await self._notifier.restore()  # criticals still unacknowledged before a restart
        if not self.subscribe() or self._streams is None:
            await asyncio.Event().wait()
            return
        alert_stream, approval_stream = self._streams
        try:
            for request in await self._control.pending_approvals(RELAY_ACTOR):
                await self.announce(request, again=True)
            await asyncio.gather(self._alerts(alert_stream), self._approvals(approval_stream))
        finally:
            self._streams = None
            alert_stream.close()
            approval_stream.close()

    async def _alerts(self, stream: EventStream[Alert]) -> None:
        async for alert in stream:
            await self._notifier.notify(alert)

    async def _approvals(self, stream: EventStream[ApprovalRequest]) -> None:
        async for request in stream:
            await self.announce(request)

"""The WhatsApp transport: what the composition root builds, starts and stops.

    whatsapp = build_whatsapp(config, core, notifier, clock, http_server)  # registers routes
    await http_server.start()                     # the webhook is served from here on
    await whatsapp.start()                        # checks the token, delivers what waited
    ...
    await whatsapp.stop()                         # finishes in-hand work, delivers the queue

Inbound: Meta posts to the webhook (see `webhook.py`); each message is handled in the order
its sender sent it. The sender's number, the command line and WhatsApp's timestamp go to
the core's access gate (`bot/access.py`), which decides as for every transport: the role
by number, strangers get one short refusal an hour (except `whoami`), and a command that
changes something and arrives late (WhatsApp retried it for a while) is not acted on.
Tapped buttons and list rows carry a command line and go through the gate like typed text.

Outbound: `WhatsAppChannel` is the notifier's view (alerts to operators and viewers, approval
requests to operators), over the `Outbox` (queues, rate limits, the 24-hour window, the
template). Status callbacks are recorded; a failed message is announced on the other
channels through the notifier (the WhatsApp channel does not carry its own failures).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Collection, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import web

from bot.access import Outcome, Request, Roster
from bot.commands.core import CommandCore
from bot.notifier import Notifier
from bot.reply import Reply, Role
from bot.whatsapp.access import masked, number_roster
from bot.whatsapp.graph import ErrorKind, GraphClient, GraphError, PhoneNumber
from bot.whatsapp.outbox import Outbox, SendPolicy, Template
from bot.whatsapp.webhook import Inbound, StatusEvent, WebhookReceiver
from bot.whatsapp.windows import RememberedWindow
from trader.control.api import ChatMemory, Clock
from trader.domain import Actor, Alert, Severity

log = logging.getLogger(__name__)

DEFAULT_PATH = "/webhooks/whatsapp"
PROBLEM_TITLE = "WhatsApp delivery problem"
NOT_TEXT = Reply("I read text commands only. Send help for the list.")
_MAX_STATUSES = 4096

Handler = Callable[[web.Request], Coroutine[Any, Any, web.StreamResponse]]


class Secret(Protocol):
    def get_secret_value(self) -> str: ...


class WhatsAppSettings(Protocol):
    """What the transport needs; `WhatsAppConfig` has this shape."""

    @property
    def token(self) -> Secret: ...
    @property
    def phone_number_id(self) -> str: ...
    @property
    def app_secret(self) -> Secret: ...
    @property
    def verify_token(self) -> Secret | None: ...
    @property
    def api_base(self) -> str: ...
    @property
    def operator_numbers(self) -> Collection[str]: ...
    @property
    def viewer_numbers(self) -> Collection[str]: ...
    @property
    def template_name(self) -> str: ...
    @property
    def template_language(self) -> str: ...


@dataclass(frozen=True, slots=True)
class WhatsAppConfig:
    token: Secret
    phone_number_id: str
    app_secret: Secret
    verify_token: Secret | None
    api_base: str
    operator_numbers: frozenset[str]
    viewer_numbers: frozenset[str]
    template_name: str
    template_language: str

    @classmethod
    def from_settings(cls, settings: Any) -> WhatsAppConfig | None:
        """From the app's settings (their `whatsapp_*` values); None when WhatsApp is off
        (no WHATSAPP_TOKEN). The settings validate that the rest is present."""
        token = settings.whatsapp_token
        if token is None or not settings.whatsapp_phone_number_id:
            return None
        if settings.whatsapp_app_secret is None:
            raise ValueError("WHATSAPP_APP_SECRET: required to verify webhook signatures")
        return cls(
            token=token,
            phone_number_id=str(settings.whatsapp_phone_number_id),
            app_secret=settings.whatsapp_app_secret,
            verify_token=settings.whatsapp_verify_token,
            api_base=str(settings.whatsapp_api_base),
            operator_numbers=frozenset(settings.whatsapp_operator_numbers),
            viewer_numbers=frozenset(settings.whatsapp_viewer_numbers),
            template_name=str(settings.whatsapp_template_name),
            template_language=str(settings.whatsapp_template_language),
        )


class HttpRoutes(Protocol):
    """`trader.ops.httpserver.HttpServer` fits."""

    def add_route(self, method: str, path: str, handler: Handler) -> None: ...


class WhatsAppError(RuntimeError):
    """The transport cannot start; the message says why (never the token)."""


class WhatsAppChannel:
    """The notifier's view of WhatsApp: the configured numbers, chosen by role."""

    def __init__(self, outbox: Outbox, access: Roster) -> None:
        self._outbox = outbox
        self._access = access

    async def publish(self, reply: Reply, *, audience: Role, key: str | None = None) -> None:
        if PROBLEM_TITLE in reply.title:
            return  # WhatsApp's own failures go to the other channels only
        for number in self._access.recipients(audience):
            self._outbox.send(number, reply, key=key)

    async def update(self, key: str, reply: Reply) -> None:
        self._outbox.update(key, reply)


class WhatsAppTransport:
    def __init__(
        self,
        graph: GraphClient,
        core: CommandCore,
        notifier: Notifier,
        access: Roster,
        clock: Clock,
        *,
        template: Template,
        verify_token: str | None,
        app_secret: str,
        policy: SendPolicy | None = None,
        memory: ChatMemory | None = None,
    ) -> None:
        self.graph = graph
        self._core = core
        self._notifier = notifier
        self.access = access
        core.access.set_roster("whatsapp", access)
        self._clock = clock
        self.window = RememberedWindow(clock, memory, self._spawn)
        self.outbox = Outbox(graph, clock, self.window, template, policy, self._on_problem)
        self.channel = WhatsAppChannel(self.outbox, access)
        self.receiver = WebhookReceiver(
            phone_number_id=graph.phone_number_id,
            app_secret=app_secret,
            verify_token=verify_token,
            on_message=self._on_message,
            on_status=self._on_status,
        )
        self.phone: PhoneNumber | None = None
        self.statuses: OrderedDict[str, str] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()
        self._chains: dict[str, asyncio.Task[None]] = {}
        # Registered now, started by start(): alerts raised before then wait for it.
        notifier.add_channel(self.channel, started=False)
        self._state = "stopped"

    @property
    def state(self) -> str:
        """For /health: webhook (started), unauthorized (token refused) or stopped."""
        return self._state

    def register(self, http: HttpRoutes, path: str = DEFAULT_PATH) -> None:
        http.add_route("GET", path, self.receiver.verify)
        http.add_route("POST", path, self.receiver.receive)

    async def start(self) -> None:
        """Check the token and phone number id, join the notifier. Raises `WhatsAppError`
        if Meta refuses them."""
        try:
            self.phone = await self.graph.phone_number()
        except GraphError as error:
            if error.kind is ErrorKind.UNAUTHORIZED or error.status in (400, 404):
                self._state = "unauthorized"
                self._notifier.remove_channel(self.channel)
                raise WhatsAppError(
                    "Meta refused WHATSAPP_TOKEN or WHATSAPP_PHONE_NUMBER_ID "
                    f"(#{error.code}: {error.message[:120]})"
                ) from None
            log.warning("whatsapp: could not check the phone number (%s); starting anyway", error)
        if not self.access.operators:
            log.warning("WHATSAPP_OPERATOR_NUMBERS is empty: nobody can control from WhatsApp")
        if not self.receiver.can_verify:
            log.warning("WHATSAPP_VERIFY_TOKEN is not set: Meta cannot verify the webhook URL")
        restored = await self.window.restore()
        if restored:
            log.info("whatsapp: %d service window(s) remembered from before", restored)
        self._notifier.add_channel(self.channel)  # again after a refused start: no-op else
        self._state = "webhook"
        self.receiver.accepting = True
        queued = await self._notifier.start_channel(self.channel)
        if queued:
            log.info("whatsapp: %d alert(s) raised while starting delivered", queued)
        shown = self.phone.display_phone_number if self.phone else "?"
        log.info("whatsapp ready", extra={"number": shown})

    async def idle(self) -> None:
        """Wait until the messages in hand are handled and their answers delivered."""
        while self._tasks:
            await asyncio.wait(list(self._tasks))
        await self.outbox.drain()

    async def stop(self) -> None:
        """Finish the messages in hand and deliver what is queued (a few seconds at most),
        then close the client. Deliveries from now on are answered 503 (Meta retries)."""
        self.receiver.accepting = False
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.idle(), timeout=5)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.outbox.close()
        await self.graph.close()
        self._state = "stopped"

    # inbound --------------------------------------------------------------------------

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _on_message(self, message: Inbound) -> None:
        """Handle in the order each sender sent (after that sender's previous message)."""
        sender = message.sender
        previous = self._chains.get(sender)

        async def run() -> None:
            if previous is not None:
                await asyncio.wait([previous])
            await self._handle(message)

        task = self._spawn(run(), f"whatsapp-in-{masked(sender)}")
        self._chains[sender] = task
        task.add_done_callback(
            lambda done: (
                self._chains.pop(sender, None) if self._chains.get(sender) is done else None
            )
        )

    async def _handle(self, message: Inbound) -> None:
        sender = message.sender
        self.window.opened(sender, message.sent_at)
        actor = Actor(channel="whatsapp", user_id=sender, name=message.name)
        updates = self.outbox.updates_to(sender)
        try:
            reply = await self._answer(message, actor)
        except Exception:
            log.exception("whatsapp: handling a message failed")
            reply = Reply("Something went wrong handling that; the operator's logs say what.")
        if reply is None:
            return
        if message.tapped and self.outbox.said_by_update(sender, updates, reply):
            return  # the notifier's update of the tapped message already says it
        self.outbox.send(sender, reply, reply_to=message.id if message.tapped else None)
        if reply.follow is not None:  # no edits on WhatsApp: only what carries an image
            follow = self._follow(sender, reply.follow)
            self._spawn(follow, name=f"whatsapp-follow-{sender[-4:]}")

    async def _follow(self, sender: str, follow: Callable[[], AsyncIterator[Reply]]) -> None:
        async for update in follow():
            if update.images:
                self.outbox.send(sender, update)

    async def _answer(self, message: Inbound, actor: Actor) -> Reply | None:
        self.outbox.release_held(message.sender)  # only known numbers have anything held
        text = (message.text or "").strip()
        request = Request(actor, text, sent_at=message.sent_at, tapped=message.tapped)
        verdict = await self._core.access.handle(request)
        if not verdict.deliver:
            return None
        if not text and verdict.outcome is Outcome.ANSWERED:
            return NOT_TEXT  # a photo, a voice note, a sticker: not a command
        return verdict.reply

    # statuses and problems -------------------------------------------------------------

    def _on_status(self, event: StatusEvent) -> None:
        self.statuses[event.id] = event.status
        self.statuses.move_to_end(event.id)
        while len(self.statuses) > _MAX_STATUSES:
            self.statuses.popitem(last=False)
        if event.status != "failed":
            return
        error = event.errors[0] if event.errors else None
        code = error.code if error else None
        if code in (131047, 470) and self.outbox.resend_as_template(event.id):
            log.info(
                "whatsapp: %s was outside the 24-hour window; resent as the template", event.id
            )
            return
        what = f"#{code} {error.title}" if error and code is not None else "no reason given"
        details = f": {error.details}" if error and error.details else ""
        self._alert(
            Severity.WARNING,
            f"{PROBLEM_TITLE}: a message to {masked(event.recipient)} failed",
            f"{what}{details}",
            f"status|{event.recipient}|{code}",
        )

    def _on_problem(self, number: str, error: GraphError) -> None:
        if error.kind is ErrorKind.UNAUTHORIZED:
            self._state = "unauthorized"
            severity, what = Severity.CRITICAL, "Meta refused the access token"
        elif error.kind is ErrorKind.TEMPLATE:
            severity, what = Severity.WARNING, "the alert template was refused"
        else:
            severity, what = Severity.WARNING, f"a message to {masked(number)} was not sent"
        per_number = error.kind not in (ErrorKind.UNAUTHORIZED, ErrorKind.TEMPLATE)
        dedupe = f"send|{number if per_number else '*'}|{error.code}"

        self._alert(severity, f"{PROBLEM_TITLE}: {what}", error.describe(), dedupe)

    def _alert(self, severity: Severity, title: str, body: str, dedupe: str) -> None:
        alert = Alert("whatsapp", severity, title, body, dedupe_key=dedupe)
        self._spawn(self._notifier.notify(alert), "whatsapp-alert")


def build_whatsapp(
    settings: WhatsAppSettings,
    core: CommandCore,
    notifier: Notifier,
    clock: Clock,
    http: HttpRoutes,
    *,
    path: str = DEFAULT_PATH,
    policy: SendPolicy | None = None,
    memory: ChatMemory | None = None,
) -> WhatsAppTransport:
    """Build the transport and register its webhook on `http` (call before the HTTP server
    starts). Nothing connects until `start()`."""
    graph = GraphClient(
        settings.api_base, settings.phone_number_id, settings.token.get_secret_value()
    )
    transport = WhatsAppTransport(
        graph,
        core,
        notifier,
        number_roster(list(settings.operator_numbers), list(settings.viewer_numbers)),
        clock,
        template=Template(settings.template_name, settings.template_language),
        verify_token=settings.verify_token.get_secret_value() if settings.verify_token else None,
        app_secret=settings.app_secret.get_secret_value(),
        policy=policy,
        memory=memory,
    )
    transport.register(http, path)
    return transport

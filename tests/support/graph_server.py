"""A fake WhatsApp Cloud API (Graph API) on loopback, and signed webhook deliveries.

The server implements what Polyops uses: GET /{version}/{phone-number-id} (the start-up
check), POST .../messages (text, interactive buttons and lists, image, template) and POST
.../media (multipart upload), with the checks that matter: the bearer token, the phone number
id, WhatsApp's limits (4,096-character text, at most three buttons with titles of at most 20
characters, list rows of at most 24, bodies of at most 1,024), known media ids, the registered
template and its parameter rules, and the 24-hour window for numbers in `closed_windows`
(answered #131047). Tests script failures (`fail(code, status)`: rate limits 130429 and 131056,
transient 131000, an undeliverable recipient...) and read what was sent.

The payload builders make the JSON Meta posts to the webhook (text messages, tapped buttons
and list rows, statuses), and `signed` gives the matching X-Hub-Signature-256.

Fixtures for a test module to import: `api` (this server; it takes the place of the conftest's
Telegram `api`) and `stack` (`start_whatsapp_stack` over it, stopped after the test).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import itertools
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from pydantic import SecretStr

from bot.commands.core import CommandCore
from bot.notifier import Notifier
from bot.relay import ControlRelay
from bot.reply import Reply
from bot.whatsapp import SendPolicy, WhatsAppConfig, WhatsAppTransport, build_whatsapp
from tests.support.chat_stack import FakeDesk
from tests.support.memory import MemoryEvents, MemoryStore
from trader.clock import FakeClock
from trader.control.api import ChatMemory, ControlAPI
from trader.control.types import TradingStatus
from trader.domain import TradingMode
from trader.ops.httpserver import HttpServer
from trader.state import ControlState

VERSION = "v21.0"
PHONE_NUMBER_ID = "106540352242922"
TOKEN = "EAAGtest-fake-access-token"
APP_SECRET = "fake-app-secret-0123456789"
VERIFY_TOKEN = "fake-verify-token-42"
TEMPLATE = ("polyops_alert", "en")

# the people the WhatsApp tests talk as
OPERATOR = "447700900001"
VIEWER = "447700900002"
STRANGER = "447700900003"

TITLES = {
    4: "Application request limit reached",
    130429: "Rate limit hit",
    131000: "Something went wrong",
    131026: "Message undeliverable",
    131047: "Re-engagement message",
    131056: "(Business Account, Consumer Account) pair rate limit hit",
    132000: "Number of parameters does not match the expected number of params",
    132001: "Template name does not exist in the translation",
    132018: "There was an issue with the parameters in your template",
    100: "Invalid parameter",
    190: "Invalid OAuth access token",
}


@dataclass
class Sent:
    """One message the bot sent, as the fake received it."""

    id: str
    to: str
    type: str
    payload: dict[str, Any]

    @property
    def text(self) -> str:
        """What the person reads: the text, the interactive body, the caption or the template
        parameter."""
        body = self.payload.get(self.type, {})
        if self.type == "text":
            return str(body["body"])
        if self.type == "interactive":
            return str(body["body"]["text"])
        if self.type == "image":
            return str(body.get("caption", ""))
        if self.type == "template":
            return str(body["components"][0]["parameters"][0]["text"])
        return ""

    @property
    def choices(self) -> list[tuple[str, str]]:
        """(id, title) of each reply button or list row."""
        if self.type != "interactive":
            return []
        interactive = self.payload["interactive"]
        if interactive["type"] == "button":
            return [
                (b["reply"]["id"], b["reply"]["title"]) for b in interactive["action"]["buttons"]
            ]
        sections = interactive["action"]["sections"]
        return [(row["id"], row["title"]) for s in sections for row in s["rows"]]

    @property
    def kind(self) -> str:
        """text, button, list, image or template."""
        if self.type == "interactive":
            return str(self.payload["interactive"]["type"])
        return self.type

    @property
    def context(self) -> str | None:
        return (self.payload.get("context") or {}).get("message_id")


@dataclass
class Upload:
    id: str
    data: bytes
    mime_type: str
    filename: str


@dataclass
class Failure:
    code: int
    status: int
    times: int = 1
    type: str | None = None  # only messages of this type (text, interactive, image, template)
    to: str | None = None
    path: str = "messages"  # or "media", or "phone"


class GraphFault(Exception):
    def __init__(self, code: int, status: int = 400, details: str = "") -> None:
        super().__init__(code)
        self.code = code
        self.status = status
        self.details = details


@dataclass
class FakeGraphAPI:
    token: str = TOKEN
    phone_number_id: str = PHONE_NUMBER_ID
    templates: set[tuple[str, str]] = field(default_factory=lambda: {TEMPLATE})
    sent: list[Sent] = field(default_factory=list)
    uploads: list[Upload] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    refused: list[tuple[int, str]] = field(default_factory=list)  # (code, what) answered
    closed_windows: set[str] = field(default_factory=set)
    phone_delay: float = 0.0  # seconds before the phone-number check is answered (a slow Meta)

    def __post_init__(self) -> None:
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> FakeGraphAPI:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_get(f"/{VERSION}/{{phone}}", self._phone)
        app.router.add_post(f"/{VERSION}/{{phone}}/messages", self._messages)
        app.router.add_post(f"/{VERSION}/{{phone}}/media", self._media)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeGraphAPI:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/{VERSION}"

    # what tests read and script ---------------------------------------------------------

    def to(self, number: str) -> list[Sent]:
        return [message for message in self.sent if message.to == number]

    def texts(self, number: str) -> list[str]:
        return [message.text for message in self.to(number)]

    def fail(self, code: int, status: int = 400, **kwargs: Any) -> Failure:
        failure = Failure(code, status, **kwargs)
        self.failures.append(failure)
        return failure

    # handlers ---------------------------------------------------------------------------

    async def _phone(self, request: web.Request) -> web.Response:
        if self.phone_delay:
            await asyncio.sleep(self.phone_delay)  # the fake's latency, not a test's wait
        try:
            self._check(request, "phone", {})
        except GraphFault as fault:
            return self._error(fault)
        body = {"id": self.phone_number_id, "display_phone_number": "+1 555 0100"}
        return web.json_response({**body, "verified_name": "Polyops Test"})

    async def _messages(self, request: web.Request) -> web.Response:
        try:
            payload = await request.json()
            self._check(request, "messages", payload)
            sent = self._accept(payload)
        except GraphFault as fault:
            return self._error(fault)
        self.sent.append(sent)
        return web.json_response(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": sent.to, "wa_id": sent.to}],
                "messages": [{"id": sent.id}],
            }
        )

    async def _media(self, request: web.Request) -> web.Response:
        try:
            self._check(request, "media", {})
            form = await request.post()
            upload = form.get("file")
            if form.get("messaging_product") != "whatsapp" or not isinstance(upload, web.FileField):
                raise GraphFault(100, details="messaging_product and file are required")
            mime = str(form.get("type", ""))
            if mime not in ("image/png", "image/jpeg") or upload.content_type != mime:
                raise GraphFault(100, details=f"unsupported media type {mime!r}")
            data = upload.file.read()
        except GraphFault as fault:
            return self._error(fault)
        media = Upload(f"media-{next(self._ids)}", data, mime, upload.filename)
        self.uploads.append(media)
        return web.json_response({"id": media.id})

    def _error(self, fault: GraphFault) -> web.Response:
        title = TITLES.get(fault.code, "Error")
        self.refused.append((fault.code, title))
        error = {
            "message": f"(#{fault.code}) {title}",
            "type": "OAuthException",
            "code": fault.code,
            "error_data": {"messaging_product": "whatsapp", "details": fault.details or title},
            "fbtrace_id": "Afake",
        }
        return web.json_response({"error": error}, status=fault.status)

    def _check(self, request: web.Request, path: str, payload: dict[str, Any]) -> None:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            raise GraphFault(190, 401)
        if request.match_info["phone"] != self.phone_number_id:
            raise GraphFault(100, 400, "Unsupported request: unknown phone number id")
        for failure in self.failures:
            if failure.times <= 0 or failure.path != path:
                continue
            if failure.type not in (None, payload.get("type")):
                continue
            if failure.to not in (None, payload.get("to")):
                continue
            failure.times -= 1
            raise GraphFault(failure.code, failure.status)

    def _accept(self, payload: dict[str, Any]) -> Sent:
        if payload.get("messaging_product") != "whatsapp":
            raise GraphFault(100, details="messaging_product must be whatsapp")
        to, kind = str(payload.get("to", "")), str(payload.get("type", ""))
        if not to.isdigit():
            raise GraphFault(100, details="to must be a phone number")
        if kind != "template" and to in self.closed_windows:
            raise GraphFault(131047, details="more than 24 hours since the customer last replied")
        checks = {
            "text": self._check_text,
            "interactive": self._check_interactive,
            "image": self._check_image,
            "template": self._check_template,
        }
        if kind not in checks:
            raise GraphFault(100, details=f"unsupported type {kind!r}")
        checks[kind](payload.get(kind) or {})
        return Sent(f"wamid.fake{next(self._ids):06d}", to, kind, payload)

    def _check_text(self, text: dict[str, Any]) -> None:
        body = str(text.get("body", ""))
        if not body or len(body) > 4096:
            raise GraphFault(100, details=f"text body length {len(body)} not in 1..4096")

    def _check_interactive(self, interactive: dict[str, Any]) -> None:
        body = str((interactive.get("body") or {}).get("text", ""))
        if not body or len(body) > 1024:
            raise GraphFault(100, details="interactive body length not in 1..1024")
        action = interactive.get("action") or {}
        if interactive.get("type") == "button":
            items = [(b["reply"]["id"], b["reply"]["title"]) for b in action.get("buttons", [])]
            limits = (1, 3, 20, 256)
        elif interactive.get("type") == "list":
            if not 1 <= len(str(action.get("button", ""))) <= 20:
                raise GraphFault(100, details="list button text not in 1..20")
            rows = [row for section in action.get("sections", []) for row in section["rows"]]
            if any(len(str(row.get("description", ""))) > 72 for row in rows):
                raise GraphFault(100, details="row description longer than 72")
            items = [(row["id"], row["title"]) for row in rows]
            limits = (1, 10, 24, 200)
        else:
            raise GraphFault(100, details="unsupported interactive type")
        low, high, title_limit, id_limit = limits
        if not low <= len(items) <= high:
            raise GraphFault(100, details=f"{len(items)} choices, not {low}..{high}")
        ids, titles = [i for i, _ in items], [t for _, t in items]
        if len(set(ids)) != len(ids) or len(set(titles)) != len(titles):
            raise GraphFault(100, details="choice ids and titles must be unique")
        if any(not 1 <= len(t) <= title_limit for t in titles):
            raise GraphFault(100, details=f"a title is longer than {title_limit} characters")
        if any(not 1 <= len(i) <= id_limit for i in ids):
            raise GraphFault(100, details=f"an id is longer than {id_limit} characters")

    def _check_image(self, image: dict[str, Any]) -> None:
        if image.get("id") not in {upload.id for upload in self.uploads}:
            raise GraphFault(100, details="unknown media id")
        if len(str(image.get("caption", ""))) > 1024:
            raise GraphFault(100, details="caption longer than 1024")

    def _check_template(self, template: dict[str, Any]) -> None:
        key = (str(template.get("name")), str((template.get("language") or {}).get("code")))
        if key not in self.templates:
            raise GraphFault(132001, 404)
        components = template.get("components") or []
        parameters = [p for c in components if c.get("type") == "body" for p in c["parameters"]]
        if len(parameters) != 1:
            raise GraphFault(132000)
        text = str(parameters[0].get("text", ""))
        if not text or "\n" in text or "\t" in text or "     " in text or len(text) > 1024:
            raise GraphFault(132018)


# webhook deliveries ---------------------------------------------------------------------


def signed(body: bytes, secret: str = APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def delivery(value: dict[str, Any], phone_number_id: str = PHONE_NUMBER_ID) -> dict[str, Any]:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550100", "phone_number_id": phone_number_id},
        **value,
    }
    change = {"field": "messages", "value": value}
    return {"object": "whatsapp_business_account", "entry": [{"id": "WABA1", "changes": [change]}]}


_inbound_ids = itertools.count(1)


def inbound(
    sender: str,
    message: dict[str, Any],
    at: datetime,
    *,
    message_id: str | None = None,
    name: str = "Pat",
    context: str | None = None,
) -> dict[str, Any]:
    """A delivery with one message from `sender` (`message` holds its type and content)."""
    body: dict[str, Any] = {
        "from": sender,
        "id": message_id or f"wamid.in{next(_inbound_ids):06d}",
        "timestamp": str(int(at.timestamp())),
        **message,
    }
    if context:
        body["context"] = {"from": "15550100", "id": context}
    contact = {"profile": {"name": name}, "wa_id": sender}
    return delivery({"contacts": [contact], "messages": [body]})


def text(body: str) -> dict[str, Any]:
    return {"type": "text", "text": {"body": body}}


def button_reply(choice_id: str, title: str) -> dict[str, Any]:
    return {
        "type": "interactive",
        "interactive": {"type": "button_reply", "button_reply": {"id": choice_id, "title": title}},
    }


def list_reply(choice_id: str, title: str) -> dict[str, Any]:
    return {
        "type": "interactive",
        "interactive": {"type": "list_reply", "list_reply": {"id": choice_id, "title": title}},
    }


def status(
    wamid: str, state: str, recipient: str, at: datetime, *, code: int | None = None
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": wamid,
        "status": state,
        "timestamp": str(int(at.timestamp())),
        "recipient_id": recipient,
    }
    if code is not None:
        title = TITLES.get(code, "Error")
        entry["errors"] = [
            {"code": code, "title": title, "message": title, "error_data": {"details": title}}
        ]
    return delivery({"statuses": [entry]})


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


# the chat side over the fake --------------------------------------------------------------


class RecordingChannel:
    """Another transport, as the notifier sees it: records what it was asked to deliver."""

    def __init__(self) -> None:
        self.published: list[Reply] = []

    async def publish(self, reply: Reply, *, audience: object, key: str | None = None) -> None:
        self.published.append(reply)

    async def update(self, key: str, reply: Reply) -> None:
        self.published.append(reply)

    def titles(self) -> list[str]:
        return [reply.title for reply in self.published]


@dataclass
class WhatsAppStack:
    """The chat side of Polyops over `api`, as the app wires it: a real Control API over the
    Telegram tests' in-memory desk, the notifier and relay, the app's HTTP server with the
    webhook, the transport, and a recording channel standing for the other transports."""

    api: FakeGraphAPI
    clock: FakeClock
    events: MemoryEvents
    state: ControlState
    desk: FakeDesk
    control: ControlAPI
    core: CommandCore
    notifier: Notifier
    http: HttpServer
    transport: WhatsAppTransport
    other: RecordingChannel
    session: aiohttp.ClientSession
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def trading(self) -> TradingStatus:
        return self.desk.trading.status

    @property
    def url(self) -> str:
        return f"{self.http.url}/webhooks/whatsapp"

    async def post(self, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, str]:
        async with self.session.post(self.url, data=body, headers=headers or {}) as response:
            return response.status, await response.text()

    async def deliver(self, payload: dict[str, Any]) -> int:
        """POST `payload` signed as Meta would; wait until it is handled and answered."""
        body = encode(payload)
        status_code, _ = await self.post(body, {"X-Hub-Signature-256": signed(body)})
        await self.transport.idle()
        return status_code

    async def say(self, sender: str, body: str, **kwargs: Any) -> list[Sent]:
        """`sender` types `body`; returns what the bot sent that number in answer."""
        return await self.say_at(sender, body, self.clock.now(), **kwargs)

    async def say_at(self, sender: str, body: str, at: datetime, **kwargs: Any) -> list[Sent]:
        """As `say`, for a message WhatsApp stamped `at` (a late delivery)."""
        before = len(self.api.to(sender))
        await self.deliver(inbound(sender, text(body), at, **kwargs))
        return self.api.to(sender)[before:]

    async def tap(self, sender: str, message: Sent, title: str) -> list[Sent]:
        """`sender` taps the choice whose title contains `title` on `message`."""
        choice_id, full = next((i, t) for i, t in message.choices if title in t)
        content = (
            button_reply(choice_id, full)
            if message.kind == "button"
            else list_reply(choice_id, full)
        )
        before = len(self.api.to(sender))
        await self.deliver(inbound(sender, content, self.clock.now(), context=message.id))
        return self.api.to(sender)[before:]

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.transport.stop()
        await self.http.stop()
        await self.session.close()


async def start_whatsapp_stack(
    api: FakeGraphAPI,
    *,
    operators: tuple[str, ...] = (OPERATOR,),
    viewers: tuple[str, ...] = (VIEWER,),
    policy: SendPolicy | None = None,
    desk: bool = True,
    start: bool = True,
    memory: ChatMemory | None = None,
    clock: FakeClock | None = None,
) -> WhatsAppStack:
    """The stack, its transport started unless `start` is False (the test starts it); with
    `memory`, the notifier and the transport remember through it (a restart is a new stack)."""
    clock = clock or FakeClock()
    events = MemoryEvents(clock)
    state = ControlState(MemoryStore(), clock)
    await state.load()
    the_desk = FakeDesk(state, clock)
    control = ControlAPI(
        state=state,
        events=events,
        event_reader=events,
        clock=clock,
        mode=TradingMode.PAPER,
        desk=the_desk,
    )
    notifier = Notifier(clock, memory=memory)
    other = RecordingChannel()
    notifier.add_channel(other)
    core = CommandCore(control, clock=clock, notifier=notifier)
    relay = ControlRelay(control, notifier, clock)
    relay.subscribe()
    config = WhatsAppConfig(
        token=SecretStr(api.token),
        phone_number_id=api.phone_number_id,
        app_secret=SecretStr(APP_SECRET),
        verify_token=SecretStr(VERIFY_TOKEN),
        api_base=api.base_url,
        operator_numbers=frozenset(operators),
        viewer_numbers=frozenset(viewers),
        template_name=TEMPLATE[0],
        template_language=TEMPLATE[1],
    )
    http = HttpServer("127.0.0.1", 0)
    transport = build_whatsapp(config, core, notifier, clock, http, policy=policy, memory=memory)
    await http.start()
    if start:
        await transport.start()
    session = aiohttp.ClientSession()
    tasks = [asyncio.create_task(relay.run())]
    return WhatsAppStack(
        api=api,
        clock=clock,
        events=events,
        state=state,
        desk=the_desk,
        control=control,
        core=core,
        notifier=notifier,
        http=http,
        transport=transport,
        other=other,
        session=session,
        tasks=tasks,
    )


@contextlib.asynccontextmanager
async def whatsapp_stack(api: FakeGraphAPI, **options: Any) -> AsyncIterator[WhatsAppStack]:
    """`start_whatsapp_stack` as a context: the stack is stopped on the way out."""
    chat = await start_whatsapp_stack(api, **options)
    try:
        yield chat
    finally:
        await chat.stop()


@pytest.fixture
async def api() -> AsyncIterator[FakeGraphAPI]:
    async with FakeGraphAPI() as server:
        yield server


@pytest.fixture
async def stack(api: FakeGraphAPI) -> AsyncIterator[WhatsAppStack]:
    async with whatsapp_stack(api) as chat:
        yield chat

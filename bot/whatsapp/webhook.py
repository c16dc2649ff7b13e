"""The WhatsApp webhook on the app's HTTP server: the verification handshake, signed
deliveries, and the pure parsing of what Meta posts.

- GET: Meta's subscription handshake. `hub.mode=subscribe` with `hub.verify_token` equal to
  WHATSAPP_VERIFY_TOKEN (compared in constant time) is answered with `hub.challenge`;
  anything else with 403.
- POST: accepted only with `X-Hub-Signature-256: sha256=<hex>`, the HMAC-SHA256 of the raw
  body keyed with WHATSAPP_APP_SECRET, compared in constant time. No signature: 401; a wrong
  one: 403; either way nothing in the body is read. A signed body nested past the JSON
  parser's depth is answered 400 (nothing Meta sends looks like it). A signed delivery is
  answered 200 at once (Meta retries anything slower or other), and its messages and statuses
  are handed on.
  Before the transport starts and after it stops the answer is 503, so Meta keeps the
  delivery and retries it (for up to a few days) instead of it being lost.
- Duplicates: WhatsApp delivers at least once and retries. Message ids already seen (the
  last 10,000, in memory) are dropped, as are status events already seen, so a replayed
  delivery is acted on once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Hub-Signature-256"
_MAX_SEEN = 10_000


@dataclass(frozen=True, slots=True)
class Inbound:
    """One message someone sent the business number."""

    id: str
    sender: str  # wa_id: the phone number in international format, no "+"
    name: str
    sent_at: datetime
    kind: str  # text, button (a reply button), list (a list row), template_button, or other
    text: str | None  # the command line: typed text, or a tapped choice's id
    context_id: str | None = None  # the message it answers (a tapped button's message)

    @property
    def tapped(self) -> bool:
        return self.kind in ("button", "list", "template_button")


@dataclass(frozen=True, slots=True)
class DeliveryError:
    code: int | None
    title: str
    details: str


@dataclass(frozen=True, slots=True)
class StatusEvent:
    """What happened to a message the business sent: sent, delivered, read or failed."""

    id: str
    status: str
    recipient: str
    at: datetime
    errors: tuple[DeliveryError, ...] = ()


def sign(secret: str | bytes, body: bytes) -> str:
    """The X-Hub-Signature-256 value Meta would send for `body`."""
    key = secret.encode() if isinstance(secret, str) else secret
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def signature_valid(secret: str | bytes, body: bytes, header: str | None) -> bool:
    if not header or not header.startswith("sha256="):
        return False
    return hmac.compare_digest(sign(secret, body).encode(), header.strip().lower().encode())


def _when(raw: object) -> datetime:
    try:
        return datetime.fromtimestamp(int(str(raw)), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return datetime.fromtimestamp(0, UTC)


def _dicts(value: object) -> Iterator[dict[str, Any]]:
    if isinstance(value, list):
        yield from (item for item in value if isinstance(item, dict))


def command_text(message: dict[str, Any]) -> tuple[str, str | None]:
    """(kind, text) of one message: typed text, or the id of a tapped choice."""
    kind = str(message.get("type", ""))
    if kind == "text":
        body = message.get("text")
        return "text", str(body.get("body", "")) if isinstance(body, dict) else None
    if kind == "interactive":
        interactive = message.get("interactive")
        if isinstance(interactive, dict):
            for field_name, short in (("button_reply", "button"), ("list_reply", "list")):
                choice = interactive.get(field_name)
                if isinstance(choice, dict) and choice.get("id"):
                    return short, str(choice["id"])
        return "other", None
    if kind == "button":  # a template's quick-reply button
        button = message.get("button")
        if isinstance(button, dict):
            return "template_button", str(button.get("payload") or button.get("text") or "")
    return "other", None


def parse_events(payload: object, phone_number_id: str) -> tuple[list[Inbound], list[StatusEvent]]:
    """The messages and statuses in one delivery that concern our phone number."""
    messages: list[Inbound] = []
    statuses: list[StatusEvent] = []
    if not isinstance(payload, dict):
        return messages, statuses
    for entry in _dicts(payload.get("entry")):
        for change in _dicts(entry.get("changes")):
            value = change.get("value")
            if change.get("field") != "messages" or not isinstance(value, dict):
                continue
            metadata = value.get("metadata")
            ours = str(metadata.get("phone_number_id", "")) if isinstance(metadata, dict) else ""
            if ours and ours != phone_number_id:
                continue  # another number of the same business account
            messages += _messages(value)
            statuses += _statuses(value)
    return messages, statuses


def _messages(value: dict[str, Any]) -> Iterator[Inbound]:
    names = {
        str(contact.get("wa_id", "")): str((contact.get("profile") or {}).get("name", ""))
        for contact in _dicts(value.get("contacts"))
    }
    for message in _dicts(value.get("messages")):
        sender = str(message.get("from", ""))
        if not message.get("id") or not sender.isdigit():
            continue
        kind, text = command_text(message)
        context = message.get("context")
        yield Inbound(
            id=str(message["id"]),
            sender=sender,
            name=names.get(sender, "")[:64],
            sent_at=_when(message.get("timestamp")),
            kind=kind,
            text=text,
            context_id=str(context.get("id")) if isinstance(context, dict) else None,
        )


def _statuses(value: dict[str, Any]) -> Iterator[StatusEvent]:
    for status in _dicts(value.get("statuses")):
        errors = tuple(
            DeliveryError(
                int(error["code"]) if str(error.get("code", "")).isdigit() else None,
                str(error.get("title") or error.get("message") or "")[:200],
                str((error.get("error_data") or {}).get("details", ""))[:300],
            )
            for error in _dicts(status.get("errors"))
        )
        yield StatusEvent(
            id=str(status.get("id", "")),
            status=str(status.get("status", "")),
            recipient=str(status.get("recipient_id", "")),
            at=_when(status.get("timestamp")),
            errors=errors,
        )


class SeenIds:
    """A bounded memory of ids: `first(x)` is True once per id (until it is forgotten)."""

    def __init__(self, size: int = _MAX_SEEN) -> None:
        self._size = size
        self._ids: OrderedDict[str, None] = OrderedDict()

    def first(self, item: str) -> bool:
        if item in self._ids:
            self._ids.move_to_end(item)
            return False
        self._ids[item] = None
        while len(self._ids) > self._size:
            self._ids.popitem(last=False)
        return True


class WebhookReceiver:
    """The aiohttp handlers; `on_message` and `on_status` must not block (they schedule)."""

    def __init__(
        self,
        *,
        phone_number_id: str,
        app_secret: str,
        verify_token: str | None,
        on_message: Callable[[Inbound], None],
        on_status: Callable[[StatusEvent], None],
    ) -> None:
        self._phone_number_id = phone_number_id
        self._secret = app_secret.encode()
        self._verify_token = verify_token
        self._on_message = on_message
        self._on_status = on_status
        self._messages = SeenIds()
        self._statuses = SeenIds()
        self.stats: dict[str, int] = {}
        self.accepting = False  # before start and after stop: 503, so Meta delivers later

    @property
    def can_verify(self) -> bool:
        return bool(self._verify_token)

    def _count(self, name: str) -> None:
        self.stats[name] = self.stats.get(name, 0) + 1

    async def verify(self, request: web.Request) -> web.Response:
        query = request.query
        token = query.get("hub.verify_token", "")
        expected = self._verify_token or ""
        if (
            query.get("hub.mode") == "subscribe"
            and expected
            and hmac.compare_digest(token.encode(), expected.encode())
        ):
            self._count("verified")
            log.info("whatsapp webhook verified by Meta")
            return web.Response(text=query.get("hub.challenge", ""))
        self._count("verify_refused")
        log.warning("whatsapp webhook verification refused (wrong mode or verify token)")
        return web.Response(status=403, text="forbidden\n")

    async def receive(self, request: web.Request) -> web.Response:
        body = await request.read()
        header = request.headers.get(SIGNATURE_HEADER)
        if not header:
            self._count("unsigned")
            log.warning("whatsapp webhook: a POST without a signature was refused")
            return web.Response(status=401, text="signature required\n")
        if not signature_valid(self._secret, body, header):
            self._count("bad_signature")
            log.warning("whatsapp webhook: a POST with a wrong signature was refused")
            return web.Response(status=403, text="bad signature\n")
        if not self.accepting:
            self._count("not_ready")
            return web.Response(status=503, text="not ready\n")
        self._count("deliveries")
        try:
            payload = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            self._count("malformed")
            log.warning("whatsapp webhook: a signed delivery was not JSON; ignored")
            return web.Response(text="ok\n")  # a 4xx would only make Meta retry it
        except RecursionError:  # nesting past the parser's depth: nothing Meta sends
            self._count("too_deep")
            log.warning("whatsapp webhook: a signed delivery nested too deeply was refused")
            return web.Response(status=400, text="too deeply nested\n")
        messages, statuses = parse_events(payload, self._phone_number_id)
        for message in messages:
            if self._messages.first(message.id):
                self._on_message(message)
            else:
                self._count("duplicate_messages")
        for status in statuses:
            if self._statuses.first(f"{status.id}|{status.status}"):
                self._on_status(status)
            else:
                self._count("duplicate_statuses")
        return web.Response(text="ok\n")

"""Delivery to WhatsApp that does not lose messages and respects WhatsApp's rules.

One FIFO queue and worker per number, so a number's messages arrive in order and one slow
number does not hold up another. Every message waits for a token from the number's bucket
(WhatsApp's pair rate limit: about one message every six seconds to one person, with short
bursts allowed) and from the phone-number-wide bucket (80 messages a second by default).
Rate-limit errors (130429 throughput, 131056 pair rate, 4 and 80007 API call limits, whether
answered with HTTP 429 or 400) and transient errors are retried with a capped exponential
backoff; WhatsApp sends no Retry-After.

Outside a number's 24-hour window (see `access.ServiceWindow`), or when WhatsApp answers
131047, the reply goes out as the alert template with its text as the one parameter. What a
template cannot carry (buttons, images) is held, and sent in full as soon as that person
writes again. WhatsApp cannot edit a business message, so `update(key, ...)` sends the new
version as a reply to the old one (or holds it, outside the window: no template is spent on
an update). Recipients who cannot be reached, a refused template and a refused token are
reported through `on_problem`, so the other channels hear of it.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import OrderedDict, defaultdict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from bot.reply import Image, Reply
from bot.sendqueue import KeyedSendQueue
from bot.timing import TokenBucket
from bot.whatsapp import format as fmt
from bot.whatsapp.access import ServiceWindow, masked
from bot.whatsapp.graph import ErrorKind, GraphClient, GraphError
from trader.control.api import Clock

log = logging.getLogger(__name__)
T = TypeVar("T")
_MAX_KEYS = 2048
_MAX_RECORDS = 2048
_RETRIED = (ErrorKind.RATE_LIMIT, ErrorKind.TRANSIENT)

ProblemHandler = Callable[[str, GraphError], None]


@dataclass(frozen=True, slots=True)
class SendPolicy:
    global_rate: float = 80.0
    global_burst: float = 80.0
    pair_rate: float = 1 / 6
    pair_burst: float = 20.0
    first_backoff: float = 2.0
    max_backoff: float = 60.0
    max_attempts: int = 10  # rate-limit or transient failures in a row before giving up
    held_per_number: int = 8


@dataclass(frozen=True, slots=True)
class Template:
    name: str
    language: str


@dataclass(frozen=True, slots=True)
class SentRecord:
    number: str
    reply: Reply
    key: str | None
    template: bool


class Outbox:
    def __init__(
        self,
        graph: GraphClient,
        clock: Clock,
        window: ServiceWindow,
        template: Template,
        policy: SendPolicy | None = None,
        on_problem: ProblemHandler | None = None,
    ) -> None:
        self._graph = graph
        self._clock = clock
        self._window = window
        self._template = template
        self.policy = policy or SendPolicy()
        self._on_problem = on_problem
        self._global = TokenBucket(
            clock, rate=self.policy.global_rate, burst=self.policy.global_burst
        )
        self._buckets: dict[str, TokenBucket] = {}
        self._sends: KeyedSendQueue[str, list[str]] = KeyedSendQueue(
            on_error=self._failed,
            unsent=list,
            task_name=lambda number: f"whatsapp-outbox-{masked(number)}",
        )
        self._keys: OrderedDict[str, dict[str, list[str]]] = OrderedDict()
        self._held: dict[str, OrderedDict[str, Reply]] = defaultdict(OrderedDict)
        self._updated: defaultdict[str, deque[str]] = defaultdict(lambda: deque(maxlen=8))
        self._update_counts: defaultdict[str, int] = defaultdict(int)
        self._records: OrderedDict[str, SentRecord] = OrderedDict()
        self.stats: defaultdict[str, int] = defaultdict(int)

    # public -------------------------------------------------------------------------

    def send(
        self,
        number: str,
        reply: Reply,
        *,
        key: str | None = None,
        reply_to: str | None = None,
    ) -> asyncio.Future[list[str]]:
        """Queue `reply` for `number`; `key` remembers it for `update`, `reply_to` quotes a
        message (the tapped one)."""
        if key is not None:
            self._remember(key, number, None)
        return self._submit(number, lambda: self._deliver(number, reply, key, reply_to))

    def updates_to(self, number: str) -> int:
        """How many updates have been queued for `number` so far (see `said_by_update`)."""
        return self._update_counts[number]

    def said_by_update(self, number: str, since: int, reply: Reply) -> bool:
        """Whether an update queued for `number` after the count `since` already says what
        `reply` would: the same text, or any update when `reply` is only a notice (the
        answer to a tapped Approve or Acknowledge, which the notifier has sent to every copy).
        """
        fresh = self._update_counts[number] - since
        if fresh <= 0:
            return False
        recent = list(self._updated[number])[-fresh:]
        return reply.notice or reply.text in recent

    def update(self, key: str, reply: Reply) -> list[asyncio.Future[list[str]]]:
        """The new version of every message sent under `key`, to each of its numbers."""
        futures = []
        for number in list(self._keys.get(key, {})):
            self._updated[number].append(reply.text)
            self._update_counts[number] += 1

            async def run(number: str = number) -> list[str]:
                earlier = self._keys.get(key, {}).get(number, [])
                return await self._deliver(
                    number, reply, key, earlier[-1] if earlier else None, template_ok=False
                )

            futures.append(self._submit(number, run))
        return futures

    def release_held(self, number: str) -> list[asyncio.Future[list[str]]]:
        """`number` wrote: send what the templates could not carry, oldest first."""
        held = self._held.pop(number, None)
        if not held:
            return []
        self.stats["released"] += len(held)
        return [
            self.send(number, reply, key=None if key.startswith("h:") else key)
            for key, reply in held.items()
        ]

    def resend_as_template(self, wamid: str) -> bool:
        """WhatsApp reported this message failed with 131047 (the window had closed): send it
        again, now as the template. False if it is not one of ours (or already resent)."""
        record = self._records.pop(wamid, None)
        if record is None or record.template:
            return False
        for other, sent in list(self._records.items()):
            if sent.reply is record.reply and sent.number == record.number:
                del self._records[other]  # its other parts: one template says it all
        self._window.close(record.number)
        self.stats["resent_as_template"] += 1
        self.send(record.number, record.reply, key=record.key)
        return True

    def record(self, wamid: str) -> SentRecord | None:
        return self._records.get(wamid)

    def held(self, number: str) -> list[Reply]:
        return list(self._held.get(number, {}).values())

    async def drain(self) -> None:
        await self._sends.drain()

    async def close(self) -> None:
        """Stop the workers; anything sent from now on is dropped (and counted)."""
        left = await self._sends.close()
        if left:
            log.warning("whatsapp outbox closed with %d message(s) unsent", left)

    # queueing -----------------------------------------------------------------------

    def _submit(
        self, number: str, run: Callable[[], Awaitable[list[str]]]
    ) -> asyncio.Future[list[str]]:
        if self._sends.closed:
            self.stats["after_close"] += 1
            dropped: asyncio.Future[list[str]] = asyncio.get_running_loop().create_future()
            dropped.set_result([])
            return dropped
        return self._sends.submit(number, run)

    def _failed(self, number: str, error: Exception) -> list[str]:
        """A refusal from WhatsApp is reported through `on_problem` (its future gets no
        ids); anything else fails the future."""
        if isinstance(error, GraphError):
            self.stats[f"failed_{error.kind.value}"] += 1
            log.warning("whatsapp delivery to %s failed: %s", masked(number), error)
            if self._on_problem is not None:
                self._on_problem(number, error)
            return []
        self.stats["failed"] += 1
        log.exception("whatsapp delivery to %s failed", masked(number))
        raise error

    def _remember(self, key: str, number: str, wamid: str | None) -> None:
        numbers = self._keys.setdefault(key, {})
        ids = numbers.setdefault(number, [])
        if wamid:
            ids.append(wamid)
        self._keys.move_to_end(key)
        while len(self._keys) > _MAX_KEYS:
            self._keys.popitem(last=False)

    def _hold(self, number: str, key: str, reply: Reply) -> None:
        held = self._held[number]
        held[key] = reply
        held.move_to_end(key)
        self.stats["held"] += 1
        while len(held) > self.policy.held_per_number:
            held.popitem(last=False)
            self.stats["held_dropped"] += 1

    # delivery -----------------------------------------------------------------------

    async def _deliver(
        self,
        number: str,
        reply: Reply,
        key: str | None,
        reply_to: str | None,
        *,
        template_ok: bool = True,
    ) -> list[str]:
        """Free-form inside the window; outside it the template (or, for an update, which
        is not worth a template, held until the person writes)."""
        if not self._window.is_open(number):
            return await self._outside_window(number, reply, key, template_ok)
        ids: list[str] = []
        for index, message in enumerate(fmt.plan(reply)):
            try:
                wamid = await self._send_one(number, message, reply_to if index == 0 else None)
            except GraphError as error:
                if error.kind is not ErrorKind.WINDOW_CLOSED:
                    raise
                self._window.close(number)
                self.stats["window_closed"] += 1
                return ids + await self._outside_window(number, reply, key, template_ok)
            self._record(wamid, SentRecord(number, reply, key, template=False))
            ids.append(wamid)
        return ids

    async def _send_one(self, number: str, message: fmt.Message, reply_to: str | None) -> str:
        if isinstance(message, fmt.Text):
            return await self._post(number, fmt.text_payload(number, message.body, reply_to))
        if isinstance(message, fmt.Picture):
            media_id = await self._upload(message.image)
            payload = fmt.image_payload(number, media_id, message.caption, reply_to)
            self.stats["images"] += 1
            return await self._post(number, payload)
        try:
            return await self._post(number, fmt.interactive_payload(number, message, reply_to))
        except GraphError as error:
            if error.kind is not ErrorKind.REJECTED:
                raise
            self.stats["plain_fallback"] += 1
            log.warning("whatsapp refused an interactive message (%s); sending text", error)
            plain = fmt.as_plain(message)
            return await self._post(number, fmt.text_payload(number, plain.body, reply_to))

    async def _outside_window(
        self, number: str, reply: Reply, key: str | None, template_ok: bool
    ) -> list[str]:
        if template_ok:
            return await self._as_template(number, reply, key)
        self._hold(number, key or f"h:{secrets.token_hex(4)}", reply)
        return []

    async def _as_template(self, number: str, reply: Reply, key: str | None) -> list[str]:
        keep = bool(reply.buttons or reply.images)
        suffix = "Reply to this message to get the full version." if keep else ""
        parameter = fmt.template_parameter(reply, suffix)
        payload = fmt.template_payload(
            number, self._template.name, self._template.language, parameter
        )
        wamid = await self._post(number, payload)
        self.stats["templates"] += 1
        self._record(wamid, SentRecord(number, reply, key, template=True))
        if keep:
            self._hold(number, key or f"h:{wamid or secrets.token_hex(4)}", reply)
        return [wamid]

    def _record(self, wamid: str, record: SentRecord) -> None:
        if not wamid:
            return
        self.stats["sent"] += 1
        if record.key is not None:
            self._remember(record.key, record.number, wamid)
        self._records[wamid] = record
        while len(self._records) > _MAX_RECORDS:
            self._records.popitem(last=False)

    async def _upload(self, image: Image) -> str:
        if isinstance(image, Path):
            data, name = await asyncio.to_thread(image.read_bytes), image.name
        else:
            data, name = image, "chart.png"
        mime = "image/jpeg" if name.lower().endswith((".jpg", ".jpeg")) else "image/png"
        return await self._retrying(
            None, lambda: self._graph.upload_media(data, mime, name), "upload"
        )

    async def _post(self, number: str, payload: dict[str, object]) -> str:
        return await self._retrying(number, lambda: self._graph.send(dict(payload)), "send")

    async def _retrying(self, number: str | None, call: Callable[[], Awaitable[T]], what: str) -> T:
        failures = 0
        while True:
            if number is not None:
                await self._bucket(number).acquire()
            await self._global.acquire()
            try:
                return await call()
            except GraphError as error:
                if error.kind not in _RETRIED:
                    raise
                failures += 1
                self.stats[error.kind.value] += 1
                if failures >= self.policy.max_attempts:
                    raise
                delay = min(
                    self.policy.max_backoff,
                    self.policy.first_backoff * 2 ** min(failures - 1, 10),
                )
                log.warning(
                    "whatsapp %s to %s: %s; retry %d in %.0fs",
                    what,
                    masked(number or ""),
                    error,
                    failures,
                    delay,
                )
                await self._clock.sleep(delay)

    def _bucket(self, number: str) -> TokenBucket:
        bucket = self._buckets.get(number)
        if bucket is None:
            bucket = self._buckets[number] = TokenBucket(
                self._clock, rate=self.policy.pair_rate, burst=self.policy.pair_burst
            )
        return bucket

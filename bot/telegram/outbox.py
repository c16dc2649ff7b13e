"""Delivery to Telegram that does not lose messages.

One FIFO queue and worker per chat, so a chat's messages arrive in order and one slow chat
does not hold up another. Every send waits for a token from the chat's bucket (about one
message a second in a private chat, twenty a minute in a group) and from the bot-wide bucket
(thirty a second). A 429 is honoured: the worker sleeps `retry_after` and sends the same
message again, once it is allowed. Network and server errors are retried with a capped
backoff. A message Telegram refuses for its formatting is re-sent as plain text. A chat that
cannot be reached (the user blocked the bot or never started it) is logged and skipped.

Messages sent under a `key` (an approval request, a critical alert) are remembered, so a
later `update_key` edits every copy in every chat.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from aiogram import Bot
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import BufferedInputFile, FSInputFile, LinkPreviewOptions, Message

from bot.reply import Image, Reply
from bot.sendqueue import KeyedSendQueue
from bot.telegram import format as fmt
from bot.timing import TokenBucket
from trader.control.api import Clock

log = logging.getLogger(__name__)
T = TypeVar("T")
_NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
_MAX_KEYS = 2048


@dataclass(frozen=True, slots=True)
class FloodPolicy:
    global_rate: float = 30.0
    global_burst: float = 30.0
    private_rate: float = 1.0
    private_burst: float = 3.0
    group_rate: float = 20 / 60
    group_burst: float = 3.0
    max_backoff: float = 30.0
    # network/server failures in a row before a message is given up; None: keep trying (the
    # chat's later messages wait behind it, in order, until Telegram is reachable again)
    max_attempts: int | None = None


class Undeliverable(Exception):
    """The chat cannot receive messages (blocked, never started, deleted)."""


class Outbox:
    def __init__(self, bot: Bot, clock: Clock, policy: FloodPolicy | None = None) -> None:
        self._bot = bot
        self._clock = clock
        self.policy = policy or FloodPolicy()
        self._global = TokenBucket(
            clock, rate=self.policy.global_rate, burst=self.policy.global_burst
        )
        self._buckets: dict[int, TokenBucket] = {}
        self._sends: KeyedSendQueue[int, list[int]] = KeyedSendQueue(
            on_error=self._failed,
            unsent=list,
            task_name=lambda chat_id: f"telegram-outbox-{chat_id}",
        )
        self._keys: OrderedDict[str, dict[int, list[int]]] = OrderedDict()
        self.stats: defaultdict[str, int] = defaultdict(int)
        self._following: set[asyncio.Task[None]] = set()

    # public -------------------------------------------------------------------------

    def send(
        self, chat_id: int, reply: Reply, *, key: str | None = None
    ) -> asyncio.Future[list[int]]:
        async def run() -> list[int]:
            ids = await self._deliver(chat_id, reply)
            if key is not None and ids:
                self._remember(key, chat_id, ids[-1])
            return ids

        if key is not None:  # an update queued before this send completes still finds it
            self._remember(key, chat_id, None)
        return self._submit(chat_id, run)

    async def answer(self, chat_id: int, reply: Reply) -> list[int]:
        """Send a command's answer and wait for it (in the caller's task when the chat's queue
        is idle: `KeyedSendQueue.run`), then follow it (`Reply.follow`): each later reply
        edits the sent message, or, with images, is sent as a new one. The following runs
        beside the chat's queue, so the chat answers other commands meanwhile; stopped by
        `close()`."""
        self._note_if_closed(chat_id)
        ids = await self._sends.run(chat_id, lambda: self._deliver(chat_id, reply))
        if reply.follow is not None and not self._sends.closed:
            task = asyncio.create_task(
                self._follow(chat_id, ids, reply.follow), name=f"telegram-follow-{chat_id}"
            )
            self._following.add(task)
            task.add_done_callback(self._following.discard)
        return ids

    async def _follow(self, chat_id: int, ids: list[int], follow: Callable[[], Any]) -> None:
        try:
            async for update in follow():
                if update.images or not ids:
                    await self.send(chat_id, update)
                else:
                    await self.edit(chat_id, ids[0], update)
        except asyncio.CancelledError:
            raise
        except Exception:  # the first answer stands; the operator's log says what failed
            log.exception("telegram: following a reply in chat %s failed", chat_id)

    def edit(self, chat_id: int, message_id: int, reply: Reply) -> asyncio.Future[list[int]]:
        return self._submit(chat_id, lambda: self._edit(chat_id, message_id, reply))

    def update_key(self, key: str, reply: Reply) -> list[asyncio.Future[list[int]]]:
        """Edit every message sent under `key`, in each chat's order."""
        futures = []
        for chat_id in list(self._keys.get(key, {})):

            async def run(chat_id: int = chat_id) -> list[int]:
                ids = self._keys.get(key, {}).get(chat_id, [])
                edited: list[int] = []
                for message_id in ids:
                    edited += await self._edit(chat_id, message_id, reply, allow_new=False)
                return edited

            futures.append(self._submit(chat_id, run))
        return futures

    async def drain(self) -> None:
        """Wait until every queued message has been handled."""
        await self._sends.drain()

    async def close(self) -> None:
        for task in list(self._following):
            task.cancel()
        await asyncio.gather(*self._following, return_exceptions=True)
        left = await self._sends.close()
        if left:
            log.warning("telegram outbox closed with %d message(s) unsent", left)

    # queueing -----------------------------------------------------------------------

    def _submit(
        self, chat_id: int, run: Callable[[], Awaitable[list[int]]]
    ) -> asyncio.Future[list[int]]:
        self._note_if_closed(chat_id)
        return self._sends.submit(chat_id, run)

    def _note_if_closed(self, chat_id: int) -> None:
        """After `close()` nothing is sent (the queue settles the message unsent): say so."""
        if self._sends.closed:
            self.stats["after_close"] += 1
            log.warning("telegram outbox closed: a message to chat %s was not sent", chat_id)

    def _failed(self, chat_id: int, error: Exception) -> list[int]:
        """An unreachable chat is skipped (its future gets no ids); anything else fails it."""
        if isinstance(error, Undeliverable):
            self.stats["undeliverable"] += 1
            log.warning("telegram chat %s unreachable: %s", chat_id, error)
            return []
        self.stats["failed"] += 1
        log.exception("telegram delivery to chat %s failed", chat_id)
        raise error

    def _remember(self, key: str, chat_id: int, message_id: int | None) -> None:
        chats = self._keys.setdefault(key, {})
        ids = chats.setdefault(chat_id, [])
        if message_id is not None:
            ids.append(message_id)
        self._keys.move_to_end(key)
        while len(self._keys) > _MAX_KEYS:
            self._keys.popitem(last=False)

    # delivery -----------------------------------------------------------------------

    async def _deliver(self, chat_id: int, reply: Reply) -> list[int]:
        markup = fmt.keyboard(reply)
        has_text = bool(reply.text.strip())
        ids: list[int] = []
        caption_done = not has_text
        if has_text and not (reply.images and fmt.caption_fits(reply)):
            texts = fmt.parts(reply)
            for index, part in enumerate(texts):
                last = index == len(texts) - 1 and not reply.images
                ids.append(await self._text(chat_id, part, markup if last else None, reply.silent))
            caption_done = True
        for index, image in enumerate(reply.images):
            last = index == len(reply.images) - 1
            caption = reply if index == 0 and not caption_done else None
            ids.append(
                await self._photo(chat_id, image, caption, markup if last else None, reply.silent)
            )
        return ids

    async def _text(self, chat_id: int, part: fmt.Part, markup: Any, silent: bool) -> int:
        preview = _NO_PREVIEW if part.links else None  # no link, no preview to turn off

        async def html() -> Message:
            return await self._bot.send_message(
                chat_id,
                part.html,
                parse_mode="HTML",
                reply_markup=markup,
                disable_notification=silent or None,  # unset: Telegram's default, notify
                link_preview_options=preview,
            )

        async def plain() -> Message:
            return await self._bot.send_message(
                chat_id,
                part.plain,
                parse_mode=None,
                reply_markup=markup,
                disable_notification=silent or None,  # unset: Telegram's default, notify
                link_preview_options=preview,
            )

        message = await self._with_fallback(chat_id, html, plain)
        self.stats["sent"] += 1
        return message.message_id

    async def _photo(
        self, chat_id: int, image: Image, caption: Reply | None, markup: Any, silent: bool
    ) -> int:
        photo = (
            BufferedInputFile(image, "chart.png")
            if isinstance(image, bytes)
            else FSInputFile(image)
        )
        part = fmt.parts(caption, fmt.CAPTION_LIMIT)[0] if caption else None

        async def html() -> Message:
            return await self._bot.send_photo(
                chat_id,
                photo,
                caption=part.html if part else None,
                parse_mode="HTML" if part else None,
                reply_markup=markup,
                disable_notification=silent or None,  # unset: Telegram's default, notify
            )

        async def plain() -> Message:
            return await self._bot.send_photo(
                chat_id,
                photo,
                caption=part.plain if part else None,
                parse_mode=None,
                reply_markup=markup,
                disable_notification=silent or None,  # unset: Telegram's default, notify
            )

        message = await self._with_fallback(chat_id, html, plain)
        self.stats["photos"] += 1
        return message.message_id

    async def _edit(
        self, chat_id: int, message_id: int, reply: Reply, *, allow_new: bool = True
    ) -> list[int]:
        texts = fmt.parts(reply)
        markup = fmt.keyboard(reply) if len(texts) == 1 and not reply.images else None
        preview = _NO_PREVIEW if texts[0].links else None

        async def html() -> Any:
            return await self._bot.edit_message_text(
                text=texts[0].html,
                chat_id=chat_id,
                message_id=message_id,
                parse_mode="HTML",
                reply_markup=markup,
                link_preview_options=preview,
            )

        async def plain() -> Any:
            return await self._bot.edit_message_text(
                text=texts[0].plain,
                chat_id=chat_id,
                message_id=message_id,
                parse_mode=None,
                reply_markup=markup,
                link_preview_options=preview,
            )

        try:
            await self._with_fallback(chat_id, html, plain)
        except TelegramBadRequest as error:
            if "not modified" in error.message:
                return [message_id]
            if not allow_new:
                log.info("telegram edit of %s/%s skipped: %s", chat_id, message_id, error.message)
                return []
            return await self._deliver(chat_id, reply)  # too old or gone: send it anew
        self.stats["edited"] += 1
        if len(texts) == 1 and not reply.images:
            return [message_id]
        rest = "\n".join(part.plain for part in texts[1:])
        follow = Reply(rest, buttons=reply.buttons, images=reply.images, silent=True)
        return [message_id, *await self._deliver(chat_id, follow)]

    # retries ------------------------------------------------------------------------

    async def _with_fallback(
        self, chat_id: int, html: Callable[[], Awaitable[T]], plain: Callable[[], Awaitable[T]]
    ) -> T:
        try:
            return await self._call(chat_id, html)
        except TelegramBadRequest as error:
            if "parse entities" not in error.message and "entity" not in error.message:
                raise
            self.stats["plain_fallback"] += 1
            log.warning("telegram refused the formatting (%s); sending plain text", error.message)
            return await self._call(chat_id, plain)

    async def _call(self, chat_id: int, request: Callable[[], Awaitable[T]]) -> T:
        failures = 0
        bucket = self._bucket(chat_id)
        while True:
            await bucket.acquire()
            await self._global.acquire()
            try:
                return await request()
            except TelegramRetryAfter as error:
                self.stats["retry_after"] += 1
                log.warning(
                    "telegram flood control: retry after %ss (chat %s)", error.retry_after, chat_id
                )
                await self._clock.sleep(float(error.retry_after))
            except (TelegramForbiddenError, TelegramNotFound) as error:
                raise Undeliverable(error.message) from error
            except TelegramBadRequest as error:
                if "chat not found" in error.message:
                    raise Undeliverable(error.message) from error
                raise
            except (TelegramNetworkError, TelegramServerError) as error:
                failures += 1
                self.stats["network_retry"] += 1
                if self.policy.max_attempts is not None and failures >= self.policy.max_attempts:
                    raise
                delay = min(self.policy.max_backoff, 0.5 * 2 ** min(failures, 10))
                log.warning(
                    "telegram send failed (%s); retry %d in %.1fs",
                    type(error).__name__,
                    failures,
                    delay,
                )
                await self._clock.sleep(delay)

    def _bucket(self, chat_id: int) -> TokenBucket:
        bucket = self._buckets.get(chat_id)
        if bucket is None:
            policy = self.policy
            rate, burst = (
                (policy.private_rate, policy.private_burst)
                if chat_id > 0
                else (policy.group_rate, policy.group_burst)
            )
            bucket = self._buckets[chat_id] = TokenBucket(self._clock, rate=rate, burst=burst)
        return bucket

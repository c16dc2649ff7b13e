"""Long polling with the failures an operator must hear about.

aiogram's own polling loop logs every failure and retries forever, so a second process that
polls with the same token ("Conflict: terminated by other getUpdates request") silently
steals half the commands. This loop feeds the same dispatcher, but tells a conflict apart:
it raises a critical alert that says what is going on (another process polls with this
token) and which process this one is, keeps retrying on a slow cadence, and says when the
token is ours again. A revoked token stops the loop with an alert instead of looping.

Retry pacing is I/O pacing, so it uses the event loop's time (`asyncio.sleep`), not the
injected clock: a fake clock would turn the retries into a busy loop.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiogram import Bot, Dispatcher
from aiogram.exceptions import (
    TelegramConflictError,
    TelegramRetryAfter,
    TelegramUnauthorizedError,
)
from aiogram.methods import GetUpdates
from aiogram.types import Update

from trader.domain import Alert, Severity

log = logging.getLogger(__name__)

AlertSink = Callable[[Alert], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class PollingConfig:
    timeout: int = 25  # seconds Telegram holds a getUpdates request open
    conflict_retry: float = 30.0
    error_retry_max: float = 30.0
    concurrency: int = 32  # updates handled at once
    # seconds a stop waits for the updates in hand: an answer Telegram keeps refusing (an
    # outage) is retried for ever, and the rest of the shutdown must not wait for it
    finish_timeout: float = 5.0


def conflict_alert(description: str) -> Alert:
    here = f"pid {os.getpid()} on {socket.gethostname()}"
    return Alert(
        "telegram_conflict",
        Severity.CRITICAL,
        "Telegram: another process is polling with this bot token",
        "\n".join(
            (
                f"Telegram answered: {description}",
                "Only one process may read a bot's updates. Another one is using the same "
                "TELEGRAM_BOT_TOKEN: a second Polyops (another server, a laptop, an old "
                "container) or another tool.",
                f"This process is {here}. Commands may go to the other process until it stops; "
                "stop it, or give one of them a different bot token.",
                "Polyops keeps retrying and will say when the token is free again.",
            )
        ),
        dedupe_key="telegram_conflict",
    )


class Poller:
    def __init__(
        self,
        bot: Bot,
        dispatcher: Dispatcher,
        alert: AlertSink,
        config: PollingConfig | None = None,
    ) -> None:
        self._bot = bot
        self._dispatcher = dispatcher
        self._alert = alert
        self.config = config or PollingConfig()
        self._offset: int | None = None
        self._tasks: set[asyncio.Task[object]] = set()
        self._slots = asyncio.Semaphore(self.config.concurrency)
        self.state = "starting"
        self.conflicts = 0

    async def run(self) -> None:
        failures = 0
        allowed = self._dispatcher.resolve_used_update_types()
        # one request, its offset moved on as updates arrive (as aiogram's own loop does):
        # building and validating a new GetUpdates per poll was measurable per update
        request = GetUpdates(
            offset=self._offset, timeout=self.config.timeout, allowed_updates=allowed
        )
        request_timeout = self.config.timeout + 15
        while True:
            try:
                updates = await self._bot(request, request_timeout=request_timeout)
            except TelegramConflictError as error:
                await self._on_conflict(error.message)
                await asyncio.sleep(self.config.conflict_retry)
                continue
            except TelegramUnauthorizedError:
                self.state = "unauthorized"
                await self._alert(
                    Alert(
                        "telegram",
                        Severity.CRITICAL,
                        "Telegram refused the bot token",
                        "The token was revoked or is wrong; the chat is down until "
                        "TELEGRAM_BOT_TOKEN is fixed and Polyops restarted.",
                    )
                )
                raise
            except TelegramRetryAfter as error:
                await asyncio.sleep(float(error.retry_after))
                continue
            except Exception as error:  # network, server, decode: all retried with backoff
                failures += 1
                self.state = "reconnecting"
                delay = min(self.config.error_retry_max, 0.5 * 2 ** min(failures, 8))
                log.warning(
                    "telegram getUpdates failed (%s); retry in %.1fs", type(error).__name__, delay
                )
                await asyncio.sleep(delay)
                continue
            failures = 0
            await self._on_success()
            for update in updates:
                self._offset = request.offset = update.update_id + 1
                await self._handle(update)

    async def _on_conflict(self, description: str) -> None:
        self.conflicts += 1
        if self.state != "conflict":
            self.state = "conflict"
            log.critical("telegram polling conflict: %s", description)
            await self._alert(conflict_alert(description))

    async def _on_success(self) -> None:
        if self.state == "conflict":
            await self._alert(
                Alert(
                    "telegram_conflict",
                    Severity.WARNING,
                    "Telegram: this process has the bot token again",
                    "The other process stopped polling; commands reach Polyops again.",
                )
            )
        self.state = "polling"

    async def _handle(self, update: Update) -> None:
        await self._slots.acquire()
        task = asyncio.create_task(self._feed(update), name=f"telegram-update-{update.update_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _feed(self, update: Update) -> None:
        try:
            await self._dispatcher.feed_update(self._bot, update)
        except Exception:
            log.exception("telegram update %s failed", update.update_id)
        finally:
            self._slots.release()

    async def finish(self) -> None:
        """Wait for the updates being handled (after the loop was cancelled), for
        `finish_timeout` at most; those still running then are cancelled (logged)."""
        if not self._tasks:
            return
        _, running = await asyncio.wait(set(self._tasks), timeout=self.config.finish_timeout)
        if running:
            names = ", ".join(sorted(task.get_name() for task in running))
            log.warning(
                "telegram: %d update(s) unfinished at stop, cancelled: %s", len(running), names
            )
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)

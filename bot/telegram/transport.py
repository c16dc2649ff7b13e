"""The Telegram transport: what the composition root builds, starts and stops.

    telegram = build_telegram(settings.telegram(), core, notifier, clock)
    await telegram.start()                        # token, menus, notifier channel (or webhook)
    supervisor.start("telegram", telegram.run)    # long polling, restartable
    ...
    await telegram.stop()                         # after the supervisor cancelled run()

It registers a `TelegramChannel` with the notifier, so alerts and approval requests reach
the operators' (and, for alerts, the viewers') private chats through the same outbox as the
replies. Long polling is the default; a `WebhookConfig` switches to a webhook. The bot
token is used only to build the client: it is never logged or put in a message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any, Protocol

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramUnauthorizedError
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from bot.access import Roster
from bot.commands.core import CommandCore
from bot.notifier import Notifier
from bot.reply import Reply, Role
from bot.telegram.dispatcher import create_dispatcher, register_commands
from bot.telegram.middlewares import answer_models, roster_of
from bot.telegram.outbox import FloodPolicy, Outbox
from bot.telegram.polling import Poller, PollingConfig
from bot.telegram.session import JsonBodySession
from trader.control.api import Clock

log = logging.getLogger(__name__)


class Secret(Protocol):
    def get_secret_value(self) -> str: ...


class TelegramSettings(Protocol):
    """What the transport needs; `trader.config.TelegramConfig` has this shape."""

    @property
    def token(self) -> Secret: ...

    @property
    def api_base(self) -> str: ...

    @property
    def operator_ids(self) -> frozenset[int]: ...

    @property
    def viewer_ids(self) -> frozenset[int]: ...


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    url: str  # public HTTPS URL Telegram posts to, path included
    secret: str  # checked on every request (X-Telegram-Bot-Api-Secret-Token)
    host: str = "127.0.0.1"
    port: int = 8443
    path: str = "/telegram"


class TelegramError(RuntimeError):
    """The transport cannot start; the message says why (never the token)."""


class TelegramChannel:
    """The notifier's view of Telegram: private chats chosen by role."""

    def __init__(self, outbox: Outbox, roster: Roster) -> None:
        self._outbox = outbox
        self._roster = roster

    async def publish(self, reply: Reply, *, audience: Role, key: str | None = None) -> None:
        for user_id in self._roster.recipients(audience):
            self._outbox.send(int(user_id), reply, key=key)

    async def update(self, key: str, reply: Reply) -> None:
        self._outbox.update_key(key, reply)


class TelegramTransport:
    def __init__(
        self,
        bot: Bot,
        dispatcher: Dispatcher,
        outbox: Outbox,
        core: CommandCore,
        notifier: Notifier,
        roster: Roster,
        *,
        polling: PollingConfig | None = None,
        webhook: WebhookConfig | None = None,
    ) -> None:
        self.bot = bot
        self.dispatcher = dispatcher
        self.outbox = outbox
        self._core = core
        self._notifier = notifier
        self._roster = roster
        self._webhook = webhook
        self.poller = Poller(bot, dispatcher, notifier.notify, polling)
        self._started = False
        self._running = False
        self._runner: web.AppRunner | None = None
        self._channel_added = False
        self.answers: tuple[type[Any], ...] = ()

    @property
    def state(self) -> str:
        """For /health and the app's component list: polling, conflict, reconnecting,
        unauthorized, webhook, ready (started, not yet running) or stopped."""
        if not self._started:
            return "stopped"
        if self._webhook is not None:
            return "webhook"
        return self.poller.state if self._running else "ready"

    async def start(self) -> None:
        """Check the token, set the command menus, join the notifier; with a webhook, also
        serve it. Raises `TelegramError` if Telegram refuses the token."""
        self.answers = answer_models()  # held: built once, not after every collection
        try:
            me = await self.bot.get_me()
        except TelegramUnauthorizedError:
            await self.bot.session.close()
            raise TelegramError(
                "Telegram refused TELEGRAM_BOT_TOKEN (revoked or mistyped)"
            ) from None
        if not self._roster.operators:
            log.warning("TELEGRAM_OPERATOR_IDS is empty: nobody can control Polyops from Telegram")
        await register_commands(self.bot, self._core, self._roster)
        if not self._channel_added:
            self._notifier.add_channel(TelegramChannel(self.outbox, self._roster))
            self._channel_added = True
        if self._webhook is None:
            await self.bot.delete_webhook(drop_pending_updates=False)
        elif self._runner is None:
            await self._start_webhook(self._webhook)
        self._started = True
        log.info("telegram ready", extra={"bot": me.username, "mode": self.state})

    async def _start_webhook(self, config: WebhookConfig) -> None:
        app = web.Application()
        SimpleRequestHandler(self.dispatcher, self.bot, secret_token=config.secret).register(
            app, path=config.path
        )
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, config.host, config.port).start()
        await self.bot.set_webhook(
            config.url,
            secret_token=config.secret,
            allowed_updates=self.dispatcher.resolve_used_update_types(),
        )

    @property
    def webhook_port(self) -> int | None:
        """The port the webhook server listens on (useful when configured as 0)."""
        if self._runner is None or not self._runner.addresses:
            return None
        return int(self._runner.addresses[0][1])

    async def run(self) -> None:
        """The supervised part: long polling until cancelled (or until the token is refused).
        Starts first if `start()` was not called. With a webhook, it only keeps the slot."""
        if not self._started:
            await self.start()
        if self._webhook is not None:
            await asyncio.Event().wait()
        self._running = True
        try:
            await self.poller.run()
        finally:
            self._running = False

    async def stop(self) -> None:
        """After `run()` was cancelled: finish the updates in hand, deliver what is queued
        (for a few seconds at most), close the session."""
        await self.poller.finish()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.outbox.drain(), timeout=5)
        await self.outbox.close()
        await self.bot.session.close()
        self._started = False


def build_telegram(
    settings: TelegramSettings,
    core: CommandCore,
    notifier: Notifier,
    clock: Clock,
    *,
    flood: FloodPolicy | None = None,
    polling: PollingConfig | None = None,
    webhook: WebhookConfig | None = None,
) -> TelegramTransport:
    """Build (not start) the transport: nothing connects until `start()`."""
    session = JsonBodySession(api=TelegramAPIServer.from_base(settings.api_base))
    bot = Bot(
        token=settings.token.get_secret_value(),
        session=session,
        default=DefaultBotProperties(parse_mode=None),
    )
    roster = roster_of(settings.operator_ids, settings.viewer_ids)
    core.access.set_roster("telegram", roster)
    outbox = Outbox(bot, clock, flood)
    dispatcher = create_dispatcher(core, outbox)
    return TelegramTransport(
        bot, dispatcher, outbox, core, notifier, roster, polling=polling, webhook=webhook
    )

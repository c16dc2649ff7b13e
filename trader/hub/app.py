"""`trader hub`: the chat transports (Telegram, WhatsApp, the terminal) for several traders.

The hub holds no trading state and no database: each instance in HUB_INSTANCES is a trader
serving its Control API over signed HTTP (CONTROL_API_ENABLED on it), reached through a
`RemoteControl` with that instance's secret from HUB_SECRETS; a trader on this machine is
reached the same way, on 127.0.0.1. The chat code is the lone trader's, over `HubCore`
(`bot/hub/core.py`); alerts and approval requests of every instance flow through one
`Notifier`, tagged with the instance (`bot/hub/alerts.py`), and an instance that stops
answering is itself an alert. The hub's own HTTP server (HTTP_HOST:HTTP_PORT) serves /health
and the WhatsApp webhook.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import tempfile
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import httpx

from bot.console import ConsoleChannel, ConsoleChat
from bot.hub.alerts import InstanceRelays, InstanceWatch
from bot.hub.core import HubCore
from bot.notifier import Notifier
from trader import __version__
from trader.clock import Clock, SystemClock
from trader.config import ConfigError, Settings
from trader.control.remote import RemoteControl
from trader.domain import Alert, Severity
from trader.ops.collector import resume_collector
from trader.ops.failures import describe_failure
from trader.ops.httpserver import HttpServer
from trader.ops.supervisor import Supervisor
from trader.web import install_web

if TYPE_CHECKING:
    from bot.telegram import TelegramTransport
    from bot.whatsapp import WhatsAppTransport

log = logging.getLogger(__name__)
SHUTDOWN_BUDGET_S = 15.0


def hub_problems(settings: Settings) -> list[str]:
    if not settings.hub_instances:
        return ["HUB_INSTANCES: trader hub needs at least one instance, as name=URL,..."]
    return []


@dataclass
class HubApp:
    settings: Settings
    clock: Clock = field(default_factory=SystemClock)
    stdin: TextIO | None = None
    stdout: TextIO | None = None
    console: bool = False

    def __post_init__(self) -> None:
        self.stopping = asyncio.Event()
        self.supervisor = Supervisor(self.clock, on_trip=self._on_trip)
        self.telegram: TelegramTransport | None = None
        self.whatsapp: WhatsAppTransport | None = None
        self.chat: ConsoleChat | None = None
        self._files = tempfile.TemporaryDirectory(prefix="polyops-hub-")

    async def start(self) -> None:
        settings = self.settings
        problems = hub_problems(settings)
        if problems:
            raise ConfigError(problems)
        self.http_client = httpx.AsyncClient()
        secrets = settings.hub_secret_map()
        self.instances = [
            RemoteControl(
                name,
                url,
                secrets[name].get_secret_value(),
                self.http_client,
                self.clock,
                files=Path(self._files.name) / name,
            )
            for name, url in settings.hub_instances
        ]
        self.notifier = Notifier(self.clock, zone=settings.zone)
        self.core = HubCore(
            self.instances,
            clock=self.clock,
            notifier=self.notifier,
            zone=settings.zone,
            command_max_age=timedelta(seconds=settings.chat_command_max_age_s),
        )
        self.relays = InstanceRelays(self.instances, self.notifier, self.clock)
        self.watch = InstanceWatch(self.instances, self.notifier, interval_s=settings.hub_poll_s)
        http = settings.http()
        self.http = HttpServer(http.host, http.port)
        if settings.web_users is not None:
            install_web(settings, self.instances, self.clock, self.http)
        await self._start_chat()
        supervisor = self.supervisor
        supervisor.start("hub.relays", self.relays.run)
        supervisor.start("hub.watch", self.watch.run)
        supervisor.start("notifier.timer", self.notifier.run_timer)
        supervisor.start("http", self.http.serve)
        if self.chat is not None:
            supervisor.start("console", self.chat.run)
        if self.telegram is not None:
            supervisor.start("telegram", self.telegram.run)
        names = ", ".join(name for name, _url in settings.hub_instances)
        await self.notifier.notify(
            Alert("startup", Severity.INFO, f"Polyops hub {__version__} started", f"for {names}")
        )
        log.info("hub ready", extra={"instances": names})
        resume_collector()  # `trader hub` starts with it off (trader.ops.collector)

    async def _start_chat(self) -> None:
        settings = self.settings
        if self.console:
            self.chat = ConsoleChat(self.core, stdin=self.stdin, stdout=self.stdout)
            self.notifier.add_channel(ConsoleChannel(self.chat))
        telegram = settings.telegram()
        if telegram is not None:
            from bot.telegram import TelegramError, build_telegram

            self.telegram = build_telegram(telegram, self.core, self.notifier, self.clock)
            try:
                await self.telegram.start()
            except TelegramError:
                raise ConfigError(
                    ["TELEGRAM_BOT_TOKEN: Telegram refused the token (revoked or mistyped)"]
                ) from None
        if not settings.whatsapp_on:  # the WhatsApp transport is imported only when configured
            return
        from bot.whatsapp import WhatsAppConfig, build_whatsapp

        whatsapp = WhatsAppConfig.from_settings(settings)
        if whatsapp is not None:
            self.whatsapp = build_whatsapp(
                whatsapp, self.core, self.notifier, self.clock, self.http
            )

    async def _on_trip(self, name: str, error: BaseException) -> None:
        await self.notifier.notify(
            Alert(
                "supervisor",
                Severity.CRITICAL,
                f"Hub component {name} stopped after 3 crashes",
                describe_failure(error),
            )
        )

    async def run(self, *, duration: float | None = None) -> int:
        loop = asyncio.get_running_loop()
        signals = (signal.SIGINT, signal.SIGTERM)
        for sig in signals:
            loop.add_signal_handler(sig, self.stopping.set)
        try:
            await self.start()
            if self.whatsapp is not None:
                with contextlib.suppress(Exception):
                    await self.whatsapp.start()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), timeout=duration)
        finally:
            try:
                await asyncio.wait_for(self.stop(), timeout=SHUTDOWN_BUDGET_S)
            except TimeoutError:
                log.error("hub shutdown took longer than %.0fs", SHUTDOWN_BUDGET_S)
            for sig in signals:
                loop.remove_signal_handler(sig)
        return 0

    async def stop(self) -> None:
        if self.whatsapp is not None:
            await self.whatsapp.stop()
        await self.supervisor.stop()
        if self.telegram is not None:
            await self.telegram.stop()
        if getattr(self, "http_client", None) is not None:
            await self.http_client.aclose()
        self._files.cleanup()

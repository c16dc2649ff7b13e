"""The chat assembly: the Control API (the only door the chat uses), the notifier, the
command core, the relay of the Control API's subscriptions to the notifier, and the
transports (terminal, Telegram, WhatsApp), each built only when configured.

Constructing it builds every part (aiogram is imported only when Telegram is configured; the
WhatsApp webhook route is registered on the HTTP server before that serves). `start()`
subscribes the relay (before the first alert is published) and starts Telegram, whose refusal
of the token is a setting problem (`ConfigError`); `start_whatsapp()` runs once the HTTP
server serves.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from bot.commands.core import CommandCore
from bot.console import ConsoleChannel, ConsoleChat
from bot.notifier import Notifier
from bot.relay import ControlRelay
from trader.clock import Clock
from trader.config import ConfigError, Settings
from trader.config.values import is_loopback
from trader.control.api import ControlAPI
from trader.control.reports import ReportSource, SignalSource
from trader.control.server import ControlServer
from trader.control.signing import Verifier
from trader.control.types import (
    CycleHook,
    EventReader,
    EventSink,
    HeartbeatSource,
    SpendSource,
    TradingDesk,
)
from trader.control.why import WhySource
from trader.domain import Alert
from trader.ops.httpserver import HttpServer
from trader.ops.supervisor import Supervisor
from trader.state import ControlState
from trader.store.chat_memory import ChatMemoryRepository
from trader.store.trading import OrderRepository

from .lazy import BacktestsOnFirstUse

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from bot.telegram import TelegramTransport
    from bot.whatsapp import WhatsAppTransport

log = logging.getLogger(__name__)
BACKTESTS_DIR = Path("data/backtests/chat")
Component = Callable[[], Awaitable[None]]


@dataclass
class ConsoleIO:
    """The terminal chat's streams (None: the process's stdin and stdout)."""

    stdin: TextIO | None = None
    stdout: TextIO | None = None


class ChatAssembly:
    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock,
        sessions: async_sessionmaker[AsyncSession],
        state: ControlState,
        events: EventSink,
        event_reader: EventReader,
        desk: TradingDesk,
        cycle: CycleHook,
        heartbeat: HeartbeatSource,
        spend: SpendSource,
        reports: ReportSource,
        signals: SignalSource,
        supervisor: Supervisor,
        http: HttpServer,
        console_io: ConsoleIO | None,
        why: WhySource | None = None,
    ) -> None:
        """`console_io`: the terminal chat's streams, None for no terminal chat."""
        self._supervisor = supervisor
        memory = ChatMemoryRepository(sessions, clock)
        # /backtest: one at a time, in a child process (the kernel is imported there only; the
        # job runner itself at the first /backtest)
        self.backtests = BacktestsOnFirstUse(settings, clock, BACKTESTS_DIR)
        self.control = ControlAPI(
            state=state,
            events=events,
            event_reader=event_reader,
            clock=clock,
            mode=settings.trading_mode,
            components=self,
            desk=desk,
            cycle=cycle,
            heartbeat=heartbeat,
            spend=spend,
            reports=reports,
            signals=signals,
            strategy_records=OrderRepository(sessions, clock),  # /strategies: their records
            why=why,
            backtests=self.backtests,
            name=settings.trader_name,
        )
        secret = settings.control_api_secret
        if settings.control_api_enabled and secret is not None:  # the hub's door (off by default)
            verifier = Verifier(
                secret.get_secret_value(), max_skew_s=settings.control_api_max_skew_s
            )
            ControlServer(self.control, verifier, events, clock).install(http)
        if settings.web_users is not None:  # the web page, for this one trader
            from trader.web import install_web  # jinja2 and the page only when configured

            install_web(settings, [self.control], clock, http)
        self.notifier = Notifier(clock, zone=settings.zone, memory=memory)
        self.commands = CommandCore(
            self.control,
            clock=clock,
            notifier=self.notifier,
            zone=settings.zone,
            command_max_age=timedelta(seconds=settings.chat_command_max_age_s),
        )
        self._serve_why(http)
        self.relay = ControlRelay(self.control, self.notifier, clock)
        self.console: ConsoleChat | None = None
        if console_io is not None:
            self.console = ConsoleChat(
                self.commands, stdin=console_io.stdin, stdout=console_io.stdout
            )
            self.notifier.add_channel(ConsoleChannel(self.console))
        self.telegram: TelegramTransport | None = None
        telegram = settings.telegram()
        if telegram is not None:  # aiogram is imported only when Telegram is configured
            from bot.telegram import build_telegram

            self.telegram = build_telegram(telegram, self.commands, self.notifier, clock)
        self.whatsapp: WhatsAppTransport | None = None
        if settings.whatsapp_on:  # the WhatsApp transport is imported only when configured
            from bot.whatsapp import WhatsAppConfig, build_whatsapp

            whatsapp = WhatsAppConfig.from_settings(settings)
            if whatsapp is not None:
                self.whatsapp = build_whatsapp(
                    whatsapp, self.commands, self.notifier, clock, http, memory=memory
                )

    def _serve_why(self, http: HttpServer) -> None:
        """GET /why/<ref> on the HTTP server, which has no authentication: only while it binds
        a loopback address (see bot/web/why.py)."""
        if not is_loopback(http.host):
            log.warning("HTTP_HOST %s is not loopback: /why is not served over HTTP", http.host)
            return
        from bot.web.why import why_routes

        http.add_routes(why_routes(self.control, self.commands.context.render))

    async def start(self) -> None:
        self.relay.subscribe()  # before the first alert is published
        if self.telegram is None:
            return
        from bot.telegram import TelegramError

        try:
            await self.telegram.start()
        except TelegramError:  # the token is a setting: refuse to start, as for a bad one
            raise ConfigError(
                ["TELEGRAM_BOT_TOKEN: Telegram refused the token (revoked or mistyped)"]
            ) from None

    def notifier_components(self) -> dict[str, Component]:
        return {"notifier": self.relay.run, "notifier.timer": self.notifier.run_timer}

    def transport_components(self) -> dict[str, Component]:
        components: dict[str, Component] = {}
        if self.console is not None:
            components["console"] = self.console.run
        if self.telegram is not None:
            components["telegram"] = self.telegram.run
        return components

    async def start_whatsapp(self) -> None:
        """Runs once the HTTP server serves (the webhook route is registered before)."""
        if self.whatsapp is None:
            return
        from bot.whatsapp import WhatsAppError

        try:
            await self.whatsapp.start()
        except WhatsAppError as error:
            log.error("WhatsApp is off: %s", error)

    def component_states(self) -> dict[str, str]:
        """The supervised components' states and the transports' own (the Control API's
        `ComponentHealth`, shown by /status and /health)."""
        states = {name: s.state.value for name, s in self._supervisor.status.items()}
        if self.telegram is not None:
            states["telegram"] = self.telegram.state
        if self.whatsapp is not None:
            states["whatsapp"] = self.whatsapp.state
        return states

    async def notify_shutdown(self, alert: Alert) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.notifier.notify(alert), timeout=5)

    async def stop_whatsapp(self) -> None:
        if self.whatsapp is not None:
            await self.whatsapp.stop()

    async def stop_telegram(self) -> None:
        await asyncio.to_thread(self.backtests.close)  # a run still going ends with the chat
        if self.telegram is not None:
            await self.telegram.stop()

    def say_stopped(self) -> None:
        if self.console is not None:
            self.console.write("Polyops stopped.")

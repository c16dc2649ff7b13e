"""The composition root: builds every part, injects dependencies, supervises, shuts down.

Nothing connects or reads settings at import time. `App.start()` builds, in order: database
(refusing a schema that is behind), event log, persisted control state, the venue (paper or
live, chosen here once), the execution core (which reconciles with the venue before any
order), the signal runtime, reports, liveness (heartbeat, health, HTTP, metrics), the
scheduler (one table of jobs), the Control API and the chat transports. `App.stop()` stops
scheduling first (a cycle in progress is cancelled and recorded as such), lets an order
decision in flight finish, records the state and flushes the event log last, within 30 s;
a second signal exits at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.commands.core import CommandCore
from bot.console import ConsoleChannel, ConsoleChat
from bot.notifier import Notifier
from bot.relay import ControlRelay
from bot.render import common as render
from trader import __version__
from trader.bus import Bus
from trader.clock import Clock, SystemClock
from trader.config import ConfigError, Settings
from trader.control.api import ChatMemory, ControlAPI
from trader.domain import SYSTEM_ACTOR, Alert, Market, Severity, TradingMode
from trader.execution.runtime import (
    ExecutionCore,
    build_execution,
    execution_config,
    risk_limits_from_settings,
)
from trader.execution.trade_alerts import TradeAlerts
from trader.ops.failures import describe_failure
from trader.ops.health import (
    HealthMonitor,
    HealthSources,
    HeartbeatProviders,
    HeartbeatWriter,
    build_checks,
)
from trader.ops.httpserver import HttpServer
from trader.ops.metrics import GaugeSources, Metrics
from trader.ops.sdnotify import SystemdNotifier
from trader.ops.supervisor import Supervisor
from trader.reports import ReportService
from trader.scheduler import JobHook, JobScheduler
from trader.signals.runtime import SignalRuntime, build_signal_runtime, signal_runtime_config
from trader.signals.scoring import ForecastScoring, PayoutSource
from trader.signals.views import SignalsAdapter
from trader.state import ControlState
from trader.store.chat_memory import ChatMemoryRepository
from trader.store.db import create_engine, session_factory
from trader.store.eventlog import EventLog
from trader.store.migrate import ensure_schema_current
from trader.store.repositories import ControlStateRepository, HeartbeatRepository
from trader.store.trading import MarketRepository
from trader.venue.base import Venue, VenueError
from trader.wiring import MeteredEventLog, build_venue, venue_heartbeats

if TYPE_CHECKING:
    from bot.telegram import TelegramTransport
    from bot.whatsapp import WhatsAppTransport

log = logging.getLogger(__name__)
SHUTDOWN_BUDGET_S = 25.0
_TRIP_WITHOUT_HALT = frozenset({"http", "console", "systemd"})


def _spill_path(settings: Settings) -> Path:
    """Where unwritable events go at shutdown: beside a SQLite file, else ./data/."""
    url = settings.database_url
    if url.startswith("sqlite") and ":///" in url:
        return Path(url.split(":///", 1)[1]).with_suffix(".eventlog-spill.jsonl")
    return Path("data/eventlog-spill.jsonl")


@dataclass
class ConsoleIO:
    stdin: TextIO | None = None
    stdout: TextIO | None = None


@dataclass
class App:
    settings: Settings
    clock: Clock = field(default_factory=SystemClock)
    console_io: ConsoleIO | None = None

    def __post_init__(self) -> None:
        self.stopping = asyncio.Event()
        self.ready = asyncio.Event()
        self.bus = Bus()
        self.metrics = Metrics()
        self.systemd = SystemdNotifier.from_environment()
        self.supervisor = Supervisor(self.clock, on_trip=self._on_trip)
        self.engine: AsyncEngine | None = None
        self.events: EventLog | None = None
        self.venue: Venue | None = None
        self.execution: ExecutionCore | None = None
        self.signals: SignalRuntime | None = None
        self.scoring: ForecastScoring | None = None
        self.scheduler: JobScheduler | None = None
        self.heartbeat: HeartbeatWriter | None = None
        self.http: HttpServer | None = None
        self.http_client: httpx.AsyncClient | None = None
        self.console: ConsoleChat | None = None
        self.telegram: TelegramTransport | None = None
        self.whatsapp: WhatsAppTransport | None = None

    # --- start ------------------------------------------------------------------------

    async def start(self) -> None:
        settings = self.settings
        render.set_zone(settings.zone)  # times in replies: the operator's zone
        self.engine = create_engine(settings.database_url)
        await ensure_schema_current(self.engine)
        sessions = session_factory(self.engine)
        events = EventLog(sessions, clock=self.clock, spill_path=_spill_path(settings))
        self.events = events
        await events.start()
        self.recorder = MeteredEventLog(self.events, self.metrics)
        self.state = ControlState(
            ControlStateRepository(sessions, clock=self.clock),
            self.clock,
            risk_defaults=risk_limits_from_settings(settings),
        )
        await self.state.load()
        await self._start_trading(sessions)
        self._build_liveness(sessions)
        self._build_scheduler()
        await self._start_chat(ChatMemoryRepository(sessions, self.clock))
        self._start_components()
        self._announce_start()

    async def _start_trading(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        settings, events = self.settings, self.events
        if events is None:
            raise RuntimeError("the event log starts before trading")
        self.venue = build_venue(settings.venue(), clock=self.clock, sessions=sessions)
        await self.venue.start()
        self.execution = build_execution(
            config=execution_config(settings),
            sessions=sessions,
            events=self.recorder,
            bus=self.bus,
            venue=self.venue,
            clock=self.clock,
            state=self.state,
            durable=events.flush,
        )
        await self.execution.start()  # restore, load markets, reconcile: before any order
        execution = self.execution
        self.markets = MarketRepository(sessions, self.clock)
        await self.markets.upsert_many(execution.board.markets())  # reports name them
        board = execution.board

        def title_of(token_id: str) -> str:
            market = board.market_of_token(token_id)
            question = market.question if market else token_id[:12]
            return f"{question} — {board.outcome_of(token_id)}"

        self.trade_alerts = TradeAlerts(self.bus, title_of)

        async def markets() -> list[Market]:
            return list(execution.board.markets())

        async def bankroll() -> Decimal:
            return execution.equity()

        self.http_client = httpx.AsyncClient(timeout=15)
        self.signals = build_signal_runtime(
            signal_runtime_config(settings),
            sessions=sessions,
            clock=self.clock,
            bus=self.bus,
            markets=markets,
            books=self.venue.get_book,
            http=self.http_client,
            bankroll=bankroll,
            events=self.recorder.append,
            holdings=execution.holdings,
            allow_heuristic_live=lambda: self.state.allow_heuristic_live,
            on_usage=self.metrics.record_llm_usage,
        )
        if self.signals.refit is not None:  # the last fitted calibration, before any cycle
            await self.signals.refit.load()
        # forecasts resolve with their market: scored from the resolution facts on the bus
        self.scoring = ForecastScoring(self.bus, self.signals.forecasts, self.clock)
        self.reports = ReportService(sessions, self.clock, settings.zone, marks=execution)

    def _build_liveness(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        settings, execution = self.settings, self._execution
        desk = execution.desk
        self.heartbeat = HeartbeatWriter(
            HeartbeatRepository(sessions, self.clock),
            self.clock,
            HeartbeatProviders(
                trading_state=lambda: execution.trading.state.value,
                last_cycle_at=lambda: self.signals.last_cycle_at if self.signals else None,
                feed_age_s=desk.feed_age,
                open_orders=lambda: desk.portfolio_view().open_orders,
                details=lambda: {"mode": settings.trading_mode.value, "version": __version__},
            ),
            interval_s=settings.heartbeat_interval_s,
        )
        sources = HealthSources(
            started_at=self.clock.now(),
            cycle_interval_s=settings.signal_cycle_s,
            last_cycle_at=lambda: self.signals.last_cycle_at if self.signals else None,
            drawdown_mode=lambda: desk.portfolio_view().drawdown_mode,
            win_rate=execution.win_rate,
            feed_age_s=desk.feed_age,
            stale_feed_s=settings.stale_book_s,
            server_time=self._venue.server_time
            if settings.trading_mode is TradingMode.LIVE
            else None,
            disk_path=_spill_path(settings).parent,
            llm_spend=self._signals.llm_spend_today,
            restarts_total=lambda: self.supervisor.restarts_total,
            tripped=self.supervisor.tripped,
        )
        self.health = HealthMonitor(
            build_checks(sources, self.clock),
            self.clock,
            self.bus.alerts.publish,
            interval_s=settings.health_check_s,
            on_result=self.metrics.set_health,
        )
        self.metrics.set_sources(
            GaugeSources(
                heartbeat_age_s=self.heartbeat.heartbeat_age,
                equity_usd=lambda: desk.portfolio_view().equity,
                drawdown=lambda: desk.portfolio_view().drawdown,
                alert_queue_depth=self.bus.alerts.pending,
                open_orders=lambda: desk.portfolio_view().open_orders,
                supervisor_restarts=lambda: self.supervisor.restarts_total,
            )
        )
        http = settings.http()
        self.http = HttpServer(http.host, http.port, health=self.health, metrics=self.metrics)

    def _build_scheduler(self) -> None:
        execution, signals = self._execution, self._signals

        async def health_check() -> None:
            await self.health.run_checks()

        self.scheduler = JobScheduler.from_settings(
            self.settings,
            {
                **execution.jobs(),
                "market_refresh": self._refresh_markets,
                "signal_cycle": self._signal_cycle,
                "rebalance": self._exposure_check,
                "health_check": health_check,
                "daily_report": self._daily_report,
                **({"forecast_refit": signals.refit.run} if signals.refit else {}),
            },
            clock=self.clock,
            alert=self.bus.alerts.publish,
        )
        self.cycle_hook = JobHook(
            self.scheduler, "signal_cycle", describe=signals.describe_last_cycle
        )

    async def _refresh_markets(self) -> None:
        """The execution job, then the markets written down so reports can name them."""
        board = self._execution.board
        await board.refresh_markets()
        await self.markets.upsert_many(board.markets())
        await self._score_unheld_forecasts()

    async def _score_unheld_forecasts(self) -> None:
        """Forecasts of markets nothing holds resolve too (the execution core settles, and so
        announces, only the markets it holds)."""
        venue, scoring = self._venue, self.scoring
        if scoring is None or not isinstance(venue, PayoutSource):
            return
        execution = self._execution
        try:
            await scoring.check(venue, lambda: {p.market for p in execution.positions()})
        except VenueError as error:  # Gamma down: the next refresh asks again
            log.warning("could not check forecasts' markets for resolutions: %s", error)

    async def _signal_cycle(self) -> None:
        await self._signals.run_cycle()

    async def _exposure_check(self) -> None:
        """Every REBALANCE_S: warn when exposure nears the limit the operator set."""
        view = self._execution.desk.portfolio_view()
        limit = self.state.risk_limits.max_exposure
        if limit > 0 and view.exposure >= limit * Decimal("0.9"):
            self.bus.alerts.publish(
                Alert(
                    "exposure",
                    Severity.WARNING,
                    f"Exposure ${view.exposure:.2f} is {view.exposure / limit:.0%} of the limit",
                    f"max exposure ${limit:.2f}; new entries will be denied at the limit",
                    dedupe_key="exposure:near-limit",
                )
            )

    async def _daily_report(self) -> None:
        report = await self.reports.report()
        self.bus.alerts.publish(
            Alert(
                "daily_report",
                Severity.INFO,
                "Daily report",
                report.text,
                attachment=str(report.image_path),
            )
        )

    async def _start_chat(self, memory: ChatMemory) -> None:
        settings = self.settings
        self.control = ControlAPI(
            state=self.state,
            events=self.recorder,
            event_reader=self.recorder,
            clock=self.clock,
            mode=settings.trading_mode,
            components=self,
            desk=self._execution.desk,
            cycle=self.cycle_hook,
            heartbeat=self.heartbeat,
            spend=self._signals,
            reports=self.reports,
            signals=SignalsAdapter(self._signals),
        )
        self.notifier = Notifier(self.clock, zone=settings.zone, memory=memory)
        self.commands = CommandCore(
            self.control,
            clock=self.clock,
            notifier=self.notifier,
            zone=settings.zone,
            command_max_age=timedelta(seconds=settings.chat_command_max_age_s),
        )
        self.relay = ControlRelay(self.control, self.notifier, self.clock)
        self.relay.subscribe()  # before the first alert is published
        if self.console_io is not None:
            self.console = ConsoleChat(
                self.commands, stdin=self.console_io.stdin, stdout=self.console_io.stdout
            )
            self.notifier.add_channel(ConsoleChannel(self.console))
        telegram = settings.telegram()
        if telegram is not None:  # aiogram is imported only when Telegram is configured
            from bot.telegram import TelegramError, build_telegram

            self.telegram = build_telegram(telegram, self.commands, self.notifier, self.clock)
            try:
                await self.telegram.start()
            except TelegramError:  # the token is a setting: refuse to start, as for a bad one
                raise ConfigError(
                    ["TELEGRAM_BOT_TOKEN: Telegram refused the token (revoked or mistyped)"]
                ) from None
        from bot.whatsapp import WhatsAppConfig, build_whatsapp

        whatsapp = WhatsAppConfig.from_settings(settings)
        if whatsapp is not None and self.http is not None:
            self.whatsapp = build_whatsapp(
                whatsapp, self.commands, self.notifier, self.clock, self.http, memory=memory
            )

    def _start_components(self) -> None:
        supervisor = self.supervisor
        for name, component in self._execution.components().items():
            supervisor.start(name, component)
        if self.settings.trading_mode is TradingMode.LIVE:
            venue, every = self._venue, self.settings.venue_heartbeat_s
            supervisor.start("venue.heartbeat", lambda: venue_heartbeats(venue, self.clock, every))
        supervisor.start("alerts.orders", self.trade_alerts.run_orders)
        supervisor.start("alerts.fills", self.trade_alerts.run_fills)
        if self.scoring is not None:
            supervisor.start("signals.scoring", self.scoring.run)
        supervisor.start("heartbeat", self._heartbeat.run)
        supervisor.start("scheduler", self._scheduler.run)
        supervisor.start("notifier", self.relay.run)
        supervisor.start("notifier.timer", self.notifier.run_timer)
        supervisor.start("http", self._http.serve)
        if self.console is not None:
            supervisor.start("console", self.console.run)
        if self.telegram is not None:
            supervisor.start("telegram", self.telegram.run)
        if self.systemd.watchdog_interval_s is not None:
            supervisor.start("systemd", lambda: self.systemd.keepalive(self.clock))

    def _announce_start(self) -> None:
        settings = self.settings
        trading = self._trading_state()
        self.recorder.append(
            "startup",
            {
                "version": __version__,
                "pid": os.getpid(),
                "mode": settings.trading_mode.value,
                "trading_state": trading,
            },
            actor=str(SYSTEM_ACTOR),
        )
        self.bus.alerts.publish(
            Alert(
                "startup",
                Severity.INFO,
                f"Polyops {__version__} started",
                f"mode {settings.trading_mode.value}, trading {trading}",
            )
        )
        self._alert_unusable_settings()
        self._execution.announce_startup()  # an interrupted flatten, resumed or reported
        self.ready.set()
        self.systemd.ready(f"trading {trading}")
        log.info("ready", extra={"mode": settings.trading_mode.value, "trading": trading})

    def _alert_unusable_settings(self) -> None:
        """A stored limit that failed its rule was replaced by its default at load: say so
        loudly, once per start, naming each one (start-up itself never dies on it)."""
        problems = self.state.limit_problems
        if not problems:
            return
        lines = [f"{p.name}: stored {p.stored!r}, using {p.used} ({p.message})" for p in problems]
        self.recorder.append(
            "settings_fallback",
            {"problems": [{"name": p.name, "stored": p.stored, "used": p.used} for p in problems]},
            actor=str(SYSTEM_ACTOR),
        )
        self.bus.alerts.publish(
            Alert(
                "settings_fallback",
                Severity.CRITICAL,
                f"{len(problems)} stored setting(s) unusable: defaults in force",
                "\n".join([*lines, "check them with /limits and /set"]),
            )
        )

    async def start_whatsapp(self) -> None:
        """Runs once the HTTP server serves (the webhook route is registered before)."""
        if self.whatsapp is None:
            return
        from bot.whatsapp import WhatsAppError

        try:
            await self.whatsapp.start()
        except WhatsAppError as error:
            log.error("WhatsApp is off: %s", error)

    # --- accessors for parts built in start() (fail loudly if used before) -------------

    @property
    def _execution(self) -> ExecutionCore:
        assert self.execution is not None, "execution is built in start()"
        return self.execution

    @property
    def _signals(self) -> SignalRuntime:
        assert self.signals is not None, "signals are built in start()"
        return self.signals

    @property
    def _venue(self) -> Venue:
        assert self.venue is not None, "the venue is built in start()"
        return self.venue

    @property
    def _scheduler(self) -> JobScheduler:
        assert self.scheduler is not None, "the scheduler is built in start()"
        return self.scheduler

    @property
    def _heartbeat(self) -> HeartbeatWriter:
        assert self.heartbeat is not None, "the heartbeat is built in start()"
        return self.heartbeat

    @property
    def _http(self) -> HttpServer:
        assert self.http is not None, "the HTTP server is built in start()"
        return self.http

    def component_states(self) -> dict[str, str]:
        states = {name: status.state.value for name, status in self.supervisor.status.items()}
        if self.telegram is not None:
            states["telegram"] = self.telegram.state
        if self.whatsapp is not None:
            states["whatsapp"] = self.whatsapp.state
        return states

    async def _on_trip(self, name: str, error: BaseException) -> None:
        # A component that moves or watches money tripping halts trading; one that only
        # serves people (the HTTP endpoints, the terminal, systemd) raises the alert alone.
        if self.execution is not None and name not in _TRIP_WITHOUT_HALT:
            await self.execution.halt.on_circuit_breaker(name, error)  # cancel all, halt, alert
            return
        self.bus.alerts.publish(
            Alert(
                "supervisor",
                Severity.CRITICAL,
                f"Component {name} stopped after 3 crashes",
                describe_failure(error),
            )
        )

    # --- run and stop -----------------------------------------------------------------

    async def run(self, *, duration: float | None = None) -> int:
        loop = asyncio.get_running_loop()
        signals = (signal.SIGINT, signal.SIGTERM)
        for sig in signals:
            loop.add_signal_handler(sig, self._on_signal)
        try:
            await self.start()
            await self.start_whatsapp()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), timeout=duration)
        finally:
            try:
                await asyncio.wait_for(self.stop(), timeout=SHUTDOWN_BUDGET_S)
            except TimeoutError:
                log.error("shutdown took longer than %.0fs; exiting", SHUTDOWN_BUDGET_S)
            for sig in signals:
                loop.remove_signal_handler(sig)
        return 0

    def _on_signal(self) -> None:
        if self.stopping.is_set():
            log.warning("second signal: exiting at once")
            os._exit(1)
        log.info("signal received: shutting down")
        self.stopping.set()

    async def stop(self) -> None:
        self.systemd.stopping("shutting down")
        if self.scheduler is not None:  # no new cycles or jobs
            await self.scheduler.stop()
        await self._notify_shutdown()
        if self.whatsapp is not None:
            await self.whatsapp.stop()
        await self._stop_components()
        if self.execution is not None:  # in-flight writes drained, halt watcher closed
            await self.execution.close()
        if self.telegram is not None:
            await self.telegram.stop()
        for closer in (self.signals, self.venue):
            if closer is not None:
                with contextlib.suppress(Exception):
                    await closer.close()
        if self.http_client is not None:
            await self.http_client.aclose()
        await self._record_shutdown()

    async def _stop_components(self) -> None:
        """Cancel the supervised components, but never in the middle of a decision: the
        engine's lock is taken first, so an order being submitted finishes (or times out into
        an unknown outcome the next start resolves) and nothing new starts after it."""
        if self.execution is None:
            await self.supervisor.stop()
            return
        async with self.execution.quiesced(timeout_s=10) as quiet:
            if not quiet:
                log.error("an order decision did not finish within 10 s; stopping anyway")
            await self.supervisor.stop()

    def _trading_state(self) -> str | None:
        return self.execution.trading.state.value if self.execution is not None else None

    async def _notify_shutdown(self) -> None:
        if not self.ready.is_set():
            return
        alert = Alert(
            "shutdown",
            Severity.INFO,
            "Polyops stopping",
            f"trading state {self._trading_state()}",
        )
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.notifier.notify(alert), timeout=5)

    async def _record_shutdown(self) -> None:
        if self.heartbeat is not None:
            with contextlib.suppress(Exception):
                await self.heartbeat.write_final("shutdown")
        if self.events is not None:
            open_orders = (
                self.execution.desk.portfolio_view().open_orders if self.execution else None
            )
            self.events.append(
                "shutdown",
                {
                    "pid": os.getpid(),
                    "trading_state": self._trading_state(),
                    "open_orders": open_orders,
                },
                actor=str(SYSTEM_ACTOR),
            )
            await self.events.close()
        if self.engine is not None:
            await self.engine.dispose()
        if self.console is not None:
            self.console.write("Polyops stopped.")

"""The composition root: composes the assemblies, supervises, starts and stops them in order.

Nothing connects or reads settings at import time. The parts are built by five assemblies in
this package, each owning what it builds:

- `records`  (RecordsAssembly): database (refusing a schema that is behind), event log,
  persisted control state;
- `trading`  (TradingAssembly): the venue (paper or live, chosen once), the execution core
  (which reconciles with the venue before any order), signals, scoring, trade alerts, reports;
- `liveness` (LivenessAssembly): heartbeat, health checks, `/metrics` gauges, HTTP server;
- `jobs`     (JobsAssembly): the scheduler's one job table and the signal cycle's hook;
- `chat`     (ChatAssembly): the Control API, notifier, command core, relay and transports.

`App.start()` builds and starts them in that order, then the supervised components, then
announces the start. `App.stop()` stops scheduling first (a cycle in progress is cancelled and
recorded as such), lets an order decision in flight finish, records the state and flushes the
event log last, within `SHUTDOWN_BUDGET_S`; a second signal exits at once. Assemblies never
import each other (an import contract): what one needs of another is handed over here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.console import ConsoleChat
from trader import __version__
from trader.bus import Bus
from trader.clock import Clock, SystemClock
from trader.config import Settings
from trader.control.api import ControlAPI
from trader.domain import SYSTEM_ACTOR, Alert, Severity
from trader.execution.core import ExecutionCore
from trader.ops.collector import resume_collector
from trader.ops.failures import describe_failure
from trader.ops.metrics import Metrics
from trader.ops.sdnotify import SystemdNotifier
from trader.ops.supervisor import Supervisor
from trader.scheduler import JobHook, JobScheduler
from trader.signals.runtime import SignalRuntime
from trader.signals.views import SignalsAdapter
from trader.state import ControlState, fallback_alert, fallback_payload
from trader.store.eventlog import EventLog

from .chat import ChatAssembly, ConsoleIO
from .jobs import JobsAssembly
from .lazy import WhyOnFirstUse
from .liveness import LivenessAssembly
from .records import RecordsAssembly
from .trading import TradingAssembly

__all__ = ["SHUTDOWN_BUDGET_S", "App", "ConsoleIO"]
log = logging.getLogger(__name__)
SHUTDOWN_BUDGET_S = 25.0
# the event log's last flush after a shutdown that ran out of time or failed: with the budget,
# 30 s, inside systemd's TimeoutStopSec (35 s, deploy/systemd/polyops-app.service)
RECORDS_CLOSE_S = 5.0
# components that only serve people: their tripping raises the alert without halting trading
_TRIP_WITHOUT_HALT = frozenset({"http", "console", "systemd"})


class App:
    def __init__(
        self,
        settings: Settings,
        clock: Clock | None = None,
        console_io: ConsoleIO | None = None,
    ) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.console_io = console_io
        self.stopping = asyncio.Event()
        self.ready = asyncio.Event()
        self.bus = Bus()
        self.metrics = Metrics()
        self.systemd = SystemdNotifier.from_environment()
        self.supervisor = Supervisor(self.clock, on_trip=self._on_trip)
        self.records = RecordsAssembly(settings, clock=self.clock, metrics=self.metrics)
        # built in start(), in this order, each once the one before it has started
        self.trading: TradingAssembly | None = None
        self.liveness: LivenessAssembly | None = None
        self.jobs: JobsAssembly | None = None
        self.chat: ChatAssembly | None = None

    # --- start ------------------------------------------------------------------------

    async def start(self) -> None:
        settings, clock, bus, records = self.settings, self.clock, self.bus, self.records
        await records.start()  # schema checked, event log writing, control state loaded
        trading = self.trading = TradingAssembly(
            settings,
            clock=clock,
            bus=bus,
            sessions=records.sessions,
            events=records.events,
            recorder=records.recorder,
            state=records.state,
            on_usage=self.metrics.record_llm_usage,
        )
        await trading.start()
        if trading.recorder is not None:  # /metrics: what it dropped, what waits, what failed
            kept = trading.recorder
            self.metrics.set_recorder(
                lambda: sum(kept.dropped.values()), kept.pending, lambda: kept.write_errors
            )
        execution, signals = trading.execution, trading.signals
        liveness = self.liveness = LivenessAssembly(
            settings,
            clock=clock,
            bus=bus,
            sessions=records.sessions,
            metrics=self.metrics,
            supervisor=self.supervisor,
            execution=execution,
            signals=signals,
            venue=trading.venue,
            disk_path=records.spill_path.parent,
        )
        jobs = self.jobs = JobsAssembly(
            settings,
            clock=clock,
            bus=bus,
            state=records.state,
            desk=execution.desk,
            reports=trading.reports,
            owned={
                **execution.jobs(),
                "market_refresh": trading.refresh_markets,
                "signal_cycle": trading.signal_cycle,
                "health_check": liveness.health_check,
                **({"forecast_refit": signals.refit.job} if signals.refit else {}),
            },
            describe_cycle=signals.describe_last_cycle,
        )
        chat = self.chat = ChatAssembly(
            settings,
            clock=clock,
            sessions=records.sessions,
            state=records.state,
            events=records.recorder,
            event_reader=records.recorder,
            desk=execution.desk,
            cycle=jobs.cycle_hook,
            heartbeat=liveness.heartbeat,
            spend=signals,
            reports=trading.reports,
            signals=SignalsAdapter(signals),
            supervisor=self.supervisor,
            http=liveness.http,
            console_io=self.console_io,
            why=WhyOnFirstUse(records.sessions, records.events),  # /why: the log and tables
        )
        await chat.start()
        self._start_components(trading, liveness, jobs, chat)
        self._announce_start(execution)
        # start-up's objects frozen out of every later full collection (bench/hot_path.py), then
        # the collector on: `trader run` starts with it off (trader.ops.collector)
        resume_collector()

    def _start_components(
        self,
        trading: TradingAssembly,
        liveness: LivenessAssembly,
        jobs: JobsAssembly,
        chat: ChatAssembly,
    ) -> None:
        components = {
            **trading.components(),
            "heartbeat": liveness.heartbeat.run,
            "scheduler": jobs.scheduler.run,
            **chat.notifier_components(),
            "http": liveness.http.serve,
            **chat.transport_components(),
        }
        for name, component in components.items():
            self.supervisor.start(name, component)
        if self.systemd.watchdog_interval_s is not None:
            self.supervisor.start("systemd", lambda: self.systemd.keepalive(self.clock))

    def _announce_start(self, execution: ExecutionCore) -> None:
        mode = self.settings.trading_mode.value
        trading = execution.trading.state.value
        startup = {"version": __version__, "pid": os.getpid(), "mode": mode}
        recorder = self.records.recorder
        recorder.append("startup", {**startup, "trading_state": trading}, actor=str(SYSTEM_ACTOR))
        self.bus.alerts.publish(
            Alert(
                "startup",
                Severity.INFO,
                f"Polyops {__version__} started",
                f"mode {mode}, trading {trading}",
            )
        )
        problems = self.records.state.limit_problems
        fallback = fallback_alert(problems)  # a stored limit replaced by its default at load
        if fallback is not None:
            recorder.append(
                "settings_fallback", fallback_payload(problems), actor=str(SYSTEM_ACTOR)
            )
            self.bus.alerts.publish(fallback)
        execution.announce_startup()  # an interrupted flatten, resumed or reported
        self.ready.set()
        self.systemd.ready(f"trading {trading}")
        log.info("ready", extra={"mode": mode, "trading": trading})

    async def start_whatsapp(self) -> None:
        """Runs once the HTTP server serves (the webhook route is registered before)."""
        if self.chat is not None:
            await self.chat.start_whatsapp()

    # --- the parts, as the CLI, the demo and the tests reach them ------------------------

    @property
    def engine(self) -> AsyncEngine:
        return self.records.engine

    @property
    def events(self) -> EventLog:
        return self.records.events

    @property
    def state(self) -> ControlState:
        return self.records.state

    @property
    def execution(self) -> ExecutionCore | None:
        return self.trading.execution if self.trading is not None else None

    @property
    def signals(self) -> SignalRuntime | None:
        return self.trading.signals if self.trading is not None else None

    @property
    def scheduler(self) -> JobScheduler | None:
        return self.jobs.scheduler if self.jobs is not None else None

    @property
    def console(self) -> ConsoleChat | None:
        return self.chat.console if self.chat is not None else None

    @property
    def cycle_hook(self) -> JobHook:
        if self.jobs is None:
            raise RuntimeError("the jobs are built in start()")
        return self.jobs.cycle_hook

    @property
    def control(self) -> ControlAPI:
        if self.chat is None:
            raise RuntimeError("the Control API is built in start()")
        return self.chat.control

    def component_states(self) -> dict[str, str]:
        if self.chat is not None:
            return self.chat.component_states()
        return {name: status.state.value for name, status in self.supervisor.status.items()}

    async def _on_trip(self, name: str, error: BaseException) -> None:
        # A component that moves or watches money tripping halts trading; one that only
        # serves people (the HTTP endpoints, the terminal, systemd) raises the alert alone.
        if self.trading is not None and name not in _TRIP_WITHOUT_HALT:
            await self.trading.execution.halt.on_circuit_breaker(name, error)  # cancel, halt
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
            await self.shutdown()
            for sig in signals:
                loop.remove_signal_handler(sig)
        return 0

    async def shutdown(self, budget: float = SHUTDOWN_BUDGET_S) -> None:
        """`stop()` within `budget` seconds. A step that outlasts it (a chat transport stuck
        on an outage, a venue that does not answer) is abandoned, and so is the rest of a
        stop that raised, but the event log's last flush still runs (for `RECORDS_CLOSE_S` at
        most): what the trader did is on disk, or in the spill file, before the process exits.
        A database write that hangs is not bounded here: the event log sees a batch in flight
        through to the end (never written twice), so systemd's stop timeout ends that case."""
        try:
            await asyncio.wait_for(self.stop(), timeout=budget)
            return
        except TimeoutError:
            log.error("shutdown took longer than %.0fs; closing the records and exiting", budget)
        except Exception:  # a step that failed: the records are closed all the same
            log.exception("shutdown failed; closing the records and exiting")
        try:
            await asyncio.wait_for(self.records.close(self._shutdown_payload()), RECORDS_CLOSE_S)
        except Exception:
            log.exception("the event log could not be closed")

    def _on_signal(self) -> None:
        if self.stopping.is_set():
            log.warning("second signal: exiting at once")
            os._exit(1)
        log.info("signal received: shutting down")
        self.stopping.set()

    async def stop(self) -> None:
        """Each step runs for the assemblies that were built (a start may have failed)."""
        trading, liveness, jobs, chat = self.trading, self.liveness, self.jobs, self.chat
        self.systemd.stopping("shutting down")
        if jobs is not None:  # no new cycles or jobs
            await jobs.scheduler.stop()
        if chat is not None:
            if self.ready.is_set():
                await chat.notify_shutdown(
                    Alert("shutdown", Severity.INFO, "Polyops stopping", self._state_line())
                )
            await chat.stop_whatsapp()
        await self._stop_components()
        if trading is not None:
            await trading.close_execution()
        if chat is not None:
            await chat.stop_telegram()
        if trading is not None:
            await trading.close_clients()
        if liveness is not None:
            with contextlib.suppress(Exception):
                await liveness.write_final()
        await self.records.close(self._shutdown_payload())
        if chat is not None:
            chat.say_stopped()

    async def _stop_components(self) -> None:
        """Cancel the supervised components, but never in the middle of a decision: the
        engine's lock is taken first, so an order being submitted finishes (or times out into
        an unknown outcome the next start resolves) and nothing new starts after it."""
        if self.trading is None:
            await self.supervisor.stop()
            return
        async with self.trading.execution.quiesced(timeout_s=10) as quiet:
            if not quiet:
                log.error("an order decision did not finish within 10 s; stopping anyway")
            await self.supervisor.stop()

    def _shutdown_payload(self) -> dict[str, Any]:
        trading = self.trading
        return {
            "pid": os.getpid(),
            "trading_state": self._trading_state(),
            "open_orders": trading.execution.desk.portfolio_view().open_orders
            if trading is not None
            else None,
        }

    def _trading_state(self) -> str | None:
        return self.trading.execution.trading.state.value if self.trading is not None else None

    def _state_line(self) -> str:
        return f"trading state {self._trading_state()}"

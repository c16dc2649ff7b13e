"""The composition root: builds every part, injects dependencies, supervises, shuts down.

Nothing connects or reads settings at import time; `App.start()` does it all in order:
database (refusing a schema that is behind), event log, persisted control state, bus,
supervisor, Control API, chat transports. `App.stop()` reverses it and flushes the event
log last, so the shutdown itself is recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from sqlalchemy.ext.asyncio import AsyncEngine

from bot import render
from bot.commands import CommandCore
from bot.console import ConsoleChat
from trader import __version__
from trader.bus import Bus, Subscription
from trader.clock import Clock, SystemClock
from trader.config import Settings
from trader.control import ControlAPI
from trader.domain import SYSTEM_ACTOR, Alert, Severity
from trader.state import ControlState
from trader.store.db import create_engine, session_factory
from trader.store.eventlog import EventLog
from trader.store.migrate import ensure_schema_current
from trader.store.repositories import ControlStateRepository
from trader.supervisor import Supervisor

log = logging.getLogger(__name__)


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
        self.engine: AsyncEngine | None = None
        self.events: EventLog | None = None
        self.console: ConsoleChat | None = None
        self.supervisor = Supervisor(self.clock, on_trip=self._on_trip)

    # --- start ------------------------------------------------------------------------

    async def start(self) -> None:
        settings = self.settings
        render.set_zone(settings.zone)
        self.engine = create_engine(settings.database_url)
        await ensure_schema_current(self.engine)
        sessions = session_factory(self.engine)
        self.events = EventLog(sessions, clock=self.clock, spill_path=_spill_path(settings))
        await self.events.start()
        self.state = ControlState(ControlStateRepository(sessions, clock=self.clock), self.clock)
        await self.state.load()
        self.control = ControlAPI(
            state=self.state,
            events=self.events,
            event_reader=self.events,
            clock=self.clock,
            mode=settings.trading_mode,
            components=self,
        )
        self.commands = CommandCore(self.control)
        if self.console_io is not None:
            self.console = ConsoleChat(
                self.commands, stdin=self.console_io.stdin, stdout=self.console_io.stdout
            )
            self.supervisor.start("console", self.console.run)
        alerts = self.bus.alerts.subscribe()  # before the first publish, so nothing is missed
        self.supervisor.start("alerts", lambda: self._print_alerts(alerts))
        self.events.append(
            "startup",
            {
                "version": __version__,
                "pid": os.getpid(),
                "mode": settings.trading_mode.value,
                "trading_state": self.state.trading.state.value,
            },
            actor=str(SYSTEM_ACTOR),
        )
        self.bus.alerts.publish(
            Alert(
                "startup",
                Severity.INFO,
                f"Polyops {__version__} started",
                f"mode {settings.trading_mode.value}, trading {self.state.trading.state.value}",
            )
        )
        self.ready.set()
        log.info("ready", extra={"mode": settings.trading_mode.value})

    def component_states(self) -> dict[str, str]:
        return {name: status.state.value for name, status in self.supervisor.status.items()}

    async def _print_alerts(self, subscription: Subscription[Alert]) -> None:
        """Until the notifier exists, alerts reach the terminal chat (if any) and the log."""
        try:
            async for envelope in subscription:
                alert = envelope.payload
                log.log(
                    logging.CRITICAL if alert.severity is Severity.CRITICAL else logging.INFO,
                    "alert %s: %s",
                    alert.kind,
                    alert.title,
                )
                if self.console is not None:
                    self.console.write(
                        f"[{alert.severity.value}] {alert.title}"
                        + (f" - {alert.body}" if alert.body else "")
                    )
        finally:
            subscription.close()

    async def _on_trip(self, name: str, error: BaseException) -> None:
        self.bus.alerts.publish(
            Alert(
                "supervisor",
                Severity.CRITICAL,
                f"Component {name} stopped after 3 crashes",
                f"{type(error).__name__}: {error}",
            )
        )
        if self.events is not None:
            self.events.append(
                "circuit_breaker", {"component": name, "error": str(error)}, actor=str(SYSTEM_ACTOR)
            )

    # --- run and stop -----------------------------------------------------------------

    async def run(self, *, duration: float | None = None) -> int:
        loop = asyncio.get_running_loop()
        signals = (signal.SIGINT, signal.SIGTERM)
        for sig in signals:
            loop.add_signal_handler(sig, self._on_signal)
        try:
            await self.start()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), timeout=duration)
        finally:
            await self.stop()
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
        await self.supervisor.stop()
        if self.events is not None:
            self.events.append("shutdown", {"pid": os.getpid()}, actor=str(SYSTEM_ACTOR))
            await self.events.close()
        if self.engine is not None:
            await self.engine.dispose()
        if self.console is not None:
            self.console.write("Polyops stopped.")

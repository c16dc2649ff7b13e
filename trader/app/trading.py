"""The trading assembly: the venue, the execution core, the signal runtime, forecast scoring,
the trade alerts and the reports.

Constructing it builds every part but two (nothing connects; the control state must be
loaded, as `build_execution` reads the stored trading state). `start()` starts the venue, then
the execution core (restore, load markets, reconcile: before any order), writes the board's
markets down so reports can name them, and only then builds the trade alerts and forecast
scoring: both subscribe to the bus when built, so (as before the assemblies) they hear only
what happens after the core's start (a fill of an order sent before a crash, replayed by the
start-up reconciliation, raises no trade alert).
`close_execution()` drains the write-behind queue and `close_clients()` closes the signal
runtime, the venue and the HTTP client, in that order.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import TYPE_CHECKING

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from trader.bus import Bus
from trader.clock import Clock
from trader.config import ConfigError, Settings
from trader.domain import Market, TradingMode
from trader.execution.runtime import build_execution, execution_config
from trader.execution.trade_alerts import TradeAlerts
from trader.signals.pipeline import BookGetter
from trader.signals.records import UsageRecord
from trader.signals.runtime import build_signal_runtime, signal_runtime_config
from trader.signals.scoring import ForecastScoring, PayoutSource
from trader.state import ControlState
from trader.store.eventlog import EventLog
from trader.store.trading import MarketRepository
from trader.venue.base import VenueError, WalletNotReady
from trader.wiring import MeteredEventLog, build_venue, venue_heartbeats

from .lazy import ReportsOnFirstUse

if TYPE_CHECKING:
    from trader.recording.recorder import Recorder

log = logging.getLogger(__name__)
Component = Callable[[], Awaitable[None]]


class TradingAssembly:
    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock,
        bus: Bus,
        sessions: async_sessionmaker[AsyncSession],
        events: EventLog,
        recorder: MeteredEventLog,
        state: ControlState,
        on_usage: Callable[[UsageRecord], object] | None = None,
    ) -> None:
        self._settings, self._clock = settings, clock
        self.http_client = httpx.AsyncClient(timeout=15)  # one client (one TLS context) for all
        self.venue = build_venue(
            settings.venue(), clock=clock, sessions=sessions, http=self.http_client
        )
        self.execution = build_execution(
            config=execution_config(settings),
            sessions=sessions,
            events=recorder,
            bus=bus,
            venue=self.venue,
            clock=clock,
            state=state,
            durable=events.flush,
        )
        self._bus = bus
        self.markets = MarketRepository(sessions, clock)
        # RECORDER_ENABLED: what the app sees, as Parquet for backtests (pyarrow loads on the
        # first write, on the recorder's thread; trader.recording is imported only when it is on)
        self.recorder: Recorder | None = None
        if settings.recorder_enabled:
            from trader.recording.recorder import build_recorder

            self.recorder = build_recorder(settings, clock)
        books: BookGetter = self.venue.get_book
        if self.recorder is not None:  # every book the signal cycle reads is recorded
            books = self.recorder.books_of(books)
        self.signals = build_signal_runtime(
            signal_runtime_config(settings),
            sessions=sessions,
            clock=clock,
            bus=bus,
            markets=self._markets,
            books=books,
            http=self.http_client,
            bankroll=self._bankroll,
            events=recorder,
            holdings=self.execution.holdings,
            positions=self.execution.positions,  # each cycle ends with their exits
            resting=self.execution.working_orders,  # exits never sell into our own bids
            allow_heuristic_live=lambda: state.allow_heuristic_live,
            stages=lambda: state.stages,
            on_usage=on_usage,  # each LLM call's tokens and cost into /metrics
            tap=self.recorder,
        )
        # each report made in a child process, started on first use (trader.reports imported then)
        self.reports = ReportsOnFirstUse(
            sessions, clock, settings.zone, marks=self.execution, database_url=settings.database_url
        )
        self.trade_alerts: TradeAlerts | None = None  # built by start(), after the core's
        self.scoring: ForecastScoring | None = None  # likewise
        self._recording: dict[str, Component] = {}  # the recorder's readers, after start()

    async def _markets(self) -> list[Market]:
        return list(self.execution.board.markets())

    async def _bankroll(self) -> Decimal:
        return self.execution.equity()

    async def start(self) -> None:
        try:
            await self.venue.start()
        except WalletNotReady as error:  # a setting or `trader setup`: refuse as for a bad one
            raise ConfigError([f"{error.setting}: {error}"]) from None
        if self.signals.refit is not None:  # the last fitted calibration, before any cycle
            await self.signals.refit.load()
        await self.execution.start()  # restore, load markets, reconcile: before any order
        await self.markets.upsert_many(self.execution.board.markets())  # reports name them
        if self.recorder is not None:
            from trader.recording.recorder import bus_components

            self.recorder.markets(self.execution.board.markets())
            self._recording = bus_components(self.recorder, self._bus)  # subscribed now
        self.trade_alerts = TradeAlerts(self._bus, self.execution.board.title_of)
        # forecasts resolve with their market: scored from the resolution facts on the bus
        self.scoring = ForecastScoring(self._bus, self.signals.forecasts, self._clock)

    def components(self) -> dict[str, Component]:
        """What runs continuously, in the order the supervisor starts it (after `start()`)."""
        if self.trade_alerts is None or self.scoring is None:
            raise RuntimeError("the trading assembly's components run after its start()")
        components = dict(self.execution.components())
        if self._settings.trading_mode is TradingMode.LIVE:
            venue, clock, every = self.venue, self._clock, self._settings.venue_heartbeat_s
            components["venue.heartbeat"] = lambda: venue_heartbeats(venue, clock, every)
        components["alerts.orders"] = self.trade_alerts.run_orders
        components["alerts.fills"] = self.trade_alerts.run_fills
        components["signals.scoring"] = self.scoring.run
        components.update(self._recording)
        return components

    # --- jobs ---------------------------------------------------------------------------

    async def refresh_markets(self) -> None:
        """The execution job, then the markets written down so reports can name them."""
        board = self.execution.board
        await board.refresh_markets()
        await self.markets.upsert_many(board.markets())
        if self.recorder is not None:
            self.recorder.markets(board.markets())
        await self._score_unheld_forecasts()

    async def _score_unheld_forecasts(self) -> None:
        """Forecasts of markets nothing holds resolve too (the execution core settles, and so
        announces, only the markets it holds)."""
        scoring = self.scoring
        if scoring is None or not isinstance(self.venue, PayoutSource):
            return
        execution = self.execution
        try:
            await scoring.check(self.venue, lambda: {p.market for p in execution.positions()})
        except VenueError as error:  # Gamma down: the next refresh asks again
            log.warning("could not check forecasts' markets for resolutions: %s", error)

    async def signal_cycle(self) -> None:
        await self.signals.run_cycle()

    # --- stop ---------------------------------------------------------------------------

    async def close_execution(self) -> None:
        await self.execution.close()  # in-flight writes drained, halt watcher closed

    async def close_clients(self) -> None:
        if self.recorder is not None:  # what is still buffered goes to disk
            with contextlib.suppress(Exception):
                await self.recorder.flush()
        for closer in (self.signals, self.venue, self.reports):
            with contextlib.suppress(Exception):
                await closer.close()
        await self.http_client.aclose()

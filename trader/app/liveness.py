"""The liveness assembly: the heartbeat row (read by the watchdog), the health checks, the
scrape-time gauges of `/metrics` and the HTTP server that serves `/health`, `/metrics` and the
webhooks (WhatsApp registers its route on it).

Constructing it builds and wires every part; the heartbeat loop and the HTTP server run as
supervised components (`heartbeat_loop`, `serve`), and `write_final` marks the heartbeat
stopped at shutdown.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from trader import __version__
from trader.bus import Bus
from trader.clock import Clock
from trader.config import Settings
from trader.domain import TradingMode
from trader.execution.core import ExecutionCore
from trader.ops.health import (
    HealthMonitor,
    HealthSources,
    HeartbeatProviders,
    HeartbeatWriter,
    build_checks,
)
from trader.ops.httpserver import HttpServer
from trader.ops.metrics import GaugeSources, Metrics
from trader.ops.supervisor import Supervisor
from trader.signals.runtime import SignalRuntime
from trader.store.repositories import HeartbeatRepository
from trader.venue.base import Venue


class LivenessAssembly:
    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock,
        bus: Bus,
        sessions: async_sessionmaker[AsyncSession],
        metrics: Metrics,
        supervisor: Supervisor,
        execution: ExecutionCore,
        signals: SignalRuntime,
        venue: Venue,
        disk_path: Path,
    ) -> None:
        desk = execution.desk
        self.heartbeat = HeartbeatWriter(
            HeartbeatRepository(sessions, clock),
            clock,
            HeartbeatProviders(
                trading_state=lambda: execution.trading.state.value,
                last_cycle_at=lambda: signals.last_cycle_at,
                feed_age_s=desk.feed_age,
                open_orders=lambda: desk.portfolio_view().open_orders,
                details=lambda: {"mode": settings.trading_mode.value, "version": __version__},
            ),
            interval_s=settings.heartbeat_interval_s,
        )
        sources = HealthSources(
            started_at=clock.now(),
            cycle_interval_s=settings.signal_cycle_s,
            last_cycle_at=lambda: signals.last_cycle_at,
            drawdown_mode=lambda: desk.portfolio_view().drawdown_mode,
            win_rate=execution.win_rate,
            feed_age_s=desk.feed_age,
            stale_feed_s=settings.stale_book_s,
            server_time=venue.server_time if settings.trading_mode is TradingMode.LIVE else None,
            disk_path=disk_path,
            llm_spend=signals.llm_spend_today,
            restarts_total=lambda: supervisor.restarts_total,
            tripped=supervisor.tripped,
        )
        self.health = HealthMonitor(
            build_checks(sources, clock),
            clock,
            bus.alerts.publish,
            interval_s=settings.health_check_s,
            on_result=metrics.set_health,
        )
        metrics.set_sources(
            GaugeSources(
                heartbeat_age_s=self.heartbeat.heartbeat_age,
                equity_usd=lambda: desk.portfolio_view().equity,
                drawdown=lambda: desk.portfolio_view().drawdown,
                alert_queue_depth=bus.alerts.pending,
                open_orders=lambda: desk.portfolio_view().open_orders,
                supervisor_restarts=lambda: supervisor.restarts_total,
            )
        )
        http = settings.http()
        self.http = HttpServer(http.host, http.port, health=self.health, metrics=metrics)

    async def health_check(self) -> None:
        """The scheduler's `health_check` job: one run of every check."""
        await self.health.run_checks()

    async def write_final(self) -> None:
        await self.heartbeat.write_final("shutdown")

"""The jobs assembly: the one job table the scheduler runs, and the signal cycle's hook for
`/cycle` and `/status`.

The jobs are the execution core's own (reconciliation, equity snapshot), the market refresh
(with forecasts scored), the signal cycle, the exposure check (`rebalance`, worded by
`trader.execution.exposure`), the health checks and the daily report (`DailyReport`). Each
is the owner's operation; this module only names and schedules them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

from trader.bus import Bus
from trader.clock import Clock
from trader.config import Settings
from trader.control.types import TradingDesk
from trader.domain import Alert
from trader.execution.exposure import exposure_warning
from trader.scheduler import JobHook, JobScheduler
from trader.state import ControlState

Job = Callable[[], Awaitable[None]]


class DailyReport(Protocol):
    """`trader.reports.ReportService` fits (the app hands over `lazy.ReportsOnFirstUse`)."""

    async def daily_alert(self) -> Alert: ...


class JobsAssembly:
    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock,
        bus: Bus,
        state: ControlState,
        desk: TradingDesk,
        reports: DailyReport,
        owned: Mapping[str, Job],
        describe_cycle: Callable[[], str],
    ) -> None:
        """`owned`: the jobs other assemblies own (the execution core's, `market_refresh`,
        `signal_cycle`, `health_check`), scheduled beside the two defined here."""
        self._bus, self._state, self._desk, self._reports = bus, state, desk, reports
        self.scheduler = JobScheduler.from_settings(
            settings,
            {**owned, "rebalance": self.exposure_check, "daily_report": self.daily_report},
            clock=clock,
            alert=bus.alerts.publish,
        )
        self.cycle_hook = JobHook(self.scheduler, "signal_cycle", describe=describe_cycle)

    async def exposure_check(self) -> None:
        """Every REBALANCE_S: warn when exposure nears the limit the operator set."""
        exposure = self._desk.portfolio_view().exposure
        alert = exposure_warning(exposure, self._state.risk_limits.max_exposure)
        if alert is not None:
            self._bus.alerts.publish(alert)

    async def daily_report(self) -> None:
        self._bus.alerts.publish(await self._reports.daily_alert())

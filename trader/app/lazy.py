"""Parts of the app that most runs use late or never, built on first use (issue 21): `/why`,
`/backtest` and the reports. The start-up imports neither `trader.explain` (the chain's
rebuilding, its record types) nor `trader.backtest.job` (multiprocessing and the job's files)
nor `trader.reports` (its queries, figures and worker); the first command (or the first daily
report) that needs one imports it and builds it, and later ones reuse it. Each is its seam's
implementation (`WhySource`, `BacktestRunner`, `ReportSource`), so its users do not know the
difference."""

from __future__ import annotations

import threading
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from trader.clock import Clock
from trader.config import Settings
from trader.control.types import BacktestStatus
from trader.control.why import DecisionChain, DenialFacts
from trader.domain import Alert

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from trader.backtest.job import BacktestJobs
    from trader.explain.service import EventSource, WhyService
    from trader.reports import MarkSource, Report, ReportService
    from trader.reports.worker import DrawnReport


class WhyOnFirstUse:
    """`trader.explain.WhyService` over the event log and the tables, built at the first /why."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], events: EventSource) -> None:
        self._sessions = sessions
        self._events = events
        self._service: WhyService | None = None

    def _built(self) -> WhyService:
        if self._service is None:
            from trader.explain import WhyService

            self._service = WhyService(self._sessions, self._events)
        return self._service

    async def explain(self, ref: str | None) -> DecisionChain:
        return await self._built().explain(ref)

    async def denials(self, limit: int) -> list[DenialFacts]:
        return await self._built().denials(limit)


class BacktestsOnFirstUse:
    """`trader.backtest.job.BacktestJobs`, built at the first /backtest: one run at a time, in
    a child process."""

    def __init__(self, settings: Settings, clock: Clock, out: Path) -> None:
        self._settings = settings
        self._clock = clock
        self._out = out
        self._jobs: BacktestJobs | None = None
        self._building = threading.Lock()  # `start` is called on a thread

    def _built(self) -> BacktestJobs:
        with self._building:
            if self._jobs is None:
                from trader.backtest.job import BacktestJobs

                self._jobs = BacktestJobs(self._settings, self._clock, self._out)
            return self._jobs

    def start(self, strategy: str, days: int) -> BacktestStatus:
        return self._built().start(strategy, days)

    def status(self, job_id: str) -> BacktestStatus:
        return self._built().status(job_id)

    def close(self) -> None:
        """Stop a run still going (the app is stopping); nothing when none was ever started."""
        if self._jobs is not None:
            self._jobs.close()


class ReportsOnFirstUse:
    """`trader.reports.ReportService` with a `ReportWorker` (each report made in a child
    process), built at the first /report, chart or daily report."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        zone: ZoneInfo,
        *,
        marks: MarkSource,
        database_url: str,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._zone = zone
        self._marks = marks
        self._database_url = database_url
        self._service: ReportService | None = None

    def _built(self) -> ReportService:
        if self._service is None:
            from trader.reports import ReportService, ReportWorker

            self._service = ReportService(
                self._sessions,
                self._clock,
                self._zone,
                marks=self._marks,
                worker=ReportWorker(self._database_url),
            )
        return self._service

    async def report(
        self, day: date | None = None, *, window_days: int = 30
    ) -> Report | DrawnReport:
        return await self._built().report(day, window_days=window_days)

    async def chart(self, kind: str, window_days: int = 30, day: date | None = None) -> Path:
        return await self._built().chart(kind, window_days, day)

    async def daily_alert(self) -> Alert:
        return await self._built().daily_alert()

    async def close(self) -> None:
        """Stop the worker's process, if one was started."""
        if self._service is not None:
            await self._service.close()

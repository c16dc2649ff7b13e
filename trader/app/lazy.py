"""Parts of the app that most runs never use, built on first use (issue 21): `/why` and
`/backtest`. The start-up imports neither `trader.explain` (the chain's rebuilding, its record
types) nor `trader.backtest.job` (multiprocessing and the job's files); the first command that
needs one imports it and builds it, and later ones reuse it. Each is its seam's implementation
(`WhySource`, `BacktestRunner`), so the Control API does not know the difference."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from trader.clock import Clock
from trader.config import Settings
from trader.control.types import BacktestStatus
from trader.control.why import DecisionChain, DenialFacts

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from trader.backtest.job import BacktestJobs
    from trader.explain.service import EventSource, WhyService


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

    def _built(self) -> BacktestJobs:
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

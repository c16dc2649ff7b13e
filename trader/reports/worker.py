"""The report drawn in another process, so the app's event loop never waits for it.

Reading a year of history and drawing it with matplotlib is CPU work that holds the GIL for
tens of milliseconds at a time (SQLAlchemy converting rows, Agg rasterising, full garbage
collections over the plotting objects): in a worker thread that stalls the event loop, so a
chat reply or an order decision waits. `ReportWorker` runs the whole report (its queries on
the worker's own database connection, then the drawing) in a child process and hands back
only the text and the PNG's path: the app process neither imports matplotlib nor holds a
year of rows.

The child is one `ProcessPoolExecutor` worker with the `spawn` start method (a clean
interpreter: forking a process that runs an event loop, threads and open connections is
unsafe), started on the first report, not before, and kept for the next one (a spawn and the
matplotlib import cost a second or two; the worker then holds its memory, in its own
process, at a lower CPU priority so that on a busy machine the trader runs first). Live marks
cannot cross the process boundary, so the parent reads which tokens are held and sends a
snapshot of their marks with the job.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from trader.children import die_with_parent
from trader.reports.collect import MarkSource
from trader.store.tables import PositionRow

CHILD_NICENESS = 10  # added to the child's nice value: drawing yields the CPU to trading


@dataclass(frozen=True, slots=True)
class FrozenMarks:
    """A `MarkSource` from a snapshot: token -> (mark price, exit value)."""

    marks: Mapping[str, tuple[Decimal | None, Decimal | None]]

    def mark_price(self, token_id: str) -> Decimal | None:
        return self.marks.get(token_id, (None, None))[0]

    def exit_value(self, token_id: str) -> Decimal | None:
        return self.marks.get(token_id, (None, None))[1]


@dataclass(frozen=True, slots=True)
class _FixedClock:
    """The parent's `now`, so the child reports the same day the parent asked for."""

    at: datetime

    def now(self) -> datetime:
        return self.at

    def monotonic(self) -> float:
        return 0.0

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


@dataclass(frozen=True, slots=True)
class ReportJob:
    """One report or chart, as the child needs it: everything picklable."""

    database_url: str
    zone: str
    now: datetime
    reports_dir: Path
    window_days: int
    day: date | None = None
    chart: str | None = None  # None: the daily report with its dashboard
    marks: FrozenMarks = field(default_factory=lambda: FrozenMarks({}))


@dataclass(frozen=True, slots=True)
class DrawnReport:
    """What the child hands back (`RenderedReport`'s shape): no rows cross the boundary."""

    text: str
    image_path: Path


def _child_start() -> None:
    """In the child: it dies with the trader (a SIGKILLed app leaves no worker behind), and on
    a busy machine the scheduler runs the trader first."""
    die_with_parent()
    os.nice(CHILD_NICENESS)


def run_job(job: ReportJob) -> DrawnReport:
    """In the child: its own engine, the report's queries, the drawing."""
    return asyncio.run(_run_job(job))


async def _run_job(job: ReportJob) -> DrawnReport:
    from trader.reports.api import build_report, render_chart
    from trader.reports.collect import ReportOptions
    from trader.store.db import create_engine, session_factory

    engine = create_engine(job.database_url)
    try:
        sessions, clock = session_factory(engine), _FixedClock(job.now)
        if job.chart is not None:
            path = await render_chart(
                sessions,
                clock,
                job.zone,
                job.chart,
                day=job.day,
                window_days=job.window_days,
                reports_dir=job.reports_dir,
                marks=job.marks,
            )
            return DrawnReport("", path)
        report = await build_report(
            sessions,
            clock,
            job.zone,
            job.day,
            reports_dir=job.reports_dir,
            options=ReportOptions(window_days=job.window_days),
            marks=job.marks,
        )
        return DrawnReport(report.text, report.image_path)
    finally:
        await engine.dispose()


async def snapshot_marks(
    sessions: async_sessionmaker[AsyncSession], marks: MarkSource | None
) -> FrozenMarks:
    """The live marks of every held token (a handful of rows), for the child."""
    if marks is None:
        return FrozenMarks({})
    async with sessions() as session:
        rows = await session.scalars(select(PositionRow.token_id).where(PositionRow.size != 0))
        tokens = list(rows)
    return FrozenMarks({t: (marks.mark_price(t), marks.exit_value(t)) for t in tokens})


class ReportWorker:
    """One child process that draws reports; started on first use, closed with `close()`."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self._pool: ProcessPoolExecutor | None = None

    @property
    def started(self) -> bool:
        return self._pool is not None

    async def run(self, job: ReportJob) -> DrawnReport:
        if self._pool is None:
            context = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(
                max_workers=1, mp_context=context, initializer=_child_start
            )
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, run_job, job)
        except BrokenProcessPool:  # the child died (killed, out of memory): a new one next time
            await self.close()
            raise

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)

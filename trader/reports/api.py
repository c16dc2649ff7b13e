"""The report's doors: `build_report` and `render_chart` for the app, `report_command` for the
command line.

`build_report` and `render_chart` read the data with async queries on the event loop and draw
the PNG in a worker thread (`asyncio.to_thread`); the renderer is injectable, and the default
imports matplotlib in the worker, on first use. The app's `ReportService` is given a
`ReportWorker` (trader/reports/worker.py): the whole report, queries and drawing, then runs
in a child process, so the event loop never waits on it.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from trader.clock import Clock, SystemClock
from trader.domain import Alert, Severity
from trader.reports.collect import MarkSource, ReportOptions, collect
from trader.reports.metrics import yesterday
from trader.reports.model import ChartKind, ReportData
from trader.reports.text import report_text
from trader.reports.worker import DrawnReport, ReportJob, ReportWorker, snapshot_marks
from trader.store.db import create_engine, session_factory
from trader.store.schema import SchemaError, ensure_schema_current

DEFAULT_REPORTS_DIR = Path("data/reports")
EXIT_OK, EXIT_SCHEMA = 0, 2

Renderer = Callable[[ReportData, ChartKind, Path], Path]


def default_renderer(data: ReportData, kind: ChartKind, path: Path) -> Path:
    """Draw and save with matplotlib (imported here, in the worker, on first use)."""
    from trader.reports import charts

    return charts.render(data, kind, path)


@dataclass(frozen=True, slots=True)
class Report:
    text: str
    image_path: Path
    data: ReportData


def _zone(zone: ZoneInfo | str) -> ZoneInfo:
    return zone if isinstance(zone, ZoneInfo) else ZoneInfo(zone)


async def load_data(
    sessions: async_sessionmaker[AsyncSession],
    clock: Clock,
    zone: ZoneInfo | str,
    day: date | None = None,
    *,
    options: ReportOptions | None = None,
    marks: MarkSource | None = None,
) -> ReportData:
    """The report's figures for `day` (default: the operator's yesterday)."""
    tz = _zone(zone)
    now = clock.now()
    return await collect(
        sessions, now=now, zone=tz, day=day or yesterday(now, tz), options=options, marks=marks
    )


async def build_report(
    sessions: async_sessionmaker[AsyncSession],
    clock: Clock,
    zone: ZoneInfo | str,
    day: date | None = None,
    *,
    reports_dir: Path = DEFAULT_REPORTS_DIR,
    image_path: Path | None = None,
    options: ReportOptions | None = None,
    marks: MarkSource | None = None,
    renderer: Renderer = default_renderer,
) -> Report:
    """The daily report for `day` (default: the operator's yesterday): text and dashboard PNG
    (written to `image_path`, default `reports_dir/report-YYYY-MM-DD.png`)."""
    data = await load_data(sessions, clock, zone, day, options=options, marks=marks)
    path = image_path or reports_dir / f"report-{data.window.day.isoformat()}.png"
    written = await asyncio.to_thread(renderer, data, ChartKind.DASHBOARD, path)
    return Report(report_text(data), written, data)


async def render_chart(
    sessions: async_sessionmaker[AsyncSession],
    clock: Clock,
    zone: ZoneInfo | str,
    kind: ChartKind | str,
    *,
    day: date | None = None,
    window_days: int = 30,
    reports_dir: Path = DEFAULT_REPORTS_DIR,
    image_path: Path | None = None,
    marks: MarkSource | None = None,
    renderer: Renderer = default_renderer,
) -> Path:
    """One chart (equity, pnl, exposure, llm, calibration, or the dashboard) as a PNG; its
    window ends with `day` (default yesterday) and spans `window_days` days."""
    chart = ChartKind(kind)  # ValueError names a bad kind
    options = ReportOptions(window_days=window_days)
    data = await load_data(sessions, clock, zone, day, options=options, marks=marks)
    name = f"{chart.value}-{data.window.day.isoformat()}-{window_days}d.png"
    return await asyncio.to_thread(renderer, data, chart, image_path or reports_dir / name)


class ReportService:
    """The report bound to the app's database, clock and zone: what the Control API and the
    scheduler call. Renders one at a time (a burst of /report commands queues instead of
    drawing several year-long dashboards at once on a small machine). With a `worker`, each
    report or chart is made in the worker's process (`renderer` is then not used)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        zone: ZoneInfo | str,
        *,
        reports_dir: Path = DEFAULT_REPORTS_DIR,
        marks: MarkSource | None = None,
        renderer: Renderer = default_renderer,
        worker: ReportWorker | None = None,
    ) -> None:
        self._sessions = sessions
        self._worker = worker
        self._clock = clock
        self._zone = _zone(zone)
        self._dir = reports_dir
        self._marks = marks
        self._renderer = renderer
        self._lock = asyncio.Lock()

    async def report(
        self, day: date | None = None, *, window_days: int = 30
    ) -> Report | DrawnReport:
        """The daily report for `day` (default: the operator's yesterday)."""
        async with self._lock:
            if self._worker is not None:
                return await self._worker.run(await self._job(window_days, day))
            return await build_report(
                self._sessions,
                self._clock,
                self._zone,
                day,
                reports_dir=self._dir,
                options=ReportOptions(window_days=window_days),
                marks=self._marks,
                renderer=self._renderer,
            )

    async def daily_alert(self) -> Alert:
        """Yesterday's report as the alert the scheduler's `daily_report` job publishes: its
        text, with the dashboard image attached."""
        report = await self.report()
        return Alert(
            "daily_report",
            Severity.INFO,
            "Daily report",
            report.text,
            attachment=str(report.image_path),
        )

    async def chart(
        self, kind: ChartKind | str, window_days: int = 30, day: date | None = None
    ) -> Path:
        """One chart's PNG; `kind` is equity, pnl, exposure, llm, calibration or dashboard."""
        async with self._lock:
            if self._worker is not None:
                chart = ChartKind(kind).value  # a bad kind is refused here, not in the child
                job = await self._job(window_days, day, chart)
                return (await self._worker.run(job)).image_path
            return await render_chart(
                self._sessions,
                self._clock,
                self._zone,
                kind,
                day=day,
                window_days=window_days,
                reports_dir=self._dir,
                marks=self._marks,
                renderer=self._renderer,
            )

    async def _job(self, window_days: int, day: date | None, chart: str | None = None) -> ReportJob:
        assert self._worker is not None
        return ReportJob(
            database_url=self._worker.database_url,
            zone=self._zone.key,
            now=self._clock.now(),
            reports_dir=self._dir.absolute(),
            window_days=window_days,
            day=day,
            chart=chart,
            marks=await snapshot_marks(self._sessions, self._marks),
        )

    async def close(self) -> None:
        """Stop the worker's process, if one was started."""
        if self._worker is not None:
            await self._worker.close()


def report_command(
    database_url: str,
    date: date | None,
    out: Path | None,
    *,
    zone: ZoneInfo | str = "UTC",
    window_days: int = 30,
    clock: Clock | None = None,
    stdout: TextIO | None = None,
) -> int:
    """`trader report --date YYYY-MM-DD --out FILE.png`: print the text, write the dashboard.
    Exit status 0, or 2 when the database schema is not current (message on stderr)."""
    return asyncio.run(
        _report_command(
            database_url,
            date,
            out,
            _zone(zone),
            window_days,
            clock or SystemClock(),
            stdout or sys.stdout,
        )
    )


async def _report_command(
    database_url: str,
    day: date | None,
    out: Path | None,
    zone: ZoneInfo,
    window_days: int,
    clock: Clock,
    stdout: TextIO,
) -> int:
    engine = create_engine(database_url)
    try:
        try:
            await ensure_schema_current(engine)
        except SchemaError as error:
            print(str(error), file=sys.stderr)
            return EXIT_SCHEMA
        report = await build_report(
            session_factory(engine),
            clock,
            zone,
            day,
            image_path=out,
            options=ReportOptions(window_days=window_days),
        )
    finally:
        await engine.dispose()
    print(report.text, file=stdout)
    print(f"\nchart: {report.image_path}", file=stdout)
    return EXIT_OK

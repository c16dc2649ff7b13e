"""The daily report over a year of history on SQLite (WAL) in a temporary directory.

The history is `seed_history`'s: 365 days with an equity snapshot every 5 minutes (105,120
rows, the app's default cadence), forecasts, fills, LLM usage, alerts.

Figures:
  seed_s                     writing the synthetic year (setup, for scale)
  year_load_s                reading the 365-day report's data (async queries on the loop)
  year_render_s              drawing the 365-day dashboard PNG (matplotlib, worker thread)
  year_total_s               build_report end to end, 365-day window
  year_loop_stall_max_ms     the longest the event loop was late for a 2 ms ticker during
  year_loop_stall_p99_ms     that build_report (what a chat reply would have waited)
  month_total_s              build_report with the default 30-day window, same history
  month_loop_stall_max_ms
  frozen_year_loop_stall_max_ms  the year again after `gc.collect(); gc.freeze()`: most of
  frozen_year_loop_stall_p99_ms  the longest stalls are full (generation 2) garbage
                             collections, whose cost grows with the whole process's heap
                             (matplotlib, SQLAlchemy, ...); freezing the start-up objects
                             takes them out of every later full collection
  png_kb                     the 365-day dashboard's size
  process_year_first_loop_stall_max_ms  the app's way (`ReportService` with a `ReportWorker`):
  process_year_loop_stall_max_ms        the whole 365-day report in a child process; the first
  process_year_loop_stall_p99_ms        starts the child (spawn, imports), the next reuses it
  process_year_total_s                  the warm one, end to end (start-up objects frozen,
                                        as the app freezes them once ready)
  idle_loop_stall_max_ms                the machine's floor: the same wait with nothing to do
  busy_floor_loop_stall_max_ms          ... and beside a child that only spins (niced like
  busy_floor_loop_stall_p99_ms          the worker): what the OS scheduler alone costs

Stalls depend on what else the machine is doing (2 shared cores here): read them as orders
of magnitude, over a few runs.

Run alone with `python -m bench.report`; `make bench` runs it with the others.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from polysim.synthetic.history import seed_history
from trader.clock import FakeClock
from trader.reports import (
    ChartKind,
    ReportData,
    ReportOptions,
    ReportService,
    ReportWorker,
    build_report,
    default_renderer,
    load_data,
)
from trader.store import migrate
from trader.store.db import create_engine, session_factory

ZONE = ZoneInfo("America/New_York")
NOW = datetime(2026, 6, 30, 11, tzinfo=UTC)
TICK_S = 0.002


class StallMeter:
    """A coroutine that wakes every TICK_S and records how late each wake-up was."""

    def __init__(self) -> None:
        self.lateness: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            expected = time.perf_counter() + TICK_S
            await asyncio.sleep(TICK_S)
            self.lateness.append(max(0.0, time.perf_counter() - expected))

    def __enter__(self) -> StallMeter:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *_: object) -> None:
        if self._task is not None:
            self._task.cancel()

    def max_ms(self) -> float:
        return round(max(self.lateness, default=0.0) * 1000, 1)

    def p99_ms(self) -> float:
        ordered = sorted(self.lateness)
        return round(ordered[int(len(ordered) * 0.99)] * 1000, 1) if ordered else 0.0


async def _measure(url: str, directory: Path) -> dict[str, float]:
    engine = create_engine(url)
    figures: dict[str, float] = {}
    try:
        sessions = session_factory(engine)
        started = time.perf_counter()
        await seed_history(sessions, end=NOW, days=365, snapshot_every=timedelta(minutes=5))
        figures["seed_s"] = round(time.perf_counter() - started, 2)
        clock = FakeClock(NOW)
        year = ReportOptions(window_days=365)
        warm = await load_data(sessions, clock, ZONE)  # imports matplotlib, fills font caches
        default_renderer(warm, ChartKind.EQUITY, directory / "warmup.png")

        started = time.perf_counter()
        data = await load_data(sessions, clock, ZONE, options=year)
        figures["year_load_s"] = round(time.perf_counter() - started, 3)
        figures["year_render_s"] = round(_render(data, directory / "render.png"), 3)

        with StallMeter() as meter:
            started = time.perf_counter()
            report = await build_report(sessions, clock, ZONE, reports_dir=directory, options=year)
            figures["year_total_s"] = round(time.perf_counter() - started, 3)
        figures["year_loop_stall_max_ms"] = meter.max_ms()
        figures["year_loop_stall_p99_ms"] = meter.p99_ms()
        figures["png_kb"] = round(report.image_path.stat().st_size / 1024, 1)

        with StallMeter() as meter:
            started = time.perf_counter()
            await build_report(sessions, clock, ZONE, reports_dir=directory / "month")
            figures["month_total_s"] = round(time.perf_counter() - started, 3)
        figures["month_loop_stall_max_ms"] = meter.max_ms()

        figures |= await _in_child_process(url, sessions, clock, directory / "process")

        gc.collect()
        gc.freeze()
        try:
            with StallMeter() as meter:
                await build_report(sessions, clock, ZONE, reports_dir=directory, options=year)
        finally:
            gc.unfreeze()
        figures["frozen_year_loop_stall_max_ms"] = meter.max_ms()
        figures["frozen_year_loop_stall_p99_ms"] = meter.p99_ms()
    finally:
        await engine.dispose()
    return figures


async def _in_child_process(
    url: str, sessions: async_sessionmaker[AsyncSession], clock: FakeClock, directory: Path
) -> dict[str, float]:
    service = ReportService(sessions, clock, ZONE, reports_dir=directory, worker=ReportWorker(url))
    figures: dict[str, float] = {}
    gc.collect()
    gc.freeze()  # as the app does once it is ready: the in-process runs above left a big heap
    try:
        with StallMeter() as meter:
            await service.report(window_days=365)
        figures["process_year_first_loop_stall_max_ms"] = meter.max_ms()
        with StallMeter() as meter:
            started = time.perf_counter()
            await service.report(window_days=365)
            figures["process_year_total_s"] = round(time.perf_counter() - started, 3)
        figures["process_year_loop_stall_max_ms"] = meter.max_ms()
        figures["process_year_loop_stall_p99_ms"] = meter.p99_ms()
        seconds = figures["process_year_total_s"]
        with StallMeter() as meter:  # the machine's floor: the same wait with nothing to do
            await asyncio.sleep(seconds)
        figures["idle_loop_stall_max_ms"] = meter.max_ms()
        with StallMeter() as meter:  # ... and beside a busy process that is not ours
            await _beside_a_busy_process(seconds)
        figures["busy_floor_loop_stall_max_ms"] = meter.max_ms()
        figures["busy_floor_loop_stall_p99_ms"] = meter.p99_ms()
    finally:
        gc.unfreeze()
        await service.close()
    return figures


async def _beside_a_busy_process(seconds: float) -> None:
    """A child at the report worker's niceness spinning for `seconds`: what a drawing child
    costs the loop through the OS scheduler alone (no shared GIL, no shared memory)."""
    spin = f"import os, time\nos.nice(10)\nend = time.monotonic() + {seconds}\n"
    spin += "while time.monotonic() < end: pass\n"
    child = await asyncio.create_subprocess_exec(sys.executable, "-c", spin)
    await child.wait()


def _render(data: ReportData, path: Path) -> float:
    started = time.perf_counter()
    default_renderer(data, ChartKind.DASHBOARD, path)
    return time.perf_counter() - started


def run() -> dict[str, float]:
    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite+aiosqlite:///{Path(directory) / 'bench.db'}"
        migrate.upgrade(url)
        return asyncio.run(_measure(url, Path(directory)))


if __name__ == "__main__":
    for name, value in run().items():
        print(f"{name:28} {value:>10,}")

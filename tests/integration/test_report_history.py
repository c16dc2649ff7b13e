"""A year of synthetic history: the report stays readable, and rendering it leaves the event
loop free for the chat."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from matplotlib.image import imread
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.commands.core import CommandCore
from bot.notifier import Notifier
from bot.reply import Role
from polysim.synthetic.history import SyntheticHistory, seed_history
from tests.support.chat_stack import memory_control
from tests.support.waiting import eventually
from trader.clock import FakeClock
from trader.domain import Actor
from trader.reports import ChartKind, ReportData, ReportOptions, build_report, default_renderer

Sessions = async_sessionmaker[AsyncSession]
ZONE = ZoneInfo("Australia/Sydney")
NOW = datetime(2026, 6, 30, 21, tzinfo=UTC)  # 07:00 on 1 July in Sydney
YEAR = ReportOptions(window_days=365)


@pytest.fixture
async def year(sessions: Sessions) -> SyntheticHistory:
    return await seed_history(sessions, end=NOW, days=365, snapshot_every=timedelta(hours=1))


def assert_png(path: Path, width: int, height: int, bands: int) -> None:
    pixels = imread(path)
    assert pixels.shape[:2] == (height, width)
    gray = pixels[..., :3].mean(axis=2)
    step = height // bands
    for band in range(bands):
        assert gray[band * step : (band + 1) * step].var() > 1e-3, f"band {band} is blank"


async def test_a_year_dashboard_is_readable(
    sessions: Sessions, year: SyntheticHistory, tmp_path: Path
) -> None:
    report = await build_report(sessions, FakeClock(NOW), ZONE, reports_dir=tmp_path, options=YEAR)

    data = report.data
    assert data.window.day == date(2026, 6, 30)
    series = data.series
    assert 360 <= len(series.daily_pnl) <= 366
    assert len(series.equity) <= 1600  # 8,760 snapshots, drawn as at most ~1,500 points
    assert min(p.equity for p in series.equity) < max(p.equity for p in series.equity)
    assert series.calibration.enough
    assert set(series.llm_cost) == {"claude-haiku-4-5", "claude-sonnet-4-6"}
    assert 0 < len(series.exposure) <= 10
    assert data.uptime.fraction is not None
    assert data.uptime.fraction < 1  # the outage
    assert "Needs you (2)" in report.text  # the pending approval and the reconciliation
    assert_png(report.image_path, 1080, 1920, bands=5)


async def test_thirty_day_default_window_over_a_long_history(
    sessions: Sessions, year: SyntheticHistory, tmp_path: Path
) -> None:
    report = await build_report(sessions, FakeClock(NOW), ZONE, reports_dir=tmp_path)

    series = report.data.series
    assert len(series.daily_pnl) == 30
    assert all(p.at >= series.start for p in series.equity)
    assert series.end - series.start == timedelta(days=30)  # no DST change in June in Sydney


async def make_core(clock: FakeClock) -> CommandCore:
    control = (await memory_control(clock)).control
    return CommandCore(control, clock=clock, notifier=Notifier(clock))


async def test_rendering_a_year_leaves_the_chat_answering(
    sessions: Sessions, year: SyntheticHistory, tmp_path: Path
) -> None:
    clock = FakeClock(NOW)
    core = await make_core(clock)
    rendering = threading.Event()
    release = threading.Event()

    def held_renderer(data: ReportData, kind: ChartKind, path: Path) -> Path:
        # Mid-render, the thread waits for the test. Were it running on the event loop,
        # the loop would be stuck here and /status could not answer until the timeout.
        rendering.set()
        release.wait(timeout=30)
        return default_renderer(data, kind, path)

    finished: list[str] = []
    render = asyncio.create_task(
        build_report(
            sessions, clock, ZONE, reports_dir=tmp_path, options=YEAR, renderer=held_renderer
        )
    )
    render.add_done_callback(lambda _: finished.append("render"))
    try:
        await eventually(rendering.is_set, timeout=30)
        reply = await core.handle("/status", Actor("telegram", "42", "ops"), Role.OPERATOR)
        finished.append("status")
    finally:
        release.set()
    report = await render

    assert finished == ["status", "render"]
    assert "Trading: RUNNING" in reply.text
    assert report.image_path.stat().st_size > 10_000

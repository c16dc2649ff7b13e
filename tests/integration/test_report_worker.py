"""The app's reports are made in a child process (issue 21): the event loop never waits for
matplotlib or for a year of rows. The report through the worker is the same report."""

from __future__ import annotations

import multiprocessing
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from polysim.synthetic.history import SyntheticHistory, seed_history
from tests.integration.test_report_history import assert_png
from trader.clock import FakeClock
from trader.reports import ReportOptions, ReportService, ReportWorker, build_report
from trader.reports.worker import snapshot_marks
from trader.store.tables import PositionRow

Sessions = async_sessionmaker[AsyncSession]
ZONE = ZoneInfo("Australia/Sydney")
NOW = datetime(2026, 6, 30, 21, tzinfo=UTC)


@pytest.fixture
async def year(sessions: Sessions) -> SyntheticHistory:
    return await seed_history(sessions, end=NOW, days=365, snapshot_every=timedelta(hours=1))


class Marks:
    def mark_price(self, token_id: str) -> Decimal | None:
        return Decimal("0.61")

    def exit_value(self, token_id: str) -> Decimal | None:
        return Decimal("12.5")


async def test_the_year_report_is_drawn_in_a_child_process_and_matches_the_in_process_one(
    sessions: Sessions, migrated_database_url: str, year: SyntheticHistory, tmp_path: Path
) -> None:
    clock = FakeClock(NOW)
    worker = ReportWorker(migrated_database_url)
    service = ReportService(sessions, clock, ZONE, reports_dir=tmp_path / "app", worker=worker)
    try:
        report = await service.report(window_days=365)
        chart = await service.chart("pnl", 30)
        children = multiprocessing.active_children()
    finally:
        await service.close()
    expected = await build_report(
        sessions, clock, ZONE, reports_dir=tmp_path / "here", options=ReportOptions(365)
    )

    assert len(children) == 1  # one worker process, reused for the chart
    assert multiprocessing.active_children() == []  # closed with the service
    assert report.text == expected.text
    assert report.image_path.parent == tmp_path / "app"
    assert_png(report.image_path, 1080, 1920, bands=5)
    assert chart.name == "pnl-2026-06-30-30d.png"
    assert chart.stat().st_size > 10_000


async def test_a_bad_chart_kind_is_refused_without_starting_the_child(
    sessions: Sessions, migrated_database_url: str, tmp_path: Path
) -> None:
    worker = ReportWorker(migrated_database_url)
    service = ReportService(sessions, FakeClock(NOW), ZONE, reports_dir=tmp_path, worker=worker)

    with pytest.raises(ValueError, match="pie"):
        await service.chart("pie")

    assert not worker.started


async def test_the_live_marks_of_held_tokens_cross_to_the_child_as_a_snapshot(
    sessions: Sessions, year: SyntheticHistory
) -> None:
    async with sessions() as session:
        held = set(await session.scalars(select(PositionRow.token_id).where(PositionRow.size != 0)))

    frozen = await snapshot_marks(sessions, Marks())

    assert held
    assert set(frozen.marks) == held
    token = next(iter(held))
    assert frozen.mark_price(token) == Decimal("0.61")
    assert frozen.exit_value(token) == Decimal("12.5")
    assert frozen.mark_price("not-held") is None

"""The report's doors other than build_report: `trader report` as the command line runs it (its
own event loop, engine and schema check), and the ReportService the app and scheduler hold."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.support.report_day import DAY, NEW_YORK, NOW, fill_one_day
from trader.clock import FakeClock
from trader.domain import Severity
from trader.reports import ReportService, report_command
from trader.store.db import create_engine, session_factory


def test_report_command_prints_the_text_and_writes_the_png(
    migrated_database_url: str, tmp_path: Path
) -> None:
    async def seed() -> None:
        engine = create_engine(migrated_database_url)
        try:
            await fill_one_day(session_factory(engine))
        finally:
            await engine.dispose()

    asyncio.run(seed())
    out = io.StringIO()

    code = report_command(
        migrated_database_url,
        DAY,
        tmp_path / "out.png",
        zone="America/New_York",
        clock=FakeClock(NOW),
        stdout=out,
    )

    assert code == 0
    assert "Equity $1,025.50" in out.getvalue()
    assert (tmp_path / "out.png").stat().st_size > 10_000


def test_report_command_refuses_a_database_without_the_schema(
    database_url: str, tmp_path: Path
) -> None:
    code = report_command(database_url, None, tmp_path / "out.png", stdout=io.StringIO())

    assert code == 2
    assert not (tmp_path / "out.png").exists()


async def test_the_service_serves_reports_and_charts_concurrently(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    await fill_one_day(sessions)
    service = ReportService(sessions, FakeClock(NOW), NEW_YORK, reports_dir=tmp_path)

    report, chart = await asyncio.gather(service.report(), service.chart("llm", window_days=7))

    assert report.image_path == tmp_path / "report-2026-03-08.png"
    assert "Equity $1,025.50" in report.text
    assert chart == tmp_path / "llm-2026-03-08-7d.png"
    assert chart.stat().st_size > 10_000


async def test_the_daily_alert_carries_yesterdays_report_and_its_dashboard(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    await fill_one_day(sessions)
    service = ReportService(sessions, FakeClock(NOW), NEW_YORK, reports_dir=tmp_path)

    alert = await service.daily_alert()

    assert (alert.kind, alert.severity, alert.title) == (
        "daily_report",
        Severity.INFO,
        "Daily report",
    )
    assert "Equity $1,025.50" in alert.body
    image = tmp_path / "report-2026-03-08.png"
    assert alert.attachment == str(image)
    assert image.stat().st_size > 10_000

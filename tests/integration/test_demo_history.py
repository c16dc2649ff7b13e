"""The demo opens with a few recorded (synthetic) days replayed (polysim/demo/history.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from pathlib import Path

import pytest
from sqlalchemy import func, select

from polysim.demo.history import open_with_history
from trader.backtest.recorded import load_recording
from trader.config import load_settings
from trader.store.db import create_engine, session_factory
from trader.store.migrate import upgrade_async
from trader.store.tables import EquitySnapshotRow, ForecastRow

pytestmark = pytest.mark.slow
NOW = datetime(2026, 3, 10, tzinfo=UTC)


async def test_the_demo_records_and_replays_days_once(tmp_path: Path) -> None:
    settings = load_settings(
        None,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}",
        recorder_dir=tmp_path / "recordings",
    )
    await upgrade_async(settings.database_url)

    said = await open_with_history(settings, NOW, days=2)
    again = await open_with_history(settings, NOW, days=2)

    assert said is not None
    assert "replayed 2 days" in said
    assert again is None  # once per recording
    recording = load_recording(settings.recorder_dir, NOW - timedelta(days=2), NOW)
    counts = recording.counts()
    assert counts["books"] > 0
    assert counts["markets"] > 0
    assert counts["forecasts"] > 0  # the replay's forecasts, for /backtest to replay
    engine = create_engine(settings.database_url)
    try:
        async with session_factory(engine)() as session:
            snapshots = await session.scalar(select(func.count()).select_from(EquitySnapshotRow))
            resolved = await session.scalar(
                select(func.count())
                .select_from(ForecastRow)
                .where(ForecastRow.resolved_outcome.is_not(None))
            )
    finally:
        await engine.dispose()
    # the two days before the operator's day, every five minutes: /report's equity curve, and
    # its uptime (read from the snapshots' spacing) full
    assert snapshots == 48 * 12
    assert (resolved or 0) > 0  # scored forecasts: /report's calibration


async def test_the_replayed_curve_ends_at_the_bankroll_before_the_operators_day(
    tmp_path: Path,
) -> None:
    """The app starts from the bankroll with nothing held: the day's starting equity it reads
    back must be that, or /status opens with the replay's last hours as today's P&L."""
    now = datetime(2026, 3, 10, 15, 30, tzinfo=UTC)  # 16:30 in Paris: the day began at 23:00
    settings = load_settings(
        None,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}",
        recorder_dir=tmp_path / "recordings",
        operator_tz="Europe/Paris",
        paper_bankroll_usd=Decimal(500),
    )
    await upgrade_async(settings.database_url)

    await open_with_history(settings, now, days=2)

    engine = create_engine(settings.database_url)
    try:
        async with session_factory(engine)() as session:
            rows = (
                await session.scalars(select(EquitySnapshotRow).order_by(EquitySnapshotRow.ts))
            ).all()
    finally:
        await engine.dispose()
    day_start = datetime(2026, 3, 9, 23, tzinfo=UTC)
    assert rows
    assert all(r.ts < day_start for r in rows)
    assert rows[-1].ts == datetime(2026, 3, 9, 22, 55, tzinfo=UTC)  # 22:30's held to 23:00
    assert {b.ts - a.ts for a, b in pairwise(rows)} == {timedelta(minutes=5)}
    assert rows[-1].equity == Decimal(500)
    assert len({r.equity for r in rows}) > 1  # a curve, not a flat line moved

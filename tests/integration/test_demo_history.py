"""The demo opens with a few recorded (synthetic) days replayed (polysim/demo/history.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
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
    assert snapshots == 49  # hourly over two days, both ends: /report's equity curve
    assert (resolved or 0) > 0  # scored forecasts: /report's calibration

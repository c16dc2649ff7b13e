"""Write the example images under docs/images/ from a synthetic 90-day history.

    python -m polysim.examples [OUTPUT_DIR]

Builds a temporary SQLite database at the schema head, fills it with `seed_history`, and
renders the dashboard and the equity chart as the app would (a fixed clock: the images are
the same on every run). Prints the report text too.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from polysim.synthetic.history import seed_history
from trader.clock import FakeClock
from trader.reports.api import build_report, render_chart
from trader.reports.model import ChartKind
from trader.store import migrate
from trader.store.db import create_engine, session_factory

ZONE = ZoneInfo("America/New_York")
NOW = datetime(2026, 4, 14, 7, 0, tzinfo=ZONE).astimezone(UTC)
DAYS = 90
DEFAULT_OUTPUT = Path("docs/images")


async def _render(url: str, output: Path) -> str:
    engine = create_engine(url)
    try:
        sessions = session_factory(engine)
        await seed_history(sessions, end=NOW, days=DAYS, snapshot_every=timedelta(minutes=15))
        clock = FakeClock(NOW)
        report = await build_report(
            sessions, clock, ZONE, image_path=output / "report-dashboard-90d.png"
        )
        await render_chart(
            sessions,
            clock,
            ZONE,
            ChartKind.EQUITY,
            window_days=DAYS,
            image_path=output / "report-equity-90d.png",
        )
    finally:
        await engine.dispose()
    return report.text


def main(argv: list[str]) -> int:
    output = Path(argv[0]) if argv else DEFAULT_OUTPUT
    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite+aiosqlite:///{Path(directory) / 'examples.db'}"
        migrate.upgrade(url)
        text = asyncio.run(_render(url, output))
    print(text)
    print(f"\nwritten: {output / 'report-dashboard-90d.png'}, {output / 'report-equity-90d.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

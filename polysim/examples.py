"""Write the example images under docs/images/ from a synthetic 90-day history.

    python -m polysim.examples [OUTPUT_DIR]

Builds a temporary SQLite database at the schema head, fills it with `seed_history`, and
renders the dashboard and the equity chart as the app would (a fixed clock: the images are
the same on every run), each with a "synthetic data" banner added below it. Prints
the report text too.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from PIL import Image, ImageDraw, ImageFont

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
SYNTHETIC_LABEL = "SYNTHETIC DATA: generated example, not a track record"
BANNER = (176, 0, 32, 255)


def label_synthetic(path: Path) -> None:
    """Add a banner saying the data is synthetic below the image at `path` (the chart is
    left whole), so the picture cannot be taken for results on its own."""
    with Image.open(path) as original:
        chart = original.convert("RGBA")
    font = ImageFont.load_default(size=max(16, chart.width // 36))
    box = ImageDraw.Draw(chart).textbbox((0, 0), SYNTHETIC_LABEL, font=font)
    left, top, right, bottom = (round(edge) for edge in box)
    pad = (bottom - top) // 2
    band = (bottom - top) + 2 * pad
    image = Image.new("RGBA", (chart.width, chart.height + band), BANNER)
    image.paste(chart, (0, 0))
    x = (image.width - (right - left)) // 2 - left
    ImageDraw.Draw(image).text(
        (x, chart.height + pad - top), SYNTHETIC_LABEL, fill="white", font=font
    )
    image.save(path)


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
    for image in ("report-dashboard-90d.png", "report-equity-90d.png"):
        label_synthetic(output / image)
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

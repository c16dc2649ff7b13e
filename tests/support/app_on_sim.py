"""The real composition root in process, on the demo's settings over a simulator on loopback
and a local news wire (`running_app`); the database is a SQLite file under `tmp_path`."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from polysim.clob import serve
from polysim.demo import SCENARIO, demo_settings, free_port
from polysim.demo.news import start_feed
from trader.app.root import App
from trader.config import load_settings
from trader.store.migrate import upgrade_async


@contextlib.asynccontextmanager
async def running_app(tmp_path: Path, **overrides: Any) -> AsyncIterator[App]:
    """A started app; `overrides` are settings (as `load_settings` takes them)."""
    sim = await serve("127.0.0.1", 0, SCENARIO, seed=7)
    feed, feed_url = await start_feed("127.0.0.1", free_port())
    port = int(sim.url.rsplit(":", 1)[1])
    database = f"sqlite+aiosqlite:///{tmp_path / 'app.db'}"
    operator = load_settings(None, database_url=database, **overrides)
    settings = demo_settings(operator, sim_port=port, http_port=0, feed=feed_url)
    await upgrade_async(settings.database_url)
    application = App(settings)
    try:
        await application.start()
        yield application
    finally:
        await application.stop()
        await feed.cleanup()
        await sim.close()

"""A shutdown step that never ends (a chat transport stuck on an outage, say) or fails costs
the rest of the stop, not the event log: once the budget is spent, or the step raised, the
log's last flush still runs, so the `shutdown` event and everything before it are on disk."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from polysim.clob import serve
from polysim.demo import SCENARIO, demo_settings, free_port
from polysim.demo.news import start_feed
from tests.support.sim import avoid_ca_bundle
from trader.app.root import App
from trader.config import load_settings
from trader.store.db import create_engine, session_factory
from trader.store.migrate import upgrade_async
from trader.store.tables import EventLogRow

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _plain_http_only(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    avoid_ca_bundle(monkeypatch, tmp_path)


@pytest.mark.parametrize("step", ["hangs", "raises"])
async def test_the_event_log_is_flushed_when_a_step_hangs_or_fails(
    tmp_path: Path, step: str
) -> None:
    sim = await serve("127.0.0.1", 0, SCENARIO, seed=7)
    feed, feed_url = await start_feed("127.0.0.1", free_port())
    database = f"sqlite+aiosqlite:///{tmp_path / 'app.db'}"
    settings = demo_settings(
        load_settings(None, database_url=database),
        sim_port=int(sim.url.rsplit(":", 1)[1]),
        http_port=0,
        feed=feed_url,
    )
    await upgrade_async(settings.database_url)
    app = App(settings)
    shut = False
    try:
        await app.start()
        assert app.chat is not None
        stuck = asyncio.Event()

        async def never_stops() -> None:
            stuck.set()
            if step == "raises":
                raise RuntimeError("the transport fell over")
            await asyncio.Event().wait()

        real_stop = app.chat.stop_telegram
        app.chat.stop_telegram = never_stops  # type: ignore[method-assign]
        started = time.monotonic()

        await app.shutdown(budget=1.0)
        shut = True

        assert stuck.is_set()
        assert time.monotonic() - started < 10
    finally:
        if not shut and app.chat is not None:  # the test failed: stop it the usual way
            app.chat.stop_telegram = real_stop  # type: ignore[method-assign]
            await app.stop()
        elif app.trading is not None:  # what the abandoned stop did not reach (the process
            await app.trading.close_clients()  # would exit here): its connections to the sim
        await feed.cleanup()
        await sim.close()

    engine = create_engine(database)
    try:
        async with session_factory(engine)() as session:
            types = list(await session.scalars(select(EventLogRow.type)))
    finally:
        await engine.dispose()
    assert types.count("startup") == 1
    assert types.count("shutdown") == 1
    assert types[-1] == "shutdown"

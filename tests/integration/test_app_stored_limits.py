"""A stored limit that would have bricked start-up (`cooldown_s 1e20`, accepted by an older
version) falls back to its default with a critical alert, and the app still starts, so the
operator keeps `/kill`. The same value typed now is refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from polysim.clob import serve
from polysim.demo import SCENARIO, demo_settings, free_port
from polysim.demo.news import start_feed
from tests.support.sim import avoid_ca_bundle
from trader.app.root import App
from trader.clock import SystemClock
from trader.config import load_settings
from trader.control.api import ControlError
from trader.domain import Actor, Alert, Severity
from trader.limits import RiskLimits
from trader.state import RISK_LIMITS_KEY
from trader.store.db import create_engine, session_factory
from trader.store.migrate import upgrade_async
from trader.store.repositories import ControlStateRepository

pytestmark = pytest.mark.slow
OPERATOR = Actor("console", "op")


@pytest.fixture(autouse=True)
def _plain_http_only(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    avoid_ca_bundle(monkeypatch, tmp_path)


@pytest.fixture
async def app_with_bad_limit(tmp_path: Path) -> AsyncIterator[tuple[App, list[Alert]]]:
    sim = await serve("127.0.0.1", 0, SCENARIO, seed=7)
    feed, feed_url = await start_feed("127.0.0.1", free_port())
    port = int(sim.url.rsplit(":", 1)[1])
    database = f"sqlite+aiosqlite:///{tmp_path / 'app.db'}"
    operator = load_settings(None, database_url=database)
    settings = demo_settings(operator, sim_port=port, http_port=0, feed=feed_url)
    await upgrade_async(settings.database_url)
    engine = create_engine(settings.database_url)
    stored = RiskLimits().to_json() | {"cooldown_s": "1e20"}
    await ControlStateRepository(session_factory(engine), SystemClock()).set(
        RISK_LIMITS_KEY, stored, updated_by="an older version"
    )
    await engine.dispose()
    application = App(settings)
    alerts = application.bus.alerts.subscribe()
    try:
        await application.start()
        seen: list[Alert] = []
        while (envelope := alerts.get_nowait()) is not None:
            seen.append(envelope.payload)
        yield application, seen
    finally:
        await application.stop()
        await feed.cleanup()
        await sim.close()


async def test_a_bricking_stored_limit_falls_back_and_raises_one_critical_alert(
    app_with_bad_limit: tuple[App, list[Alert]],
) -> None:
    app, alerts = app_with_bad_limit

    assert app.ready.is_set()
    assert app.state.risk_limits.cooldown_s == Decimal(300)
    fallback = [a for a in alerts if a.kind == "settings_fallback"]
    assert len(fallback) == 1
    assert fallback[0].severity is Severity.CRITICAL
    assert "cooldown_s" in fallback[0].body
    assert "1e20" in fallback[0].body


async def test_the_bricking_value_typed_again_is_refused(
    app_with_bad_limit: tuple[App, list[Alert]],
) -> None:
    app, _ = app_with_bad_limit

    with pytest.raises(ControlError, match="plain decimal number"):
        await app.control.set_limit(OPERATOR, "cooldown_s", "1e20")
    with pytest.raises(ControlError, match="bankroll"):
        await app.control.set_limit(OPERATOR, "max_exposure", "99999999")
    assert app.state.risk_limits.cooldown_s == Decimal(300)

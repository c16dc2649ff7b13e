"""The real composition root, in process: a heuristic signal cycle over the simulator's
markets and a news wire goes through risk to an order and a fill, end to end."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.support.app_on_sim import running_app
from tests.support.sim import avoid_ca_bundle
from tests.support.waiting import eventually
from trader.app.root import App
from trader.domain import Actor, Fill

pytestmark = pytest.mark.slow
OPERATOR = Actor("console", "ada")


@pytest.fixture(autouse=True)
def _plain_http_only(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    avoid_ca_bundle(monkeypatch, tmp_path)


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[App]:
    async with running_app(tmp_path, operator_tz="America/New_York") as application:
        yield application


async def test_a_heuristic_cycle_over_the_simulator_ends_in_an_order_and_a_fill(app: App) -> None:
    fills: list[Fill] = []
    subscription = app.bus.fills.subscribe()

    assert app.scheduler is not None  # one job table holds the execution's periodic duties
    assert {"reconcile", "equity_snapshot", "market_refresh"} <= set(app.scheduler.next_runs())
    assert not any(name.endswith(("reconcile", "equity")) for name in app.supervisor.status)

    noon_utc = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
    assert app.chat is not None  # replies and alerts in OPERATOR_TZ, handed to the renderers
    assert app.chat.commands.context.render.local(noon_utc) == "2026-01-15 07:00 EST"
    assert app.chat.notifier.render.local(noon_utc) == "2026-01-15 07:00 EST"

    await app.cycle_hook.run_now()

    async def filled() -> bool:
        while (envelope := subscription.get_nowait()) is not None:
            fills.append(envelope.payload)
        return bool(fills)

    await eventually(filled, timeout=20)
    assert app.signals is not None
    assert app.signals.analyser.startswith("heuristic")  # no ANTHROPIC_API_KEY: labelled
    assert app.engine is not None
    assert app.events is not None
    assert app.execution is not None
    await app.execution.flush()  # order rows are written behind the path
    await app.events.flush()  # and the event log in batches
    async with app.engine.connect() as connection:
        kinds = [
            row[0]
            for row in await connection.execute(text("SELECT type FROM event_log ORDER BY seq"))
        ]
        orders = (await connection.execute(text("SELECT count(*) FROM orders"))).scalar_one()
        questions = {
            row[0] for row in await connection.execute(text("SELECT question FROM markets"))
        }
    # the decision path, in order: intent -> order row (before the venue) -> submit -> fill
    for earlier, later in (
        ("signal_group_published", "intent_received"),
        ("intent_received", "order_created"),
        ("order_created", "order_submitted"),
    ):
        assert kinds.index(earlier) < kinds.index(later)
    assert "fill" in kinds
    # the typed fill event moved the /metrics counter (subscribed by class, not by type string)
    assert (app.metrics.registry.get_sample_value("polyops_fills_total") or 0) >= 1
    assert orders >= 1
    assert "Will the Fed cut rates at its next meeting?" in questions  # reports can name it
    assert app.execution.desk.portfolio_view().open_positions >= 1


async def test_a_development_strategy_places_no_order_in_paper_mode(tmp_path: Path) -> None:
    """The same cycle with every strategy at stage development: analysed for nothing, no
    intent, no order; the cycle says why; /promote to paper makes the next cycle trade."""
    stages = "llm_edge=development"
    async with running_app(
        tmp_path, operator_tz="America/New_York", strategy_stages=stages
    ) as application:
        await application.cycle_hook.run_now()
        assert application.engine is not None
        assert application.execution is not None
        assert application.events is not None
        await application.execution.flush()
        await application.events.flush()
        async with application.engine.connect() as connection:
            kinds = {row[0] for row in await connection.execute(text("SELECT type FROM event_log"))}
            orders = (await connection.execute(text("SELECT count(*) FROM orders"))).scalar_one()
        assert "signal_cycle_completed" in kinds
        assert orders == 0
        assert not kinds & {"signal_group_published", "intent_received", "order_created"}
        assert application.signals is not None
        report = application.signals.last_report
        assert report is not None
        assert report.selected > 0
        reasons = {m.reason for m in report.markets}
        assert (
            "llm_edge is at stage development (backtests only): no orders in paper mode" in reasons
        )

"""The running app records what it saw (RECORDER_ENABLED), and a backtest over that recording
replays its forecasts against its books and fills as the paper run did, within a tick."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from tests.integration.test_app_cycle import running_app
from tests.support.sim import avoid_ca_bundle
from tests.support.waiting import eventually
from trader.backtest.kernel import BacktestConfig, run_backtest
from trader.backtest.recorded import history_with_recording, load_recording
from trader.backtest.results import summarise
from trader.domain import Fill
from trader.signals.runtime import SignalRuntimeConfig

pytestmark = pytest.mark.slow
TICK = Decimal("0.01")


@pytest.fixture(autouse=True)
def _plain_http_only(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    avoid_ca_bundle(monkeypatch, tmp_path)


async def test_the_app_records_a_cycle_and_a_backtest_of_it_fills_within_a_tick(
    tmp_path: Path,
) -> None:
    root = tmp_path / "recordings"
    fills: list[Fill] = []
    async with running_app(tmp_path, recorder_enabled=True, recorder_dir=root) as app:
        subscription = app.bus.fills.subscribe()
        await app.cycle_hook.run_now()

        async def filled() -> bool:
            while (envelope := subscription.get_nowait()) is not None:
                fills.append(envelope.payload)
            return bool(fills)

        await eventually(filled, timeout=20)
        settings = app.settings
        scraped = app.metrics.registry.get_sample_value("polyops_recorder_dropped")
        assert scraped == 0  # /metrics shows the recorder's drops (none here)
    # the app stopped: what was buffered is on disk

    everything = load_recording(root, fills[0].timestamp - timedelta(days=1), fills[0].timestamp)
    counts = everything.counts()
    assert counts["markets"] >= 1
    assert counts["books"] >= 1
    assert counts["forecasts"] >= 1
    assert counts["news"] >= 1
    assert counts["trades"] == len(fills)
    forecast = everything.of("forecasts")[0]
    assert forecast["market_probability"]  # with its inputs
    assert forecast["samples"] >= 1
    assert {row["token_id"] for row in everything.of("trades")} == {f.token_id for f in fills}

    # the cycle's forecasts are recorded as each market's analysis ends: replay once all are
    start = max(row["at"] for row in everything.of("forecasts"))
    history = history_with_recording(everything)
    config = BacktestConfig(
        start=start,
        end=start + timedelta(seconds=1),  # one cycle, at the moment the app forecast
        bankroll=settings.paper_bankroll_usd,
        cycle_s=settings.signal_cycle_s,
        forecasts="replay",
        recording=root,
        signals=SignalRuntimeConfig(max_order_notional=settings.max_order_notional_usd),
    )
    summary = summarise(await run_backtest(history, config))

    replayed = {(f["token_id"], f["side"]): Decimal(f["price"]) for f in summary["fills"]}
    live = {(f.token_id, f.side.value): f.price for f in fills}
    assert set(replayed) == set(live)
    for key, price in live.items():
        assert abs(replayed[key] - price) <= TICK

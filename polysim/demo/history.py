"""The demo opens with a few days of recorded history, replayed.

`open_with_history` runs once per demo database (it does nothing when the demo's recording
already holds books). It makes a **synthetic** history of a few days ending now
(`polysim.synthetic.backtest`: a dozen markets, hourly prices drifting toward outcomes, news),
writes it as the recorder would have recorded it, through the product's own `Recorder`
(markets when first seen, a book of each open token every hour, synthesised from the price by
the backtest's stated fill model, news as fetched, resolutions), then replays that recording
through the backtest kernel (heuristic forecasts, hourly cycles, one point of edge) and keeps
what the replay produced: its forecasts go into the recording (so `/backtest` replays them),
and its equity curve and forecasts, scored against the resolutions, go into the demo database
(so `/report` draws an equity curve, a drawdown and calibration from the first minute).

The app itself starts from the paper bankroll with nothing held (the replay's fills are not its
own), so the curve kept is the replay's before the operator's day began, moved to end at the
bankroll: the day's starting equity the app reads back is then what it holds, and `/status`
opens at "Today $0.00" instead of the replay's last hours counted as the app's loss or gain.
Everything shown is labelled synthetic in the README; nothing here is a claim about any
strategy's edge.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import insert

from polysim.synthetic.backtest import synthetic_history
from trader.backtest.feed import FillModel, synthesise_book
from trader.backtest.history import History
from trader.backtest.kernel import BacktestConfig, run_backtest
from trader.backtest.recorded import history_with_recording, load_recording
from trader.backtest.results import BacktestRun, ForecastSample
from trader.clock import FakeClock
from trader.config import Settings
from trader.control.types import PnlPeriod
from trader.domain import Resolution
from trader.execution.accounts import period_start
from trader.execution.runtime import risk_limits_from_settings
from trader.recording.recorder import Recorder, RecorderConfig
from trader.recording.store import ParquetStore
from trader.signals.records import ForecastRecord
from trader.signals.runtime import signal_runtime_config
from trader.signals.values import Forecast, Source
from trader.store.db import create_engine, session_factory
from trader.store.tables import EquitySnapshotRow, ForecastRow
from trader.store.trading import MarketRepository

DAYS = 4
MARKETS = 16
REPLAY_CYCLE_S = 3600
# the synthetic world's edges are small: the replay trades at one point of edge (sizing and
# risk), where the demo's live settings ask for more
REPLAY_MIN_EDGE = Decimal("0.01")
HOUR = timedelta(hours=1)
SNAPSHOT_STEP = timedelta(minutes=5)  # EQUITY_SNAPSHOT_S's default


async def open_with_history(settings: Settings, now: datetime, days: int = DAYS) -> str | None:
    """Record and replay `days` synthetic days ending at `now`; a line saying what was done,
    or None when the recording was there already."""
    root = settings.recorder_dir
    if ParquetStore(root).days("books"):
        return None
    start = now - timedelta(days=days)
    world = synthetic_history(start, days, markets=MARKETS)
    clock = FakeClock(start)
    recorder = Recorder(RecorderConfig(root=root, queue_max=1_000_000), clock)
    await _record(world, recorder, clock, now)
    history = history_with_recording(load_recording(root, start, now))
    config = BacktestConfig(
        start=start,
        end=now,
        bankroll=settings.paper_bankroll_usd,
        cycle_s=REPLAY_CYCLE_S,
        forecasts="heuristic",
        strategy="llm_edge",
        signals=replace(
            signal_runtime_config(settings), min_liquidity=Decimal(0), min_edge=REPLAY_MIN_EDGE
        ),
        limits=replace(risk_limits_from_settings(settings), min_edge=REPLAY_MIN_EDGE),
    )
    run = await run_backtest(history, config)
    for sample in run.forecasts:
        recorder.forecast(_record_of(sample))
    await recorder.flush()
    await _keep(settings, history, run)
    return (
        f"[demo] replayed {days} days of recorded (synthetic) history: {len(history.markets)}"
        f" markets, {len(run.fills)} fills, {len(run.forecasts)} forecasts; /report and"
        f" /backtest llm_edge {days} draw from it"
    )


async def _record(world: History, recorder: Recorder, clock: FakeClock, now: datetime) -> None:
    model, shown = FillModel(), 0
    at = clock.now()
    while at <= now:
        clock.set(at)
        recorder.markets(m.market for m in world.markets if m.open_at(at))
        fresh = world.news_by(at)[shown:]
        recorder.news(fresh)
        shown += len(fresh)
        for item in world.markets:
            if item.resolved_at is not None and at - HOUR < item.resolved_at <= at:
                payouts = item.payouts or {}
                recorder.resolution(Resolution(item.market.condition_id, payouts, at))
            if not item.open_at(at):
                continue
            for token in item.market.tokens:
                price = world.price_at(token.token_id, at)
                if price is not None:
                    recorder.book(synthesise_book(token.token_id, price, item.market, model, at))
        at += HOUR
    await recorder.flush()


def _record_of(sample: ForecastSample) -> ForecastRecord:
    return ForecastRecord(
        timestamp=sample.at,
        forecast=Forecast(
            market=sample.market,
            model_probability=sample.blend,
            market_probability=sample.market_price,
            confidence=Decimal("0.5"),
            dispersion=Decimal(0),
            source=Source(sample.source),
            rationale="demo replay of the synthetic history",
            sources=(),
            samples=1,
            aggregate=sample.model,
        ),
        decision=sample.decision,
        reason="demo replay",
    )


async def _keep(settings: Settings, history: History, run: BacktestRun) -> None:
    """The replay's equity curve and scored forecasts into the demo database."""
    engine = create_engine(settings.database_url)
    sessions = session_factory(engine)
    try:
        clock = FakeClock(run.config.end)
        await MarketRepository(sessions, clock).upsert_many([m.market for m in history.markets])
        snapshots = _curve_before_today(settings, run)
        forecasts = [_forecast_row(f, history, run.config.end) for f in run.forecasts]
        async with sessions.begin() as session:
            if snapshots:
                await session.execute(insert(EquitySnapshotRow), snapshots)
            rows = [row for row in forecasts if row is not None]
            if rows:
                await session.execute(insert(ForecastRow), rows)
    finally:
        await engine.dispose()


def _curve_before_today(settings: Settings, run: BacktestRun) -> list[dict[str, object]]:
    """The replay's equity before the operator's day began, moved (equity and cash alike) so
    that it ends at the bankroll the app starts from. Each hourly cycle's equity is held, one
    snapshot every `SNAPSHOT_STEP` (the app's default interval), until the next cycle: the
    report reads liveness from the snapshots' spacing, and hourly ones would read as down."""
    day_start = period_start(PnlPeriod.DAY, run.config.end, settings.zone)
    kept = [c for c in run.cycles if c.at < day_start]
    if not kept:
        return []
    shift = settings.paper_bankroll_usd - kept[-1].equity
    rows: list[dict[str, object]] = []
    for cycle, following in zip(kept, [*kept[1:], None], strict=True):
        until = day_start if following is None else min(following.at, day_start)
        at = cycle.at
        while at < until:
            rows.append(
                {
                    "ts": at,
                    "equity": cycle.equity + shift,
                    "cash": cycle.cash + shift,
                    "exposure": cycle.exposure,
                    "drawdown": Decimal(0),
                }
            )
            at += SNAPSHOT_STEP
    return rows


def _forecast_row(
    sample: ForecastSample, history: History, end: datetime
) -> dict[str, object] | None:
    item = next((m for m in history.markets if m.market.condition_id == sample.market), None)
    yes = item.market.token("Yes") if item is not None else None
    if item is None or yes is None:
        return None
    row: dict[str, object] = {
        "market": sample.market,
        "token_id": yes.token_id,
        "model_probability": sample.blend,
        "model": "heuristic",
        "source": sample.source,
        "created_at": sample.at,
        "market_price": sample.market_price,
        "confidence": Decimal("0.5"),
        "aggregate": sample.model,
        "decision": sample.decision[:8],
        "reason": "demo replay",
        "rationale": "",
        "sources": [],
        "resolved_outcome": None,
        "resolved_at": None,
        "brier_model": None,
        "brier_market": None,
    }
    if item.payouts is not None and item.resolved_at is not None:
        outcome = item.payouts.get(yes.token_id)
        if outcome is not None and item.resolved_at <= end:
            row.update(
                resolved_outcome=outcome,
                resolved_at=item.resolved_at,
                brier_model=(sample.blend - outcome) ** 2,
                brier_market=(sample.market_price - outcome) ** 2,
            )
    return row

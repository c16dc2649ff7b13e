"""Backtest throughput: market evaluations per second, for 30 days x 200 markets.

A full 30-day run at the default 30-minute cycle is 1,441 cycles x 200 markets = 288,200
evaluations, minutes of work on a shared machine, so the bench runs the same 200-market
synthetic history (polysim.synthetic.backtest) for MEASURED_HOURS only, measures evaluations per
second of wall time (the kernel's set-up, migrations included, counted in) and per CPU second of
this process (SQLite's worker threads included), and extrapolates the
30-day wall time linearly from that rate; the labels say so. Linear is an assumption: a cycle's
cost is dominated by the 200 markets it evaluates, which does not change with the day, while the
reconciliation's work grows a little with the fills held. Both forecast modes run: the offline
heuristic (with the history's news) and forecasts replayed from a recorded database (one per
market per six hours). Target: at least 1,000 evaluations per second, so that 30 days x 200
markets replays in under five minutes.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from polysim.synthetic.backtest import synthetic_history
from tests.support.backtest_history import record_forecasts
from trader.backtest.history import History
from trader.backtest.kernel import BacktestConfig, run_backtest
from trader.signals.runtime import SignalRuntimeConfig
from trader.store.db import create_engine, session_factory
from trader.store.migrate import upgrade_async

MARKETS = 200
DAYS = 30
CYCLE_S = 1800
MEASURED_HOURS = 12
TARGET = 1_000.0
START = datetime(2026, 3, 1, tzinfo=UTC)


async def _forecast_db(history: History, folder: Path) -> str:
    url = f"sqlite+aiosqlite:///{folder / 'recorded.db'}"
    await upgrade_async(url)
    engine = create_engine(url)
    try:
        rows = [
            (item, START + timedelta(hours=hour), Decimal("0.62") if hour % 12 else Decimal("0.4"))
            for item in history.markets
            for hour in range(-6, MEASURED_HOURS, 6)
        ]
        await record_forecasts(session_factory(engine), rows)
    finally:
        await engine.dispose()
    return url


async def _rate(history: History, config: BacktestConfig) -> tuple[float, int, float, float]:
    """(evaluations per wall second, evaluations, wall s, this process's CPU s)."""
    started, cpu = time.perf_counter(), time.process_time()
    run = await run_backtest(history, config)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    return run.evaluations / elapsed, run.evaluations, elapsed, cpu


async def _measure() -> dict[str, float | str]:
    history = synthetic_history(START, DAYS, MARKETS)
    base = BacktestConfig(
        start=START,
        end=START + timedelta(hours=MEASURED_HOURS),
        cycle_s=CYCLE_S,
        signals=SignalRuntimeConfig(max_markets=MARKETS),
    )
    figures: dict[str, float | str] = {}
    full = (DAYS * 86_400 // CYCLE_S + 1) * MARKETS
    with tempfile.TemporaryDirectory() as folder:
        url = await _forecast_db(history, Path(folder))
        for mode in ("heuristic", "replay"):
            config = BacktestConfig(
                start=base.start,
                end=base.end,
                cycle_s=CYCLE_S,
                signals=base.signals,
                forecasts="replay" if mode == "replay" else "heuristic",
                forecast_database=url if mode == "replay" else None,
            )
            rate, evaluations, elapsed, cpu = await _rate(history, config)
            figures[f"{mode}: evaluations/s ({MARKETS} markets, {MEASURED_HOURS} h measured)"] = (
                round(rate, 1)
            )
            figures[f"{mode}: evaluations measured"] = float(evaluations)
            figures[f"{mode}: measured wall s"] = round(elapsed, 1)
            # on a loaded machine wall time waits for the CPU; this is the work itself
            figures[f"{mode}: evaluations per CPU second of this process"] = round(
                evaluations / cpu, 1
            )
            figures[
                f"{mode}: {DAYS} d x {MARKETS} markets wall s (extrapolated, {full:,} evaluations)"
            ] = round(full / rate, 0)
    figures["target evaluations/s"] = TARGET
    return figures


def run() -> dict[str, float | str]:
    return asyncio.run(_measure())


if __name__ == "__main__":
    for key, value in run().items():
        print(f"{key}: {value:,}" if isinstance(value, float) else f"{key}: {value}")

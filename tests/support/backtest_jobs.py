"""Backtest jobs for the chat tests: a real `BacktestJobs` over a cached venue history of the
two markets in `backtest_history.two_markets`, as the Telegram and hub rigs both run it."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from tests.support.backtest_history import START, two_markets
from trader.backtest.history import history_to_json
from trader.backtest.job import BacktestJobs
from trader.clock import FakeClock
from trader.config import load_settings


def two_day_jobs(tmp_path: Path) -> tuple[BacktestJobs, FakeClock]:
    """Jobs whose clock stands two days after START, the history cached in `tmp_path`, and no
    recording; the caller closes them."""
    cache = tmp_path / "venue.json"
    cache.write_text(json.dumps(history_to_json(two_markets())))
    settings = load_settings(
        None,
        backtest_history_cache=cache,
        recorder_dir=tmp_path / "no-recording",
        signal_cycle_s=1800,  # two days: 97 cycles, long enough to be seen running
        max_order_notional_usd=Decimal(50),
    )
    clock = FakeClock(START + timedelta(days=2))
    return BacktestJobs(settings, clock, tmp_path / "backtests"), clock

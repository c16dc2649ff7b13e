"""`trader backtest`: run one from the settings and a history file, or compare two runs.

Writes `<out>/backtest-<from>-<to>-<strategy>.json` (the summary, `results.summarise`) and the
PNG beside it, and prints the headline figures. Bad input (an unreadable history, a window
that is empty, an unknown strategy) is one line on stderr and exit status 2; nothing is written.
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from trader.backtest.feed import FillModel
from trader.backtest.history import History, HistoryError, load_history
from trader.backtest.kernel import BacktestConfig, BacktestError, ForecastMode, run_backtest
from trader.backtest.results import compare, summarise
from trader.backtest.signals import LLMBacktestConfig
from trader.config import Settings, VenueConfig
from trader.execution.runtime import risk_limits_from_settings
from trader.signals.runtime import signal_runtime_config
from trader.stages import parse_stage_setting
from trader.venue.base import VenueError

EXIT_BAD_INPUT = 2
RECORDED_BEFORE = timedelta(days=1)  # books and news read from this long before --from
EXIT_VENUE = 3


def backtest_config(
    settings: Settings,
    *,
    start: datetime,
    end: datetime,
    strategy: str | None,
    forecasts: ForecastMode,
    bankroll: Decimal | None,
    forecast_database: str | None,
    fill_model: FillModel,
) -> BacktestConfig:
    return BacktestConfig(
        start=start,
        end=end,
        bankroll=bankroll if bankroll is not None else settings.paper_bankroll_usd,
        cycle_s=settings.signal_cycle_s,
        strategy=strategy,
        forecasts=forecasts,
        forecast_database=forecast_database,
        llm=llm_config(settings) if forecasts == "llm" else None,
        fill_model=fill_model,
        signals=signal_runtime_config(settings),
        limits=risk_limits_from_settings(settings),
        stages=parse_stage_setting(settings.strategy_stages),
    )


def llm_config(settings: Settings) -> LLMBacktestConfig | None:
    """The model `llm` mode calls, or None without a key or a training cut-off."""
    if settings.anthropic_api_key is None or settings.llm_training_cutoff is None:
        return None
    return LLMBacktestConfig(
        api_key=settings.anthropic_api_key,
        training_cutoff=settings.llm_training_cutoff,
        base_url=settings.anthropic_base_url,
        analysis_model=settings.llm_analysis_model,
        triage_model=settings.llm_triage_model,
        timeout_s=settings.llm_timeout_s,
        concurrency=settings.llm_concurrency,
    )


def run_command(
    config: BacktestConfig,
    history_path: Path | None,
    out: Path,
    *,
    png: bool = True,
    fetch_from: VenueConfig | None = None,
    recorded: Path | None = None,
) -> int:
    """`fetch_from`: first bring the cache at `history_path` up to date from that venue.
    `recorded`: the recorder's directory, merged into the history (or the history alone)."""
    try:
        history = _history(config, history_path, fetch_from, recorded)
        run = asyncio.run(run_backtest(history, config))
    except (HistoryError, BacktestError) as error:
        print(f"backtest: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except VenueError as error:
        print(f"backtest: fetching the history from the venue failed: {error}", file=sys.stderr)
        return EXIT_VENUE
    summary = summarise(run)
    name = f"backtest-{config.start:%Y%m%d}-{config.end:%Y%m%d}-{config.strategy or 'staged'}"
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / f"{name}.json"
    json_path.write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n")
    print(headline(summary))
    print(f"written: {json_path}")
    if png:
        from trader.backtest.chart import render_png

        names = [p.name for p in (history_path, recorded) if p is not None]
        source = " + ".join(names)
        print(f"written: {render_png(summary, out / f'{name}.png', source=source)}")
    return 0


def _history(
    config: BacktestConfig,
    history_path: Path | None,
    fetch_from: VenueConfig | None,
    recorded: Path | None,
) -> History:
    history = None
    if fetch_from is not None and history_path is not None:
        history = asyncio.run(fetch_venue_history(fetch_from, config, history_path))
    elif history_path is not None:
        history = load_history(history_path)
    if recorded is not None:
        from trader.backtest.recorded import describe, history_with_recording, load_recording

        if not recorded.is_dir():
            raise HistoryError(f"{recorded}: no recording there (RECORDER_DIR)")
        recording = load_recording(recorded, config.start - RECORDED_BEFORE, config.end)
        print(describe(recording))
        history = history_with_recording(recording, history)
    if history is None:
        raise HistoryError("no history: give --history, --fetch or --recorded")
    return history


async def fetch_venue_history(venue: VenueConfig, config: BacktestConfig, cache: Path) -> History:
    """The venue's markets and prices over the window, through the SDK, via the cache."""
    from trader.backtest.fetch import fetch_history
    from trader.clock import SystemClock
    from trader.venue.polymarket.history import PolymarketHistory
    from trader.wiring import endpoints

    async with PolymarketHistory(clock=SystemClock(), endpoints=endpoints(venue)) as port:
        history, fetched = await fetch_history(
            port,
            start=config.start,
            end=config.end + timedelta(seconds=config.cycle_s),
            cache=cache,
        )
    print(f"history: {len(history.markets)} markets, {fetched} new price points -> {cache}")
    return history


def headline(summary: dict[str, Any]) -> str:
    rate = summary["win_rate"]["rate"]
    brier = summary["brier"]
    return "\n".join(
        [
            f"backtest {summary['window']['from']} .. {summary['window']['to']}"
            f" ({summary['strategy']}, forecasts {summary['forecasts']})",
            f"PnL {summary['pnl']} on {summary['bankroll']} (return {summary['return']}),"
            f" max drawdown {summary['max_drawdown']}",
            f"{summary['trades']} fills, fees {summary['fees_paid']},"
            f" turnover {summary['turnover']}, win rate {rate if rate is not None else '-'}",
            f"Brier on {brier['markets']} resolved markets: model {brier['model']},"
            f" market {brier['market']}, blend {brier.get('blend')}",
            f"{summary['market_evaluations']} market evaluations in {summary['cycles']} cycles",
            *summary.get("notes", []),
        ]
    )


def compare_command(left: Path, right: Path) -> int:
    try:
        loaded = [json.loads(path.read_text()) for path in (left, right)]
    except (OSError, json.JSONDecodeError) as error:
        print(f"backtest --compare: cannot read a run: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(compare(loaded[0], loaded[1], (left.stem, right.stem)))
    return 0

"""Reports, charts, backtests and the signal cycle as the chat sees them: the chart kinds, a
report's text and image, a backtest's progress and its runner, and the last cycle's view of
each market with the Brier scores.

Plain frozen values over `trader.domain`, and the `BacktestRunner` port.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Protocol

from trader.domain import ZERO

CHART_KINDS = ("dashboard", "equity", "pnl", "exposure", "llm", "calibration")
MAX_CHART_DAYS = 365


@dataclass(frozen=True, slots=True)
class ReportView:
    text: str
    image_path: Path  # the dashboard PNG


@dataclass(frozen=True, slots=True)
class BacktestStatus:
    """One backtest run from the chat (`/backtest`), as far as it got. `state`: "running",
    "done" or "failed"; `lines`: the headline figures once done, the reason once failed."""

    job_id: str
    strategy: str
    days: int
    state: str
    cycles_done: int = 0
    cycles_total: int = 0
    lines: tuple[str, ...] = ()
    image_path: Path | None = None  # the backtest's PNG, once done

    @property
    def finished(self) -> bool:
        return self.state != "running"


class BacktestRunner(Protocol):
    """Backtests in a separate process (`trader.backtest.job`): one at a time."""

    def start(self, strategy: str, days: int) -> BacktestStatus:
        """Start one; raises `ControlError` (with the reason) when it cannot."""
        ...

    def status(self, job_id: str) -> BacktestStatus: ...


@dataclass(frozen=True, slots=True)
class MarketSignal:
    """What the last signal cycle decided about one market, and why."""

    market: str
    question: str
    decision: str  # "trade" or "skip"
    reason: str
    model_probability: Decimal | None = None  # YES, from the model
    market_probability: Decimal | None = None  # the YES book's mid
    edge: Decimal | None = None  # per share at the best ask of the side considered, after fees
    source: str = ""  # "llm", "heuristic", or "" when nothing was analysed
    analysis: str = ""  # which analysis ran, and why
    screen: str = ""  # the triage model's decision and reason; "" when no screen ran
    screen_cost: Decimal = ZERO
    retrieval: str = ""  # what the news search found and what failed; "" when it did not run


@dataclass(frozen=True, slots=True)
class BrierView:
    """Mean Brier scores of resolved forecasts over `days` (lower is better; 0.25 a coin)."""

    days: int
    count: int
    model: Decimal | None
    market: Decimal | None
    blend: Decimal | None
    blend_count: int = 0


@dataclass(frozen=True, slots=True)
class SignalsView:
    """The last completed signal cycle (`ran_at` None: none has completed yet)."""

    model: str  # the primary model: "llm" or "heuristic"
    model_name: str  # the LLM's name; "" for the heuristic
    model_reason: str  # why that model is the primary one
    ran_at: datetime | None = None
    duration_s: float = 0.0
    candidates: int = 0  # markets offered
    selected: int = 0
    analysed: int = 0
    intents: int = 0  # order intents published
    markets: tuple[MarketSignal, ...] = ()
    llm_calls: int = 0
    llm_cost: Decimal = ZERO
    fallbacks: tuple[tuple[str, int], ...] = ()  # (why the heuristic stood in, markets)
    news_error: str = ""  # the news stage failed: markets were triaged without news
    last_error: str = ""  # the latest cycle failed; the view is of the one before it
    cost_per_analysed: Decimal | None = None  # LLM cost / markets that reached the analysis
    screened_out: int = 0  # markets the triage model kept from the deep analysis
    screen_cost: Decimal = ZERO
    brier: BrierView | None = None  # resolved forecasts: model, market, blend
    calibration: str = ""  # the calibration and blend weight in force, with their sample size

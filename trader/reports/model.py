"""The typed content of the daily report: what the text and the charts are made from.

Money is `Decimal` (exact, summed in Python), timestamps are timezone-aware UTC, and a day is
the operator's calendar day (`DayWindow`), whose length is 23, 24 or 25 hours. Nothing here
does I/O; `trader.reports.queries` fills these from the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from trader.domain import ZERO, DrawdownMode, TradingState


class ChartKind(StrEnum):
    DASHBOARD = "dashboard"
    EQUITY = "equity"
    PNL = "pnl"
    EXPOSURE = "exposure"
    LLM = "llm"
    CALIBRATION = "calibration"


@dataclass(frozen=True, slots=True)
class DayWindow:
    """One operator day as a UTC half-open interval [start, end)."""

    day: date
    start: datetime
    end: datetime
    zone: str  # the IANA name, for the text

    @property
    def hours(self) -> float:
        return (self.end - self.start) / timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class TradeSummary:
    count: int = 0  # fills, settlements excluded
    buys: int = 0
    sells: int = 0
    value: Decimal = ZERO  # price x size of those fills
    fees: Decimal = ZERO
    realized: Decimal = ZERO  # sells and settlements in the day
    settlements: int = 0


@dataclass(frozen=True, slots=True)
class ExpectedPnl:
    """(model probability - price) x size - fee over the day's buys that had a forecast."""

    value: Decimal = ZERO
    forecasted: int = 0
    unforecasted: int = 0


@dataclass(frozen=True, slots=True)
class PositionLine:
    token_id: str
    market: str
    question: str
    outcome: str
    size: Decimal
    average_price: Decimal
    mark: Decimal | None
    mark_source: str  # "live" (the mid), "forecast", "fill" or "" (no mark: valued at cost)
    value: Decimal  # "live": realisable (bids walked, net of fee); else size x mark
    unrealized: Decimal


@dataclass(frozen=True, slots=True)
class EquityState:
    at: datetime
    equity: Decimal
    cash: Decimal
    exposure: Decimal
    drawdown: Decimal  # a fraction below peak equity
    mode: DrawdownMode
    day_pnl: Decimal | None  # equity at the day's end - at the previous day's end


@dataclass(frozen=True, slots=True)
class WinRate:
    days: int
    wins: int = 0
    losses: int = 0

    @property
    def rate(self) -> Decimal | None:
        total = self.wins + self.losses
        return Decimal(self.wins) / Decimal(total) if total else None


@dataclass(frozen=True, slots=True)
class ForecastScore:
    resolved_in_day: int = 0
    days: int = 30
    scored: int = 0  # resolved in the last `days` days, with a market price to compare
    model_brier: Decimal | None = None
    market_brier: Decimal | None = None
    blend_brier: Decimal | None = None
    blend_scored: int = 0
    fit: str = ""  # the calibration and blend weight in force, with their sample size


@dataclass(frozen=True, slots=True)
class LlmLine:
    model: str
    calls: int
    failed: int
    input_tokens: int
    output_tokens: int
    cache_tokens: int
    cost: Decimal

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens + self.cache_tokens


@dataclass(frozen=True, slots=True)
class AlertSummary:
    total: int = 0
    critical: int = 0
    warning: int = 0
    info: int = 0
    titles: tuple[str, ...] = ()  # the most severe first, a few at most


@dataclass(frozen=True, slots=True)
class Uptime:
    """Liveness from the equity snapshots the trader writes every few minutes."""

    fraction: Decimal | None  # None: no snapshot in or just before the day
    down: timedelta = timedelta(0)
    longest_gap: timedelta = timedelta(0)
    longest_gap_at: datetime | None = None
    restarts: int = 0
    heartbeats: tuple[tuple[str, float], ...] = ()  # (component, age in seconds) now


@dataclass(frozen=True, slots=True)
class Attention:
    """What needs the operator now."""

    trading_state: TradingState = TradingState.RUNNING
    state_reason: str = ""
    pending_approvals: tuple[str, ...] = ()
    reconciliation: tuple[str, ...] = ()  # differences found since the day started
    stale_heartbeats: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class EquityPoint:
    at: datetime
    equity: Decimal
    peak: Decimal


@dataclass(frozen=True, slots=True)
class CalibrationBin:
    low: Decimal
    high: Decimal
    mean_probability: Decimal
    frequency: Decimal  # share that resolved YES (payout 1; a split counts 0.5)
    count: int


@dataclass(frozen=True, slots=True)
class Calibration:
    resolved: int = 0
    minimum: int = 20
    model: tuple[CalibrationBin, ...] = ()
    market: tuple[CalibrationBin, ...] = ()
    model_brier: Decimal | None = None
    market_brier: Decimal | None = None

    @property
    def enough(self) -> bool:
        return self.resolved >= self.minimum


@dataclass(frozen=True, slots=True)
class ChartSeries:
    """What the charts draw, over [start, end) (the window ends with the report's day)."""

    start: datetime
    end: datetime
    zone: str
    equity: tuple[EquityPoint, ...] = ()
    daily_pnl: tuple[tuple[date, Decimal], ...] = ()
    exposure: tuple[tuple[str, Decimal], ...] = ()  # (market title, value at mark), largest first
    llm_cost: dict[str, tuple[tuple[date, Decimal], ...]] = field(default_factory=dict)
    calibration: Calibration = field(default_factory=Calibration)


@dataclass(frozen=True, slots=True)
class ReportData:
    window: DayWindow
    generated_at: datetime
    trades: TradeSummary
    expected: ExpectedPnl
    positions: tuple[PositionLine, ...]
    equity: EquityState | None
    win_rate: WinRate
    forecasts: ForecastScore
    llm: tuple[LlmLine, ...]
    alerts: AlertSummary
    uptime: Uptime
    attention: Attention
    series: ChartSeries

    @property
    def unrealized(self) -> Decimal:
        return sum((p.unrealized for p in self.positions), ZERO)

    @property
    def llm_cost(self) -> Decimal:
        return sum((line.cost for line in self.llm), ZERO)

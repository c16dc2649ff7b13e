"""Gather `ReportData` for one operator day from the database (read only).

The day's figures cover the operator's calendar day [start, end). The state figures are as
of the report: equity and drawdown at the day's end (or now, for today), open positions, and
what needs the operator (trading state, pending approvals, reconciliation differences since
the day began, stale heartbeats) now. Marks come from a live `MarkSource` when the app has
one (the portfolio), else from the latest forecast's market price, else the last fill. A
live position is valued at what selling it would realise (the portfolio's `exit_value`: its
bids walked for the size, net of the taker fee), the live mark shown beside it being the mid.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from trader.domain import ZERO, Fill, Side
from trader.execution.ledger import Realization, replay
from trader.execution.risk import drawdown_mode
from trader.reports import queries
from trader.reports.attention import attention
from trader.reports.metrics import (
    EquitySeries,
    blend_score,
    calibration_bins,
    day_window,
    local_midnight,
    scores,
    top_with_other,
    truncate,
    uptime,
)
from trader.reports.model import (
    Calibration,
    ChartSeries,
    DayWindow,
    EquityState,
    ForecastScore,
    PositionLine,
    ReportData,
    TradeSummary,
    Uptime,
    WinRate,
)
from trader.signals.pooling import Calibration as FittedCalibration
from trader.signals.refit import STATE_KEY as FIT_KEY
from trader.state import RiskLimits, SettingError
from trader.store.tables import PositionRow

EXPOSURE_LABEL = 34


class MarkSource(Protocol):
    """Live marks (the execution portfolio implements it)."""

    def mark_price(self, token_id: str) -> Decimal | None:
        """The display mark (the book's mid)."""
        ...

    def exit_value(self, token_id: str) -> Decimal | None:
        """What the held position would realise if sold now (None: none is held)."""
        ...


@dataclass(frozen=True, slots=True)
class ReportOptions:
    window_days: int = 30  # the charts' window, ending with the report's day
    win_rate_days: int = 30
    brier_days: int = 30
    calibration_days: int = 90
    calibration_minimum: int = 20  # resolved forecasts before the calibration chart is drawn
    heartbeat_gap: timedelta = timedelta(minutes=15)  # 3 x the default snapshot interval
    heartbeat_stale_s: float = 120.0
    exposure_top: int = 10

    def __post_init__(self) -> None:
        if not 1 <= self.window_days <= 3660:
            raise ValueError("window_days must be between 1 and 3660")


async def collect(
    sessions: async_sessionmaker[AsyncSession],
    *,
    now: datetime,
    zone: ZoneInfo,
    day: date,
    options: ReportOptions | None = None,
    marks: MarkSource | None = None,
) -> ReportData:
    opts = options or ReportOptions()
    window = day_window(day, zone)
    async with sessions() as session:
        fills = await queries.fills_before(session, window.end)
        _, realizations = replay(fills)
        day_fills = [f for f in fills if window.start <= f.timestamp < window.end]
        expected = await queries.expected_pnl(session, queries.buy_fills(day_fills))
        positions = await _positions(session, fills, marks)
        series, equity_series, samples = await _equity(session, window, zone, opts)
        state = await _equity_state(session, window, now, equity_series)
        forecasts, calibration = await _forecasts(session, window, opts)
        restarts = await queries.event_count(session, "startup", window.start, window.end)
        heartbeats = await queries.heartbeat_ages(session, now)
        needs = await attention(session, window, now, zone, heartbeats, opts.heartbeat_stale_s)
        llm = await queries.llm_lines(session, window)
        llm_cost = await queries.llm_cost_by_day(session, series.start, window.end, zone)
        alerts = await queries.alert_summary(session, window)
    win_start = local_midnight(day - timedelta(days=opts.win_rate_days - 1), zone)
    exposure = top_with_other(
        (
            (truncate(p.question or p.market or p.token_id, EXPOSURE_LABEL), p.value)
            for p in positions
        ),
        opts.exposure_top,
    )
    return ReportData(
        window=window,
        generated_at=now,
        trades=_trades(day_fills, realizations, window),
        expected=expected,
        positions=positions,
        equity=state,
        win_rate=_win_rate(realizations, win_start, window.end, opts.win_rate_days),
        forecasts=forecasts,
        llm=llm,
        alerts=alerts,
        uptime=_uptime(samples, window, now, opts, restarts, heartbeats),
        attention=needs,
        series=ChartSeries(
            start=series.start,
            end=series.end,
            zone=zone.key,
            equity=series.equity,
            daily_pnl=series.daily_pnl,
            exposure=exposure,
            llm_cost=llm_cost,
            calibration=calibration,
        ),
    )


def _trades(
    day_fills: Sequence[Fill], realizations: Sequence[Realization], window: DayWindow
) -> TradeSummary:
    trades = [f for f in day_fills if not queries.is_settlement(f)]
    realized = sum((r.pnl for r in realizations if window.start <= r.at < window.end), ZERO)
    return TradeSummary(
        count=len(trades),
        buys=sum(1 for f in trades if f.side is Side.BUY),
        sells=sum(1 for f in trades if f.side is Side.SELL),
        value=sum((f.price * f.size for f in trades), ZERO),
        fees=sum((f.fee for f in trades), ZERO),
        realized=realized,
        settlements=len(day_fills) - len(trades),
    )


def _win_rate(
    realizations: Sequence[Realization], start: datetime, end: datetime, days: int
) -> WinRate:
    pnls = [r.pnl for r in realizations if start <= r.at < end]
    wins = sum(1 for pnl in pnls if pnl > ZERO)
    return WinRate(days=days, wins=wins, losses=len(pnls) - wins)


async def _positions(
    session: AsyncSession, fills: Sequence[Fill], marks: MarkSource | None
) -> tuple[PositionLine, ...]:
    rows = [r for r in (await session.scalars(select(PositionRow))).all() if r.size != ZERO]
    names = await queries.questions(session, [r.market for r in rows if r.market])
    from_forecasts = await queries.forecast_marks(session, [r.token_id for r in rows])
    last_fill = {f.token_id: f.price for f in fills if not queries.is_settlement(f)}
    lines: list[PositionLine] = []
    for row in rows:
        mark, source = _mark(row.token_id, marks, from_forecasts, last_fill)
        price = row.average_price if mark is None else mark
        value = row.size * price
        realisable = marks.exit_value(row.token_id) if marks is not None else None
        if source == "live" and realisable is not None:
            value = realisable  # the live bids walked for the size, net of the sale's fee
        lines.append(
            PositionLine(
                token_id=row.token_id,
                market=row.market,
                question=names.get(row.market, ""),
                outcome=row.outcome,
                size=row.size,
                average_price=row.average_price,
                mark=mark,
                mark_source=source,
                value=value,
                unrealized=value - row.average_price * row.size,
            )
        )
    return tuple(sorted(lines, key=lambda line: (-line.value, line.token_id)))


def _mark(
    token: str,
    live: MarkSource | None,
    forecasts: dict[str, Decimal],
    fills: dict[str, Decimal],
) -> tuple[Decimal | None, str]:
    price = live.mark_price(token) if live is not None else None
    if price is not None:
        return price, "live"
    if token in forecasts:
        return forecasts[token], "forecast"
    if token in fills:
        return fills[token], "fill"
    return None, ""


async def _equity(
    session: AsyncSession, window: DayWindow, zone: ZoneInfo, opts: ReportOptions
) -> tuple[ChartSeries, EquitySeries, list[datetime]]:
    """Stream the chart window's snapshots once: the curve, daily PnL and uptime samples."""
    first_day = window.day - timedelta(days=opts.window_days - 1)
    start = local_midnight(first_day, zone)
    series = EquitySeries(zone, start, window.end)
    samples: list[datetime] = []
    prior = await queries.snapshot_before(session, start)
    if prior is not None:
        series.add(prior.ts, prior.equity, prior.drawdown)
        samples.append(prior.ts)
    for at, amount in await queries.cash_flows(session, start, window.end):
        series.flow(at, amount)
    async for partition in queries.stream(session, queries.equity_rows(start, window.end)):
        for at, equity, drawdown in partition:
            series.add(at, equity, drawdown)
            if at >= window.start:
                samples.append(at)
            elif samples:
                samples[-1] = at  # only the last sample before the day matters
            else:
                samples.append(at)
    chart = ChartSeries(
        start=start,
        end=window.end,
        zone=zone.key,
        equity=series.points(),
        daily_pnl=series.daily_pnl(first_day),
    )
    return chart, series, samples


async def _equity_state(
    session: AsyncSession, window: DayWindow, now: datetime, series: EquitySeries
) -> EquityState | None:
    as_of = min(now + timedelta(microseconds=1), window.end)
    row = await queries.snapshot_before(session, as_of)
    if row is None:
        return None
    values = await queries.control_values(session, "risk_limits")
    try:
        limits = RiskLimits.from_json(values.get("risk_limits"))
    except SettingError:
        limits = RiskLimits()
    day_pnl = dict(series.daily_pnl(window.day)).get(window.day)
    return EquityState(
        at=row.ts,
        equity=row.equity,
        cash=row.cash,
        exposure=row.exposure,
        drawdown=row.drawdown,
        mode=drawdown_mode(row.drawdown, limits),
        day_pnl=day_pnl,
    )


async def _forecasts(
    session: AsyncSession, window: DayWindow, opts: ReportOptions
) -> tuple[ForecastScore, Calibration]:
    longest = max(opts.calibration_days, opts.brier_days)
    rows = await queries.resolved_forecasts(
        session, window.end - timedelta(days=longest), window.end
    )
    brier_start = window.end - timedelta(days=opts.brier_days)
    cal_start = window.end - timedelta(days=opts.calibration_days)
    recent = [r for at, r in rows if at >= brier_start]
    scored, model, market = scores(recent)
    blended, blend = blend_score(recent)
    in_day = sum(1 for at, _ in rows if at >= window.start)
    calibrated = [r for at, r in rows if at >= cal_start]
    _, cal_model, cal_market = scores(calibrated)
    calibration = Calibration(
        resolved=len(calibrated),
        minimum=opts.calibration_minimum,
        model=calibration_bins((r.model, r.outcome) for r in calibrated),
        market=calibration_bins((r.market, r.outcome) for r in calibrated if r.market is not None),
        model_brier=cal_model,
        market_brier=cal_market,
    )
    stored = (await queries.control_values(session, FIT_KEY)).get(FIT_KEY)
    score = ForecastScore(
        in_day, opts.brier_days, scored, model, market, blend, blended, _fit(stored)
    )
    return score, calibration


def _fit(stored: object) -> str:
    if not isinstance(stored, dict):
        return ""
    try:
        return FittedCalibration.from_json(stored).describe()
    except (ValueError, KeyError, TypeError):
        return "stored calibration unreadable"


def _uptime(
    samples: list[datetime],
    window: DayWindow,
    now: datetime,
    opts: ReportOptions,
    restarts: int,
    heartbeats: tuple[tuple[str, float], ...],
) -> Uptime:
    end = min(window.end, now)
    return uptime(
        samples, window.start, end, gap=opts.heartbeat_gap, restarts=restarts, heartbeats=heartbeats
    )

"""The report's charts, drawn with matplotlib's object API on the Agg canvas.

No pyplot and no change to matplotlib's global rcParams: every figure is a `Figure` with its
own `FigureCanvasAgg`, so figures can be drawn in worker threads (the app renders with
`asyncio.to_thread`). Import this module from the worker: importing matplotlib the first
time costs a noticeable fraction of a second.

Each panel draws something sensible with no data (a titled panel saying so), with one point,
or with a year of points: dates in the operator's zone with an automatic locator and the
concise formatter, market titles truncated, amounts in USD.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PolyCollection
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from trader.reports.model import ChartKind, ChartSeries, ReportData
from trader.reports.text import percent, signed_usd, usd

DPI = 150
DASHBOARD_SIZE = (7.2, 12.8)  # inches: 1080 x 1920 px, a phone screen in portrait
SINGLE_SIZE = (7.2, 4.8)  # 1080 x 720 px
UP, DOWN, LINE, MUTED = "#2e7d32", "#c62828", "#1565c0", "#757575"
MODEL_COLORS = ("#1565c0", "#ef6c00", "#6a1b9a", "#00838f", "#9e9d24")
MAX_MODELS = 4
DENSE_BARS = 120
TITLE_SIZE, LABEL_SIZE, TICK_SIZE = 10, 8, 7.5
EMPTY_EQUITY = "No equity snapshots in this window yet"
EMPTY_PNL = "No daily PnL in this window yet"
EMPTY_EXPOSURE = "No open positions"
EMPTY_LLM = "No LLM calls in this window"

TITLES = {
    ChartKind.EQUITY: "Equity (USD) and drawdown",
    ChartKind.PNL: "Daily PnL (USD, change in equity)",
    ChartKind.EXPOSURE: "Exposure by market (USD at mark)",
    ChartKind.LLM: "LLM cost per day (USD) by model",
    ChartKind.CALIBRATION: "Calibration: forecast vs outcome",
}


def build_figure(data: ReportData, kind: ChartKind) -> Figure:
    """The figure for `kind` (the dashboard or one chart), not yet drawn to pixels."""
    if kind is ChartKind.DASHBOARD:
        return _dashboard(data)
    figure = Figure(figsize=SINGLE_SIZE, dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    PANELS[kind](figure.add_subplot(), data.series)
    figure.suptitle(plain(_heading(data)), fontsize=TITLE_SIZE + 1, fontweight="bold")
    return figure


def save(figure: Figure, path: Path) -> Path:
    """Write the figure as PNG atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".chart-", suffix=".png", dir=path.parent)
    os.close(handle)
    try:
        figure.savefig(temporary, format="png", dpi=DPI)
        os.chmod(temporary, 0o644)  # mkstemp makes it private; a report image is not secret
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def render(data: ReportData, kind: ChartKind, path: Path) -> Path:
    """Build and save in one call: the function the app runs in a worker thread."""
    return save(build_figure(data, kind), path)


def _heading(data: ReportData) -> str:
    heading = f"Polyops · {data.window.day:%a %d %b %Y}"
    equity = data.equity
    if equity is None:
        return heading
    day = "" if equity.day_pnl is None else f" · day {signed_usd(equity.day_pnl)}"
    return (
        f"{heading}\nEquity {usd(equity.equity)}{day} · drawdown {percent(equity.drawdown)}"
        f" ({equity.mode.value})"
    )


def _dashboard(data: ReportData) -> Figure:
    figure = Figure(figsize=DASHBOARD_SIZE, dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    grid = figure.add_gridspec(5, 1, height_ratios=(1.35, 1.0, 1.15, 1.0, 1.3))
    for row, kind in enumerate(PANELS):
        PANELS[kind](figure.add_subplot(grid[row]), data.series)
    figure.suptitle(plain(_heading(data)), fontsize=TITLE_SIZE + 2, fontweight="bold")
    return figure


# --- shared axes helpers -----------------------------------------------------------------


def plain(text: str) -> str:
    """`text` with its dollar signs escaped: two of them would start mathtext."""
    return text.replace("$", r"\$")


def _tick_usd(value: float, digits: int) -> str:
    sign = "-" if value < 0 else ""
    return plain(f"{sign}${abs(value):,.{digits}f}")


def _usd_axis(ax: Axes, span: float, axis: str = "y") -> None:
    digits = 0 if span >= 20 else 2
    target = ax.yaxis if axis == "y" else ax.xaxis
    target.set_major_formatter(FuncFormatter(lambda value, _: _tick_usd(value, digits)))


def _style(ax: Axes, title: str) -> None:
    ax.set_title(plain(title), fontsize=TITLE_SIZE, loc="left")
    ax.tick_params(labelsize=TICK_SIZE)
    ax.grid(True, alpha=0.25, linewidth=0.6)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _date_axis(ax: Axes, series: ChartSeries) -> None:
    zone = ZoneInfo(series.zone)
    # matplotlib.dates has no type annotations: these calls are checked by the tests
    locator = AutoDateLocator(tz=zone, minticks=3, maxticks=7)  # type: ignore[no-untyped-call]
    formatter = ConciseDateFormatter(locator, tz=zone)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(formatter)
    start, end = _nums([series.start, series.end])
    ax.set_xlim(start, end)


def _nums(times: Sequence[datetime]) -> list[float]:
    """Aware datetimes as matplotlib date numbers (days since the epoch, UTC)."""
    return [float(value) for value in date2num(list(times))]  # type: ignore[no-untyped-call]


def _empty(ax: Axes, title: str, message: str) -> None:
    ax.set_title(plain(title), fontsize=TITLE_SIZE, loc="left")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_color("#dddddd")
    ax.text(
        0.5,
        0.5,
        message,
        ha="center",
        va="center",
        color=MUTED,
        fontsize=LABEL_SIZE + 1,
        transform=ax.transAxes,
        wrap=True,
    )


def _noon(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(12), zone)


def _bars(
    ax: Axes,
    x: Sequence[float],
    heights: Sequence[float],
    bottoms: Sequence[float] | None,
    colors: Sequence[str],
    *,
    label: str | None = None,
) -> None:
    """Day bars as one PolyCollection: a year of them draws in milliseconds, where `ax.bar`
    makes one patch per bar. Past `DENSE_BARS` days the bars touch and are drawn without
    antialiasing: bars under two pixels wide would otherwise shimmer in bands."""
    dense = len(x) > DENSE_BARS
    half = 0.5 if dense else 0.4
    base = bottoms or [0.0] * len(x)
    boxes = [
        [(left - half, low), (left - half, low + h), (left + half, low + h), (left + half, low)]
        for left, h, low in zip(x, heights, base, strict=True)
    ]
    bars = PolyCollection(
        boxes, facecolors=colors, edgecolors="none", antialiased=not dense, label=label
    )
    ax.add_collection(bars, autolim=True)
    ax.autoscale_view()


def _span(values: Sequence[float]) -> float:
    return (max(values) - min(values)) if values else 0.0


# --- panels ------------------------------------------------------------------------------


def equity_panel(ax: Axes, series: ChartSeries) -> None:
    title = TITLES[ChartKind.EQUITY]
    if not series.equity:
        _empty(ax, title, EMPTY_EQUITY)
        return
    times = _nums([p.at for p in series.equity])
    equity = [float(p.equity) for p in series.equity]
    peak = [float(p.peak) for p in series.equity]
    worst = max((1 - e / p for e, p in zip(equity, peak, strict=True) if p > 0), default=0.0)
    ax.fill_between(
        times,
        equity,
        peak,
        where=[e < p for e, p in zip(equity, peak, strict=True)],
        color=DOWN,
        alpha=0.18,
        linewidth=0,
        label="drawdown from peak",
    )
    ax.plot(times, peak, color=DOWN, linewidth=0.8, linestyle=":", label="peak")
    ax.plot(
        times,
        equity,
        color=LINE,
        linewidth=1.4,
        marker="o" if len(times) < 3 else None,
        markersize=3,
        label="equity",
    )
    days = (series.end - series.start) / timedelta(days=1)
    _style(ax, f"{title}: {days:.0f} d, max drawdown {worst:.1%}")
    _date_axis(ax, series)
    _usd_axis(ax, _span(equity + peak))
    ax.legend(fontsize=TICK_SIZE, loc="best", frameon=False)


def pnl_panel(ax: Axes, series: ChartSeries) -> None:
    title = TITLES[ChartKind.PNL]
    if not series.daily_pnl:
        _empty(ax, title, EMPTY_PNL)
        return
    zone = ZoneInfo(series.zone)
    days = _nums([_noon(day, zone) for day, _ in series.daily_pnl])
    values = [float(v) for _, v in series.daily_pnl]
    _bars(ax, days, values, None, [UP if v >= 0 else DOWN for v in values])
    ax.axhline(0, color=MUTED, linewidth=0.8)
    total = sum((v for _, v in series.daily_pnl), Decimal(0))
    _style(ax, f"{title}: total {signed_usd(total)}")
    _date_axis(ax, series)
    _usd_axis(ax, _span([*values, 0.0]))


def exposure_panel(ax: Axes, series: ChartSeries) -> None:
    title = TITLES[ChartKind.EXPOSURE]
    if not series.exposure:
        _empty(ax, title, EMPTY_EXPOSURE)
        return
    labels = [label for label, _ in series.exposure]
    values = [float(value) for _, value in series.exposure]
    positions = list(range(len(labels)))
    bars = ax.barh(positions, values, color=LINE, height=0.7)
    ax.set_yticks(positions, labels=[plain(label) for label in labels], fontsize=TICK_SIZE)
    ax.invert_yaxis()  # largest on top
    ax.bar_label(
        bars, labels=[plain(usd(v)) for _, v in series.exposure], padding=3, fontsize=TICK_SIZE
    )
    ax.set_xlim(0, max(values) * 1.25 if max(values) > 0 else 1)
    total = sum((v for _, v in series.exposure), Decimal(0))
    _style(ax, f"{title}: total {usd(total)}")
    ax.grid(False, axis="y")
    _usd_axis(ax, max(values), axis="x")


def llm_panel(ax: Axes, series: ChartSeries) -> None:
    title = TITLES[ChartKind.LLM]
    if not series.llm_cost:
        _empty(ax, title, EMPTY_LLM)
        return
    zone = ZoneInfo(series.zone)
    stacks = _model_stacks(series.llm_cost)
    all_days = sorted({day for per_day in stacks.values() for day in per_day})
    x = _nums([_noon(day, zone) for day in all_days])
    bottom = [0.0] * len(all_days)
    for index, (model, per_day) in enumerate(stacks.items()):
        heights = [float(per_day.get(day, Decimal(0))) for day in all_days]
        color = MODEL_COLORS[index % len(MODEL_COLORS)]
        _bars(ax, x, heights, bottom, [color] * len(x), label=plain(model))
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    total = sum((c for per_day in stacks.values() for c in per_day.values()), Decimal(0))
    _style(ax, f"{title}: total {usd(total)}")
    _date_axis(ax, series)
    _usd_axis(ax, _span([*bottom, 0.0]))
    ax.set_ylim(0, max(max(bottom) * 1.35, 0.01))  # headroom for the legend
    ax.legend(fontsize=TICK_SIZE, loc="upper left", frameon=False, ncols=2)


def _model_stacks(
    costs: dict[str, tuple[tuple[date, Decimal], ...]],
) -> dict[str, dict[date, Decimal]]:
    """The most expensive models by name, the rest summed as "other"."""
    totals = {model: sum((c for _, c in days), Decimal(0)) for model, days in costs.items()}
    ranked = sorted(totals, key=lambda model: (-totals[model], model))
    keep = ranked if len(ranked) <= MAX_MODELS else ranked[: MAX_MODELS - 1]
    stacks: dict[str, dict[date, Decimal]] = {model: dict(costs[model]) for model in keep}
    rest = [model for model in ranked if model not in keep]
    if rest:
        other: dict[date, Decimal] = {}
        for model in rest:
            for day, cost in costs[model]:
                other[day] = other.get(day, Decimal(0)) + cost
        stacks[f"other ({len(rest)})"] = other
    return stacks


def calibration_panel(ax: Axes, series: ChartSeries) -> None:
    title = TITLES[ChartKind.CALIBRATION]
    calibration = series.calibration
    if not calibration.enough:
        _empty(
            ax,
            title,
            "Not enough resolved forecasts yet\n"
            f"({calibration.resolved} of the {calibration.minimum} needed)",
        )
        return
    ax.plot([0, 1], [0, 1], linestyle="--", color=MUTED, linewidth=0.9, label="perfect")
    for bins, name, brier, color in (
        (calibration.model, "model", calibration.model_brier, LINE),
        (calibration.market, "market", calibration.market_brier, MODEL_COLORS[1]),
    ):
        if not bins:
            continue
        label = name if brier is None else f"{name} (Brier {brier:.3f})"
        ax.plot(
            [float(b.mean_probability) for b in bins],
            [float(b.frequency) for b in bins],
            marker="o",
            markersize=4,
            color=color,
            linewidth=1.3,
            label=label,
        )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("forecast probability", fontsize=LABEL_SIZE)
    ax.set_ylabel("resolved YES", fontsize=LABEL_SIZE)
    _style(ax, f"{title}: {calibration.resolved} resolved")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:.0%}"))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:.0%}"))
    ax.legend(fontsize=TICK_SIZE, loc="upper left", frameon=False)


PANELS: dict[ChartKind, Callable[[Axes, ChartSeries], None]] = {
    ChartKind.EQUITY: equity_panel,
    ChartKind.PNL: pnl_panel,
    ChartKind.EXPOSURE: exposure_panel,
    ChartKind.LLM: llm_panel,
    ChartKind.CALIBRATION: calibration_panel,
}

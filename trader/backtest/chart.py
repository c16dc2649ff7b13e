"""The backtest's phone-sized PNG, in the daily report's style (trader/reports/charts.py).

Drawn from the summary JSON (`results.summarise`), so a saved run can be drawn again: the
figures in words, the equity curve with its drawdown, exposure over time, the Brier scores of
the model, the market and the blend, and their calibration (forecast probability against how
often YES paid, per bin, beside the diagonal). matplotlib's object API on the Agg canvas, no
pyplot; import this module lazily (matplotlib costs a noticeable fraction of a second to
import).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure

from trader.backtest.scoring import SCORED
from trader.reports.charts import (
    DASHBOARD_SIZE,
    DOWN,
    DPI,
    LABEL_SIZE,
    LINE,
    MODEL_COLORS,
    MUTED,
    TITLE_SIZE,
    UP,
    plain,
)

COLORS = {"model": LINE, "market": MUTED, "blend": MODEL_COLORS[1]}
MARKERS = {"model": ("o", "-"), "market": ("s", "--"), "blend": ("^", ":")}  # lines may overlap
LABEL = "Backtest on {source}: not a forecast of live results"


def render_png(summary: dict[str, Any], path: Path, *, source: str = "recorded history") -> Path:
    figure = Figure(figsize=DASHBOARD_SIZE, dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    grid = figure.add_gridspec(5, 1, height_ratios=(1.1, 1.3, 0.8, 0.7, 1.3))
    _figures(figure.add_subplot(grid[0]), summary, LABEL.format(source=source))
    points = summary.get("equity_curve", [])
    times = [datetime.fromisoformat(p["at"]) for p in points]
    _equity(figure.add_subplot(grid[1]), times, points)
    _exposure(figure.add_subplot(grid[2]), times, points)
    _brier(figure.add_subplot(grid[3]), summary.get("brier", {}))
    _calibration(figure.add_subplot(grid[4]), summary.get("calibration", {}))
    window = summary["window"]
    figure.suptitle(
        plain(f"Backtest {window['from'][:10]} to {window['to'][:10]} — {summary['strategy']}"),
        fontsize=TITLE_SIZE + 2,
        fontweight="bold",
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")
    return path


def _style(ax: Axes, title: str) -> None:
    ax.set_title(plain(title), fontsize=TITLE_SIZE, loc="left")
    ax.tick_params(labelsize=7.5)
    ax.grid(True, alpha=0.25, linewidth=0.6)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _figures(ax: Axes, s: dict[str, Any], label: str) -> None:
    ax.axis("off")
    rate = s["win_rate"]["rate"]
    lines = [
        f"PnL ${s['pnl']} ({float(s['return']):+.2%}) on ${s['bankroll']}",
        f"final equity ${s['final_equity']}, max drawdown {float(s['max_drawdown']):.2%}",
        f"{s['trades']} fills, fees ${s['fees_paid']}, turnover ${s['turnover']}",
        f"win rate {'-' if rate is None else f'{float(rate):.0%}'} "
        f"({s['win_rate']['wins']} won, {s['win_rate']['losses']} lost)",
        f"forecasts: {s['forecasts']}; {s['market_evaluations']:,} market evaluations "
        f"in {s['cycles']:,} cycles of {s['cycle_s']} s",
        f"markets resolved: {s['markets_resolved']}",
    ]
    ax.set_title("Figures", fontsize=TITLE_SIZE, loc="left")
    for row, line in enumerate(lines):
        ax.text(0.0, 0.9 - row * 0.14, plain(line), fontsize=LABEL_SIZE + 1, transform=ax.transAxes)
    ax.text(
        0.0,
        0.9 - len(lines) * 0.14,
        plain(label),
        fontsize=LABEL_SIZE,
        color=MUTED,
        transform=ax.transAxes,
    )


def _dates(ax: Axes) -> None:
    locator = AutoDateLocator(minticks=3, maxticks=7)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]


def _equity(ax: Axes, times: list[datetime], points: list[dict[str, Any]]) -> None:
    _style(ax, "Equity (USD) and drawdown")
    if not points:
        ax.text(0.5, 0.5, "No cycles ran", ha="center", transform=ax.transAxes, color=MUTED)
        return
    equity = [float(p["equity"]) for p in points]
    ax.plot(times, equity, color=LINE, linewidth=1.4)  # type: ignore[arg-type]
    drawdown = ax.twinx()
    drawdown.fill_between(
        times,  # type: ignore[arg-type]
        [-float(p["drawdown"]) * 100 for p in points],
        0,
        color=DOWN,
        alpha=0.12,
        linewidth=0,
    )
    drawdown.set_ylabel("drawdown %", fontsize=LABEL_SIZE, color=DOWN)
    drawdown.tick_params(labelsize=7.5, colors=DOWN)
    _dates(ax)


def _exposure(ax: Axes, times: list[datetime], points: list[dict[str, Any]]) -> None:
    _style(ax, "Exposure over time (USD at cost)")
    if not points:
        return
    ax.fill_between(
        times,  # type: ignore[arg-type]
        [float(p["exposure"]) for p in points],
        0,
        color=UP,
        alpha=0.35,
        linewidth=0,
    )
    _dates(ax)


def _brier(ax: Axes, brier: dict[str, Any]) -> None:
    _style(ax, f"Brier on {brier.get('markets', 0)} resolved markets (lower is better)")
    scores = [(name, brier.get(name)) for name in SCORED]
    shown = [(name, float(value)) for name, value in scores if value is not None]
    if not shown:
        ax.text(0.5, 0.5, "No resolved market was forecast", ha="center", transform=ax.transAxes)
        return
    colors = [COLORS[name] for name, _ in shown]
    bars = ax.barh([n for n, _ in shown], [v for _, v in shown], color=colors)
    ax.bar_label(bars, fmt="%.4f", fontsize=LABEL_SIZE)


def _calibration(ax: Axes, table: dict[str, Any]) -> None:
    _style(ax, f"Calibration on {table.get('markets', 0)} resolved markets")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("forecast probability of YES", fontsize=LABEL_SIZE)
    ax.set_ylabel("YES paid", fontsize=LABEL_SIZE)
    if not table.get("markets"):
        ax.text(0.5, 0.5, "No resolved market was forecast", ha="center", transform=ax.transAxes)
        return
    ax.plot([0, 1], [0, 1], linestyle="--", color=MUTED, linewidth=0.9, label="perfect")
    for name in SCORED:
        rows = table.get(name, [])
        if rows:
            ax.plot(
                [float(r["mean_probability"]) for r in rows],
                [float(r["frequency"]) for r in rows],
                marker=MARKERS[name][0],
                linestyle=MARKERS[name][1],
                markersize=4,
                linewidth=1.2,
                color=COLORS[name],
                label=name,
            )
    ax.legend(fontsize=LABEL_SIZE, loc="upper left", frameon=False)

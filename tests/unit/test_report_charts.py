"""Report text and charts from hand-built ReportData: no database, no event loop."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from matplotlib.figure import Figure
from matplotlib.image import imread

from trader.domain import DrawdownMode, TradingState
from trader.reports import charts
from trader.reports.metrics import calibration_bins, day_window
from trader.reports.model import (
    AlertSummary,
    Attention,
    Calibration,
    ChartKind,
    ChartSeries,
    EquityPoint,
    EquityState,
    ExpectedPnl,
    ForecastScore,
    LlmLine,
    PositionLine,
    ReportData,
    TradeSummary,
    Uptime,
    WinRate,
)
from trader.reports.text import report_text

ZONE = ZoneInfo("Europe/Berlin")
DAY = date(2026, 3, 29)  # Berlin springs forward: a 23-hour day
D = Decimal


def empty_data() -> ReportData:
    window = day_window(DAY, ZONE)
    return ReportData(
        window=window,
        generated_at=window.end + timedelta(hours=7),
        trades=TradeSummary(),
        expected=ExpectedPnl(),
        positions=(),
        equity=None,
        win_rate=WinRate(days=30),
        forecasts=ForecastScore(),
        llm=(),
        alerts=AlertSummary(),
        uptime=Uptime(None),
        attention=Attention(),
        series=ChartSeries(start=window.end - timedelta(days=30), end=window.end, zone=ZONE.key),
    )


def full_data(days: int = 30) -> ReportData:
    data = empty_data()
    end = data.window.end
    start = end - timedelta(days=days)
    points = tuple(
        EquityPoint(
            start + timedelta(hours=h), D(1000 + h % 50 - (30 if h % 97 < 9 else 0)), D(1050)
        )
        for h in range(days * 24)
    )
    pairs = [(D(i % 100) / 100, D(i % 3 == 0)) for i in range(60)]
    series = ChartSeries(
        start=start,
        end=end,
        zone=ZONE.key,
        equity=points,
        daily_pnl=tuple((DAY - timedelta(days=i), D(i % 7 - 3)) for i in range(days)),
        exposure=(
            ("Will the $100 question with a $ sign resolve…", D("98.5")),
            ("other (2)", D(10)),
        ),
        llm_cost={
            f"model-{m}": tuple((DAY - timedelta(days=i), D("0.3") * (m + 1)) for i in range(days))
            for m in range(6)
        },
        calibration=Calibration(
            resolved=60,
            model=calibration_bins(pairs),
            market=calibration_bins(pairs),
            model_brier=D("0.18"),
            market_brier=D("0.2"),
        ),
    )
    return dataclasses.replace(
        data,
        equity=EquityState(
            end, D("1234.5"), D(900), D(300), D("0.12"), DrawdownMode.REDUCED, D(-12)
        ),
        trades=TradeSummary(3, 2, 1, D(50), D("0.10"), D(6), 0),
        expected=ExpectedPnl(D("5.9"), 1, 1),
        positions=(
            PositionLine(
                "t1",
                "m1",
                "Will it rain in Berlin on Sunday?",
                "Yes",
                D(40),
                D("0.4"),
                D("0.55"),
                "forecast",
                D(22),
                D(6),
            ),
        ),
        win_rate=WinRate(30, 1, 1),
        forecasts=ForecastScore(
            2, 30, 2, D("0.065"), D("0.205"), D("0.150"), 2, "w 0.15, on 120 resolved forecasts"
        ),
        llm=(LlmLine("claude-sonnet-4-6", 2, 0, 6000, 1000, 2000, D("0.04")),),
        alerts=AlertSummary(4, 1, 2, 1, ("Trading HALTED: venue errors",)),
        uptime=Uptime(
            D("0.905797"),
            timedelta(hours=2),
            timedelta(hours=2),
            datetime(2026, 3, 29, 8, tzinfo=UTC),
            1,
        ),
        attention=Attention(
            TradingState.PAUSED, "lunch", ("BUY $25.00 @ 0.41 Rain (expires Mon 09:00)",)
        ),
        series=series,
    )


def panel_titles(figure: Figure) -> list[str]:
    return [ax.get_title(loc="left") for ax in figure.axes]


def assert_png(path: Path, width: int, height: int, bands: int = 1) -> None:
    pixels = imread(path)
    assert pixels.shape[:2] == (height, width)
    gray = pixels[..., :3].mean(axis=2)
    step = height // bands
    for band in range(bands):  # every panel's region holds a drawing, not a blank page
        assert gray[band * step : (band + 1) * step].var() > 1e-3, f"band {band} is blank"


def test_text_puts_what_needs_the_operator_first_and_shows_the_figures() -> None:
    text = report_text(full_data())

    lines = text.splitlines()
    assert lines[0] == "📊 Polyops daily report: Sun 29 Mar 2026"
    assert "Europe/Berlin (23 h)" in lines[1]
    assert lines[3] == "⚠️ Needs you (3)"
    assert "• Trading PAUSED: lunch" in text
    assert "• Risk mode REDUCED (drawdown 12.0%)" in text
    assert "Equity $1,234.50 · day -$12.00" in text
    assert "Trades 3 (2 buy, 1 sell) $50.00" in text
    assert "Realized +$6.00 · expected +$5.90 (1 buy without a forecast)" in text
    assert "Win rate 30 d 50% (1 W / 1 L)" in text
    assert "Brier 30 d: model 0.065 vs market 0.205 (n 2, better)" in text
    assert "Brier 30 d of the blend: 0.150 (n 2)" in text
    assert "Calibration: w 0.15, on 120 resolved forecasts" in text
    assert "Uptime 90.6% · 1 restart · longest gap 2 h 00 min at 10:00" in text
    assert len(lines) < 40  # readable in half a minute


def test_text_with_no_data_says_so_plainly() -> None:
    text = report_text(empty_data())

    assert "✅ Nothing needs you." in text
    assert "Equity: no snapshot yet" in text
    assert "Trades: none" in text
    assert "Open positions: none" in text
    assert "LLM: no calls" in text
    assert "Uptime: no liveness data for the day" in text


@pytest.mark.parametrize("make", [empty_data, full_data], ids=["empty", "full"])
def test_dashboard_has_every_panel_titled_and_fills_a_phone_screen(
    make: Callable[[], ReportData], tmp_path: Path
) -> None:
    figure = charts.build_figure(make(), ChartKind.DASHBOARD)

    titles = panel_titles(figure)
    assert len(titles) == 5
    for title, kind in zip(titles, charts.PANELS, strict=True):
        assert title.startswith(charts.TITLES[kind].replace("$", r"\$"))
    path = charts.save(figure, tmp_path / "dashboard.png")
    assert_png(path, 1080, 1920, bands=5)


def test_empty_panels_explain_themselves() -> None:
    figure = charts.build_figure(empty_data(), ChartKind.DASHBOARD)

    texts = [t.get_text() for ax in figure.axes for t in ax.texts]
    assert charts.EMPTY_EQUITY in texts
    assert charts.EMPTY_EXPOSURE in texts
    assert any(t.startswith("Not enough resolved forecasts yet") for t in texts)


@pytest.mark.parametrize("kind", [k for k in ChartKind if k is not ChartKind.DASHBOARD])
def test_each_single_chart_renders_with_a_year_of_data(kind: ChartKind, tmp_path: Path) -> None:
    figure = charts.build_figure(full_data(days=365), kind)

    assert panel_titles(figure)[0].startswith(charts.TITLES[kind])
    ticks = [t.get_text() for t in figure.axes[0].get_xticklabels() if t.get_text()]
    assert len(ticks) <= 12  # the locator keeps date labels apart
    assert_png(charts.save(figure, tmp_path / f"{kind}.png"), 1080, 720)


def test_dollar_signs_never_turn_into_mathtext() -> None:
    figure = charts.build_figure(full_data(), ChartKind.EXPOSURE)

    label = figure.axes[0].get_yticklabels()[0]
    assert label.get_text().count(r"\$") == 2
    assert r"\$1,234.50" in figure.get_suptitle()


def test_llm_chart_folds_small_models_into_other() -> None:
    figure = charts.build_figure(full_data(), ChartKind.LLM)

    legend = figure.axes[0].get_legend()
    assert legend is not None
    names = [t.get_text() for t in legend.get_texts()]
    assert names == ["model-5", "model-4", "model-3", "other (3)"]

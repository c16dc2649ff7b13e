"""The daily report from real databases: a hand-filled DST day, an empty history, the CLI.

The one-day fixture is 8 March 2026 in New York: clocks spring forward, so the operator's
"yesterday" (seen at 07:00 on the 9th) is 23 hours long, 05:00 to 04:00 UTC. Every figure
the tests check was computed by hand from the rows in `tests/support/report_day.py`.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from matplotlib.image import imread

from tests.support.report_day import DAY, END, NEW_YORK, NOW, START, Sessions, fill_one_day
from trader.clock import FakeClock
from trader.domain import Book, BookLevel, DrawdownMode, Position, TradingState
from trader.execution.portfolio import Portfolio
from trader.reports import ChartKind, build_report, load_data, render_chart
from trader.reports.text import report_text

D = Decimal


def assert_png(path: Path, width: int, height: int, bands: int) -> None:
    pixels = imread(path)
    assert pixels.shape[:2] == (height, width)
    gray = pixels[..., :3].mean(axis=2)
    step = height // bands
    for band in range(bands):
        assert gray[band * step : (band + 1) * step].var() > 1e-3, f"band {band} is blank"


async def test_one_dst_day_figures_match_the_hand_computed_values(sessions: Sessions) -> None:
    await fill_one_day(sessions)

    data = await load_data(sessions, FakeClock(NOW), NEW_YORK)

    assert data.window.day == DAY
    assert (data.window.start, data.window.end, data.window.hours) == (START, END, 23)
    trades = data.trades
    assert (trades.count, trades.buys, trades.sells) == (3, 2, 1)
    assert trades.value == D("50.00")  # 50 x 0.30 + 10 x 0.50 + 60 x 0.50
    assert trades.fees == D("0.10")
    assert trades.realized == D("6.00")
    assert (data.expected.value, data.expected.forecasted, data.expected.unforecasted) == (
        D("5.90"),
        1,
        1,
    )
    assert [(p.token_id, p.mark, p.mark_source, p.value, p.unrealized) for p in data.positions] == [
        ("t1y", D("0.55"), "forecast", D("22.00"), D("6.00")),
        ("t2y", D("0.31"), "forecast", D("15.50"), D("0.400")),
        ("t3y", D("0.50"), "fill", D("5.00"), D("0.00")),
    ]
    equity = data.equity
    assert equity is not None
    assert (equity.equity, equity.day_pnl, equity.drawdown) == (D("1025.50"), D("15.50"), D("0.02"))
    assert equity.mode is DrawdownMode.REDUCED  # the stored limit: reduced from 1.5%
    assert (data.win_rate.wins, data.win_rate.losses) == (1, 1)
    score = data.forecasts
    assert (score.resolved_in_day, score.scored) == (2, 2)
    assert (score.model_brier, score.market_brier) == (D("0.065"), D("0.205"))
    llm = {line.model: line for line in data.llm}
    assert (llm["claude-haiku-4-5"].calls, llm["claude-haiku-4-5"].failed) == (4, 1)
    assert llm["claude-haiku-4-5"].cost == D("0.0033")
    assert llm["claude-sonnet-4-6"].cost == D("0.0400")
    assert llm["claude-sonnet-4-6"].tokens == 9000
    alerts = data.alerts
    assert (alerts.total, alerts.critical, alerts.warning, alerts.info) == (4, 1, 2, 1)
    assert alerts.titles[0] == "Trading HALTED: venue errors"
    up = data.uptime
    assert up.fraction == D("0.905797")  # 2 h 10 min without a snapshot in 23 h
    assert up.longest_gap == timedelta(hours=2, minutes=10)
    assert up.restarts == 1
    need = data.attention
    assert (need.trading_state, need.state_reason) == (TradingState.PAUSED, "lunch")
    assert need.pending_approvals == (
        "BUY $25.00 @ 0.41 Will the home team win the derby? (expires Mon 08:00)",
    )
    assert need.reconciliation == ("t1y: local 40, venue 35",)
    assert need.stale_heartbeats == ("watchdog: last heartbeat 1 h 00 min ago",)


async def test_one_day_report_text_and_dashboard(sessions: Sessions, tmp_path: Path) -> None:
    await fill_one_day(sessions)

    report = await build_report(sessions, FakeClock(NOW), "America/New_York", reports_dir=tmp_path)

    assert report.image_path == tmp_path / "report-2026-03-08.png"
    assert_png(report.image_path, 1080, 1920, bands=5)
    text = report.text
    assert "Sun 08 Mar 2026" in text
    assert "America/New_York (23 h)" in text
    assert "⚠️ Needs you (5)" in text
    assert "Equity $1,025.50 · day +$15.50" in text
    assert "Equity values positions at their bids, net of the sale's fee" in text
    assert "Trades 3 (2 buy, 1 sell) $50.00" in text
    assert "Realized +$6.00 · expected +$5.90 (1 buy without a forecast)" in text
    assert "Open positions 3 · value $42.50 · unrealized +$6.40" in text
    assert "LLM $0.0433 · 6 calls · 12.3k tokens" in text
    assert "• claude-haiku-4-5 $0.0033 · 4 calls, 1 failed" in text
    assert "• Reconcile: t1y: local 40, venue 35" in text
    assert "Alerts 4: 1 critical, 2 warning, 1 info · Trading HALTED: venue errors" in text
    assert "Uptime 90.6% · 1 restart · longest gap 2 h 10 min at 05:50" in text


async def test_single_charts_render_for_every_kind(sessions: Sessions, tmp_path: Path) -> None:
    await fill_one_day(sessions)
    clock = FakeClock(NOW)

    paths = [
        await render_chart(sessions, clock, NEW_YORK, kind, reports_dir=tmp_path, window_days=7)
        for kind in ("equity", "pnl", "exposure", "llm", "calibration")
    ]

    assert paths[0].name == "equity-2026-03-08-7d.png"
    for path in paths:
        assert_png(path, 1080, 720, bands=1)


async def test_an_empty_database_gives_a_calm_report(sessions: Sessions, tmp_path: Path) -> None:
    report = await build_report(sessions, FakeClock(NOW), NEW_YORK, reports_dir=tmp_path)

    assert "✅ Nothing needs you." in report.text
    assert "Equity: no snapshot yet" in report.text
    assert "Uptime: no liveness data for the day" in report.text
    assert report.data.series.equity == ()
    assert not report.data.series.calibration.enough
    assert_png(report.image_path, 1080, 1920, bands=5)


async def test_render_chart_names_a_bad_kind(sessions: Sessions) -> None:
    with pytest.raises(ValueError, match="pie"):
        await render_chart(sessions, FakeClock(NOW), NEW_YORK, "pie")


def test_chart_kinds_are_the_documented_ones() -> None:
    assert {k.value for k in ChartKind} == {
        "dashboard",
        "equity",
        "pnl",
        "exposure",
        "llm",
        "calibration",
    }


async def test_live_marks_value_positions_at_their_walked_bids_and_show_the_mid(
    sessions: Sessions,
) -> None:
    await fill_one_day(sessions)
    live = Portfolio(FakeClock(NOW), zone=NEW_YORK)
    live.load(cash=D(1000), positions=[Position("t1y", D(40), D("0.40"), market="m1")])
    # mid 0.55; selling the 40 takes the 30 bid at 0.50, the 10 beyond it are worth nothing
    bids, asks = (BookLevel(D("0.50"), D(30)),), (BookLevel(D("0.60"), D(10)),)
    live.mark_book(Book("t1y", bids, asks, NOW))

    data = await load_data(sessions, FakeClock(NOW), NEW_YORK, marks=live)

    line = next(p for p in data.positions if p.token_id == "t1y")
    assert (line.mark, line.mark_source, line.value, line.unrealized) == (
        D("0.55"),
        "live",
        D("15.00"),
        D("-1.00"),
    )
    assert "Yes 40 @ 0.40 mid 0.55 -$1.00" in report_text(data)

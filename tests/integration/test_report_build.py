"""The daily report from real databases: a hand-filled DST day, an empty history, the CLI.

The one-day fixture is 8 March 2026 in New York: clocks spring forward, so the operator's
"yesterday" (seen at 07:00 on the 9th) is 23 hours long, 05:00 to 04:00 UTC. Every figure
the tests check was computed by hand from the rows below.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from matplotlib.image import imread
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from trader.clock import FakeClock
from trader.domain import DrawdownMode, TradingState
from trader.reports import ChartKind, build_report, load_data, render_chart
from trader.store.tables import (
    AlertRow,
    ApprovalRow,
    Base,
    ControlStateRow,
    EquitySnapshotRow,
    EventLogRow,
    FillRow,
    ForecastRow,
    HeartbeatRow,
    LlmUsageRow,
    MarketRow,
    PositionRow,
)

Sessions = async_sessionmaker[AsyncSession]
NEW_YORK = ZoneInfo("America/New_York")
NOW = datetime(2026, 3, 9, 11, tzinfo=UTC)  # 07:00 EDT on the 9th
DAY = date(2026, 3, 8)
START = datetime(2026, 3, 8, 5, tzinfo=UTC)  # 00:00 EST
END = datetime(2026, 3, 9, 4, tzinfo=UTC)  # 00:00 EDT
D = Decimal


def at(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def fill(trade: str, token: str, side: str, price: str, size: int, when: datetime, fee: str = "0"):
    market = "m" + token[1]
    return FillRow(
        trade_id=trade,
        order_id=f"o{trade}",
        token_id=token,
        side=side,
        price=D(price),
        size=D(size),
        ts=when,
        fee=D(fee),
        market=market,
    )


def forecast(token: str, model: str, market: str | None, created: datetime, **resolved: object):
    return ForecastRow(
        market="m" + token[1],
        token_id=token,
        model_probability=D(model),
        model="ensemble",
        source="ensemble",
        created_at=created,
        market_price=None if market is None else D(market),
        **resolved,  # type: ignore[arg-type]
    )


def usage(
    model: str, when: datetime, cost: str, ok: bool = True, tokens: tuple[int, ...] = (0, 0, 0)
):
    return LlmUsageRow(
        ts=when,
        model=model,
        purpose="analysis",
        input_tokens=tokens[0],
        output_tokens=tokens[1],
        cache_read_tokens=tokens[2],
        cost=D(cost),
        ok=ok,
    )


def snapshots() -> list[EquitySnapshotRow]:
    rows = [
        EquitySnapshotRow(ts=at(3, 7, 4), equity=D(1000), cash=D(1000)),
        EquitySnapshotRow(ts=at(3, 8, 4, 50), equity=D(1010), cash=D(1000)),  # 23:50 EST, 7th
    ]
    for step in range(138):  # every 10 minutes through the 23-hour day ...
        when = START + timedelta(minutes=10 * step)
        if at(3, 8, 10) <= when < at(3, 8, 12):  # ... but not for two hours: an outage
            continue
        last = step == 137
        rows.append(
            EquitySnapshotRow(
                ts=when,
                equity=D("1025.50") if last else D(1020),
                cash=D(900),
                exposure=D("42.50"),
                drawdown=D("0.02") if last else D(0),
            )
        )
    return rows


def one_day_rows() -> list[Base]:
    markets = [
        MarketRow(
            condition_id="m1", question="Will it rain in New York on Sunday?", updated_at=NOW
        ),
        MarketRow(condition_id="m2", question="Will the home team win the derby?", updated_at=NOW),
        MarketRow(condition_id="m3", question="Will the mayor sign the bill?", updated_at=NOW),
    ]
    fills = [
        fill("a", "t1y", "BUY", "0.40", 100, at(3, 7, 15)),
        fill("b", "t2y", "BUY", "0.20", 10, at(3, 8, 4, 30)),  # 23:30 EST on the 7th: not in
        fill("c", "t2y", "BUY", "0.30", 50, at(3, 8, 6), fee="0.10"),
        fill("d", "t3y", "BUY", "0.50", 10, at(3, 8, 12)),  # no forecast for t3y
        fill("e", "t1y", "SELL", "0.50", 60, at(3, 8, 20)),  # realizes (0.50 - 0.40) x 60
        fill("f", "t1y", "BUY", "0.45", 20, at(3, 9, 4, 30)),  # 00:30 EDT on the 9th: not in
        fill("g", "t4y", "BUY", "0.60", 10, at(3, 1, 12)),
        fill("h", "t4y", "SELL", "0.50", 10, at(3, 2, 12)),  # a loss in the 30 days
        fill("i", "t5y", "BUY", "0.10", 10, at(1, 10, 12)),
        fill("j", "t5y", "SELL", "0.20", 10, at(1, 11, 12)),  # a win, too long ago
    ]
    forecasts = [
        forecast("t2y", "0.10", "0.15", at(3, 1, 0)),  # superseded
        forecast("t2y", "0.42", "0.31", at(3, 8, 5, 30)),  # for fill c: (0.42-0.30)x50-0.10
        forecast("t1y", "0.60", "0.55", at(3, 8, 10)),  # t1y's mark
        forecast("t6y", "0.8", "0.6", at(3, 1, 0), resolved_outcome=D(1), resolved_at=at(3, 8, 12)),
        forecast("t6n", "0.3", "0.5", at(3, 1, 0), resolved_outcome=D(0), resolved_at=at(3, 5, 0)),
        forecast("t7y", "0.9", None, at(3, 1, 0), resolved_outcome=D(0), resolved_at=at(3, 8, 13)),
    ]
    positions = [
        PositionRow(
            token_id="t1y",
            size=D(40),
            average_price=D("0.40"),
            updated_at=NOW,
            market="m1",
            outcome="Yes",
        ),
        PositionRow(
            token_id="t2y",
            size=D(50),
            average_price=D("0.302"),
            updated_at=NOW,
            market="m2",
            outcome="Yes",
        ),
        PositionRow(
            token_id="t3y",
            size=D(10),
            average_price=D("0.50"),
            updated_at=NOW,
            market="m3",
            outcome="Yes",
        ),
        PositionRow(token_id="t9y", size=D(0), average_price=D(0), updated_at=NOW, market="m1"),
    ]
    llm = [
        usage("claude-haiku-4-5", at(3, 8, 6), "0.0011", tokens=(1000, 100, 0)),
        usage("claude-haiku-4-5", at(3, 8, 7), "0.0011", tokens=(1000, 100, 0)),
        usage("claude-haiku-4-5", at(3, 8, 8), "0.0011", tokens=(1000, 100, 0)),
        usage("claude-haiku-4-5", at(3, 8, 9), "0", ok=False),
        usage("claude-sonnet-4-6", at(3, 8, 9), "0.0190", tokens=(3000, 500, 1000)),
        usage("claude-sonnet-4-6", at(3, 8, 22), "0.0210", tokens=(3000, 500, 1000)),
        usage("claude-sonnet-4-6", at(3, 9, 4, 30), "1.00"),  # the next day
    ]
    alerts = [
        AlertRow(
            kind="auto_halt",
            severity="critical",
            title="Trading HALTED: venue errors",
            created_at=at(3, 8, 14),
        ),
        AlertRow(kind="feed", severity="warning", title="Feed stale", created_at=at(3, 8, 6)),
        AlertRow(kind="feed", severity="warning", title="Feed stale", created_at=at(3, 8, 7)),
        AlertRow(kind="fill", severity="info", title="Filled", created_at=at(3, 8, 8)),
        AlertRow(kind="fill", severity="info", title="Filled", created_at=at(3, 8, 4)),  # the 7th
    ]
    events = [
        EventLogRow(ts=at(3, 8, 12), type="startup", actor="system:trader"),
        EventLogRow(
            ts=at(3, 8, 15), type="reconciled", actor="system:trader", payload={"corrections": {}}
        ),
        EventLogRow(
            ts=at(3, 9, 8),
            type="reconcile_correction",
            actor="system:trader",
            payload={"kind": "set_position", "detail": "t1y: local 40, venue 35"},
        ),
        EventLogRow(
            ts=at(3, 1, 8),
            type="reconcile_correction",
            actor="system:trader",
            payload={"detail": "old"},
        ),
    ]
    intent = {"market": "m2", "side": "BUY", "limit_price": "0.41"}
    approvals = [
        ApprovalRow(
            request_key="ap-1",
            created_at=at(3, 9, 10),
            expires_at=at(3, 9, 12),
            payload={"intent": intent, "notional": "25"},
        ),
        ApprovalRow(
            request_key="ap-2",
            created_at=at(3, 9, 9),
            expires_at=at(3, 9, 10),
            payload={"intent": intent, "notional": "30"},
        ),  # expired before now
        ApprovalRow(
            request_key="ap-3",
            created_at=at(3, 9, 9),
            expires_at=at(3, 9, 12),
            payload={"intent": intent},
            status="approved",
        ),
    ]
    state = [
        ControlStateRow(
            key="trading_state", updated_at=NOW, value={"state": "PAUSED", "reason": "lunch"}
        ),
        ControlStateRow(key="risk_limits", updated_at=NOW, value={"reduced_drawdown": "0.015"}),
    ]
    beats = [
        HeartbeatRow(
            component="trader",
            ts=NOW - timedelta(seconds=30),
            pid=1,
            version="t",
            trading_state="PAUSED",
        ),
        HeartbeatRow(
            component="watchdog",
            ts=NOW - timedelta(hours=1),
            pid=2,
            version="t",
            trading_state="PAUSED",
        ),
    ]
    return [
        *markets,
        *fills,
        *forecasts,
        *positions,
        *snapshots(),
        *llm,
        *alerts,
        *events,
        *approvals,
        *state,
        *beats,
    ]


async def fill_one_day(sessions: Sessions) -> None:
    async with sessions.begin() as session:
        session.add_all(one_day_rows())


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

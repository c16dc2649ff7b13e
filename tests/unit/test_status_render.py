"""/status fits a phone: components summarised, a sensible LLM line without a key, plurals."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from bot.render import common as render
from bot.render.common import plural
from trader.control.api import PortfolioView, StatusSnapshot
from trader.domain import DrawdownMode, TradingMode, TradingState

NOW = datetime(2026, 3, 8, 12, tzinfo=UTC)

UTC_RENDER = render.RenderContext(UTC)


def snapshot(**changes: object) -> StatusSnapshot:
    book = PortfolioView(
        cash=Decimal(500),
        reserved=Decimal(0),
        redeemable=Decimal(0),
        equity=Decimal("1012.5"),
        exposure=Decimal("512.5"),
        unrealized=Decimal(0),
        realized=Decimal(0),
        day_pnl=Decimal("12.5"),
        peak_equity=Decimal("1012.5"),
        drawdown=Decimal(0),
        drawdown_mode=DrawdownMode.FULL,
        open_positions=1,
        open_orders=2,
    )
    base = StatusSnapshot(
        version="0.1.0",
        pid=42,
        mode=TradingMode.PAPER,
        trading_state=TradingState.RUNNING,
        state_reason="",
        state_changed_by="",
        state_changed_at=None,
        approval_mode=False,
        started_at=NOW - timedelta(hours=2),
        now=NOW,
        components={f"part{n:02d}": "running" for n in range(16)},
        portfolio=book,
        llm_spend_today=Decimal(0),
        llm_budget=Decimal(0),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_sixteen_healthy_components_are_one_line() -> None:
    reply = render.status(snapshot(), UTC_RENDER)

    assert "Components: 16 running" in reply.lines
    assert not any(line.startswith("  part") for line in reply.lines)
    assert len(reply.lines) <= 8  # one phone screen


def test_components_not_running_are_named() -> None:
    components = {f"part{n:02d}": "running" for n in range(14)}
    components |= {"telegram": "retrying", "http": "crashed"}

    line = render.components_line(components)

    assert line == "Components: 14 running · http crashed, telegram retrying"


def test_the_llm_line_without_a_key_says_the_heuristic_forecasts() -> None:
    without = render.status(snapshot(llm_spend_today=Decimal(0), llm_budget=Decimal(0)), UTC_RENDER)
    with_key = render.status(
        snapshot(llm_spend_today=Decimal("1.2"), llm_budget=Decimal(5)), UTC_RENDER
    )

    assert "LLM: off (no API key or no budget): heuristic forecasts only" in without.lines
    assert not any("$0.00 of $0.00" in line for line in without.lines)
    assert "LLM today $1.20 of $5.00 budget" in with_key.lines


def test_plural_forms() -> None:
    assert plural(1, "position") == "1 position"
    assert plural(0, "order") == "0 orders"
    assert plural(2, "order") == "2 orders"
    one = render.status(
        snapshot(portfolio=replace(snapshot().portfolio, open_positions=1, open_orders=1)),
        UTC_RENDER,
    )  # type: ignore[type-var]
    assert any(line.endswith("1 position, 1 order") for line in one.lines)


def test_the_heuristic_line_appears_in_live_mode_only() -> None:
    paper = render.status(snapshot(), UTC_RENDER)
    live = render.status(snapshot(mode=TradingMode.LIVE), UTC_RENDER)

    assert not any("Heuristic" in line for line in paper.lines)
    assert "Heuristic forecasts in live mode: not traded" in live.lines

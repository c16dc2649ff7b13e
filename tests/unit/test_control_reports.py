"""The Control API's reports, charts and signals: request checks, missing sources, failures
turned into readable refusals, and the signal runtime's report as a `SignalsView`.

The two `_fits` functions are checked by mypy (`mypy tests/unit/test_control_reports.py`):
`trader.reports.ReportService` is a `ReportSource`, and the adapter over the real
`SignalRuntime` is a `SignalSource`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from tests.support.chat_stack import memory_control
from tests.support.memory import MemoryEvents
from trader.clock import FakeClock
from trader.control.api import (
    ControlAPI,
    ControlError,
    NotConfiguredError,
    ReportSource,
    ReportView,
    SignalSource,
)
from trader.domain import Actor, OrderIntent, Side, TradingMode
from trader.reports import ReportService
from trader.signals.pipeline import CycleReport, MarketReport
from trader.signals.records import LLMStats
from trader.signals.runtime import SignalRuntime, SignalRuntimeConfig
from trader.signals.views import SignalsAdapter, signals_view
from trader.store.signals_repo import BrierScores

OPERATOR = Actor("telegram", "42", "ops")
NOW = datetime(2026, 3, 9, 11, tzinfo=UTC)
D = Decimal


def _report_service_fits(service: ReportService) -> ReportSource:
    return service


def _signal_runtime_fits(runtime: SignalRuntime) -> SignalSource:
    return SignalsAdapter(runtime)


@dataclass
class Made:
    text: str
    image_path: Path


@dataclass
class Reports:
    """A report source that records its calls and fails when told to."""

    calls: list[tuple[str, object, int]] = field(default_factory=list)
    error: Exception | None = None

    async def report(self, day: date | None = None, *, window_days: int = 30) -> Made:
        self.calls.append(("report", day, window_days))
        if self.error is not None:
            raise self.error
        return Made("📊 Report\nline two", Path("report.png"))

    async def chart(self, kind: str, window_days: int = 30, day: date | None = None) -> Path:
        self.calls.append(("chart", kind, window_days))
        if self.error is not None:
            raise self.error
        return Path(f"{kind}.png")


async def control_with(
    reports: ReportSource | None = None, signals: SignalSource | None = None
) -> tuple[ControlAPI, MemoryEvents]:
    memory = await memory_control(FakeClock(NOW), reports=reports, signals=signals)
    return memory.control, memory.events


async def test_report_and_chart_go_to_the_source_and_are_audited() -> None:
    source = Reports()
    control, events = await control_with(source)

    view = await control.report(OPERATOR, date(2026, 3, 8))
    path = await control.chart(OPERATOR, " Equity ", 7)

    assert view == ReportView("📊 Report\nline two", Path("report.png"))
    assert path == Path("equity.png")
    assert source.calls == [("report", date(2026, 3, 8), 30), ("chart", "equity", 7)]
    assert events.commands() == ["report", "chart"]


@pytest.mark.parametrize(
    ("kind", "days", "message"),
    [
        ("pie", 30, "there is no 'pie' chart; the charts are: dashboard, equity, pnl"),
        ("equity", 0, "the chart window is 1 to 365 days, not 0"),
        ("equity", 366, "the chart window is 1 to 365 days, not 366"),
    ],
)
async def test_a_bad_chart_request_is_refused_before_drawing(
    kind: str, days: int, message: str
) -> None:
    source = Reports()
    control, _ = await control_with(source)

    with pytest.raises(ControlError, match=message):
        await control.chart(OPERATOR, kind, days)

    assert source.calls == []


async def test_a_report_for_a_future_day_is_refused() -> None:
    source = Reports()
    control, _ = await control_with(source)

    with pytest.raises(ControlError, match="in the future"):
        await control.report(OPERATOR, date(2026, 3, 11))

    assert source.calls == []


async def test_without_sources_the_refusal_says_they_are_not_configured() -> None:
    control, events = await control_with()

    with pytest.raises(NotConfiguredError, match="reports are not configured"):
        await control.report(OPERATOR)
    with pytest.raises(NotConfiguredError, match="reports are not configured"):
        await control.chart(OPERATOR, "pnl")
    with pytest.raises(NotConfiguredError, match="signals are not configured"):
        await control.signals(OPERATOR)

    assert events.commands() == ["report", "chart", "signals"]


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (ValueError("window_days must be between 1 and 3660"), "could not be made: window_days"),
        (RuntimeError("disk full"), r"could not be made \(RuntimeError\); the log has"),
    ],
)
async def test_a_failing_source_becomes_a_readable_refusal(error: Exception, message: str) -> None:
    control, _ = await control_with(Reports(error=error))

    with pytest.raises(ControlError, match=f"the report {message}"):
        await control.report(OPERATOR)
    with pytest.raises(ControlError, match=f"the llm chart {message}"):
        await control.chart(OPERATOR, "llm")


def market(name: str, decision: str, edge: str | None, **kw: object) -> MarketReport:
    return MarketReport(
        f"0x{name}",
        f"Will {name} happen?",
        decision,
        kw.pop("reason", f"because {name}"),  # type: ignore[arg-type]
        market_probability=D("0.40"),
        model_probability=D("0.52"),
        edge=None if edge is None else D(edge),
        **kw,  # type: ignore[arg-type]
    )


def cycle_report(*markets: MarketReport) -> CycleReport:
    return CycleReport(
        started_at=NOW,
        duration_seconds=1.25,
        mode=TradingMode.PAPER,
        candidates=9,
        selected=len(markets),
        analysed=len(markets),
        markets=markets,
        llm=LLMStats(calls=7, cost=D("0.0123")),
        news_error="TimeoutError: feed",
    )


@dataclass
class Runtime:
    config: SignalRuntimeConfig
    last_report: CycleReport | None = None
    last_published: tuple[OrderIntent, ...] = ()
    last_error: str = ""
    last_scores: BrierScores | None = None
    calibration: str = ""


async def test_signals_show_the_last_cycle_trades_first_then_by_edge() -> None:
    report = cycle_report(
        market("low", "skip", "0.01"),
        market("none", "skip", None, reason="no two-sided YES book"),
        market("high", "skip", "0.02", source="heuristic", analysis="heuristic: budget (3/3)"),
        market("trade", "trade", "0.05", source="llm", analysis="LLM ensemble: 3/3 samples"),
    )
    intent = OrderIntent("0xtrade", "tok", Side.BUY, D("0.45"), size=D(10))
    runtime = Runtime(
        SignalRuntimeConfig(analysis_model="claude-x", anthropic_api_key=None),
        report,
        (intent,),
    )
    control, _ = await control_with(signals=SignalsAdapter(runtime))

    view = await control.signals(OPERATOR)

    assert (view.model, view.model_name) == ("heuristic", "")
    assert "no ANTHROPIC_API_KEY" in view.model_reason
    assert view.ran_at == NOW
    assert (view.candidates, view.selected, view.intents) == (9, 4, 1)
    assert (view.llm_calls, view.llm_cost) == (7, D("0.0123"))
    assert [m.market for m in view.markets] == ["0xtrade", "0xhigh", "0xlow", "0xnone"]
    first = view.markets[0]
    assert (first.decision, first.edge, first.source) == ("trade", D("0.05"), "llm")
    assert (first.model_probability, first.market_probability) == (D("0.52"), D("0.40"))
    assert view.fallbacks == (("budget", 1),)
    assert view.news_error == "TimeoutError: feed"


def test_before_any_cycle_the_view_names_the_model_and_the_last_failure() -> None:
    view = signals_view(None, uses_llm=True, analysis_model="claude-x", last_error="boom")

    assert (view.model, view.model_name, view.ran_at) == ("llm", "claude-x", None)
    assert view.markets == ()
    assert view.last_error == "boom"

"""/report, /chart and /signals through the real aiogram client against the fake Bot API
server: the report service over a migrated database (empty: it must still render), a real
signal cycle over synthetic markets, and the replies when something is missing or wrong."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from polysim.synthetic.signals import StaticBooks, universe
from tests.support.chat_stack import ChatStack, ask, start_chat_stack
from tests.support.telegram_server import OPERATOR_ID, VIEWER_ID, FakeBotAPI, Sent
from tests.support.waiting import eventually
from trader.bus import Bus
from trader.clock import FakeClock
from trader.control.api import ReportSource
from trader.domain import Market, TradingMode
from trader.reports import ReportData, ReportService
from trader.reports.model import ChartKind
from trader.signals.pipeline import CycleReport, MarketReport
from trader.signals.records import LLMStats
from trader.signals.runtime import SignalRuntimeConfig, build_signal_runtime
from trader.signals.views import SignalsAdapter
from trader.store.signals_repo import BrierScores

NOW = datetime(2026, 3, 9, 11, tzinfo=UTC)
PNG = b"\x89PNG\r\n\x1a\n"
Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
async def reporting(
    api: FakeBotAPI, sessions: Sessions, clock: FakeClock, tmp_path: Path
) -> AsyncIterator[ChatStack]:
    service: ReportSource = ReportService(sessions, clock, "UTC", reports_dir=tmp_path)
    stack = await start_chat_stack(api, clock=clock, reports=service)
    try:
        yield stack
    finally:
        await stack.stop()


async def until_photo(stack: ChatStack, api: FakeBotAPI, user: int, text: str) -> list[Sent]:
    """Send `text`; every message the bot sends back, up to and including its photo."""
    before = len(api.to(user))
    api.send_text(user, text)
    await eventually(lambda: any(m.method == "sendPhoto" for m in api.to(user)[before:]))
    await stack.transport.outbox.drain()
    return api.to(user)[before:]


async def test_report_sends_the_text_and_the_dashboard_from_an_empty_database(
    reporting: ChatStack, api: FakeBotAPI
) -> None:
    sent = await until_photo(reporting, api, VIEWER_ID, "/report")

    text = "\n".join(m.plain for m in sent)
    photo = sent[-1]
    assert "Polyops daily report: Sun 08 Mar 2026" in text
    assert "Equity: no snapshot yet" in text
    assert photo.method == "sendPhoto"
    assert photo.photo is not None
    assert photo.photo.startswith(PNG)
    assert ("telegram:" + str(VIEWER_ID), "report") in reporting.events.audited()


async def test_chart_sends_one_chart_as_a_photo_with_its_caption(
    reporting: ChatStack, api: FakeBotAPI
) -> None:
    sent = await until_photo(reporting, api, OPERATOR_ID, "/chart equity 7")

    (photo,) = sent
    assert photo.plain == "📈 equity · last 7 day(s)"
    assert photo.photo is not None
    assert photo.photo.startswith(PNG)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/chart pie", "The chart is one of dashboard, equity, pnl, exposure, llm, calibration"),
        ("/chart", "Say which chart: dashboard | equity"),
        ("/chart pnl 400", "The number of days must be between 1 and 365."),
        ("/report yesterday", "Not a day: 'yesterday'; write it like 2026-03-08."),
        ("/report 2026-03-20", "Refused: 2026-03-20 is in the future"),
    ],
)
async def test_a_bad_report_or_chart_request_gets_a_useful_reply(
    reporting: ChatStack, api: FakeBotAPI, text: str, expected: str
) -> None:
    reply = await ask(api, OPERATOR_ID, text)

    assert expected in reply.plain
    assert reply.method == "sendMessage"


def broken_renderer(data: ReportData, kind: ChartKind, path: Path) -> Path:
    raise RuntimeError("matplotlib exploded")


async def test_a_chart_that_cannot_be_drawn_still_gets_an_answer(
    api: FakeBotAPI, sessions: Sessions, clock: FakeClock, tmp_path: Path
) -> None:
    service = ReportService(sessions, clock, "UTC", reports_dir=tmp_path, renderer=broken_renderer)
    stack = await start_chat_stack(api, clock=clock, reports=service)
    try:
        reply = await ask(api, OPERATOR_ID, "/chart pnl")
    finally:
        await stack.stop()

    assert reply.plain == (
        "Refused: the pnl chart could not be made (RuntimeError); the log has the details"
    )


async def test_without_sources_the_commands_say_what_is_not_configured(
    api: FakeBotAPI,
) -> None:
    stack = await start_chat_stack(api)
    try:
        report = await ask(api, OPERATOR_ID, "/report")
        chart = await ask(api, OPERATOR_ID, "/chart equity")
        signals = await ask(api, OPERATOR_ID, "/signals")
    finally:
        await stack.stop()

    assert report.plain == "Reports are not configured in this process."
    assert chart.plain == "Reports are not configured in this process."
    assert signals.plain == "Signals are not configured: no signal cycle in this process."


async def test_signals_show_a_real_cycle_over_synthetic_markets(
    api: FakeBotAPI, sessions: Sessions, clock: FakeClock
) -> None:
    world = universe(4, NOW)

    async def markets() -> tuple[Market, ...]:
        return world.markets

    async def bankroll() -> Decimal:
        return Decimal(1000)

    async with httpx.AsyncClient() as http:
        runtime = build_signal_runtime(
            SignalRuntimeConfig(min_edge=Decimal("0.005")),
            sessions=sessions,
            clock=clock,
            bus=Bus(),
            markets=markets,
            books=StaticBooks(dict(world.books)),
            http=http,
            bankroll=bankroll,
        )
        stack = await start_chat_stack(api, clock=clock, signals=SignalsAdapter(runtime))
        try:
            before = await ask(api, VIEWER_ID, "/signals")
            report = await runtime.run_cycle()
            after = await ask(api, VIEWER_ID, "/signals")
        finally:
            await stack.stop()
            await runtime.close()

    assert before.plain.startswith("🧠 No signal cycle has completed yet.")
    assert "Model: heuristic — no ANTHROPIC_API_KEY, so the LLM is off" in before.plain
    text = after.plain
    assert text.startswith("🧠 Signals: last cycle 2026-03-09 11:00 UTC")
    assert "4 markets offered · 4 selected · 4 analysed" in text
    assert "LLM this cycle: 0 call(s) · $0.0000" in text
    for number, market in enumerate(report.markets):
        assert f"case{number:04d}" in text
        assert market.reason[:40] in text
    assert text.count("   model ") == 4
    assert "| heuristic" in text


async def test_signals_escape_every_question_and_reason(api: FakeBotAPI, clock: FakeClock) -> None:
    question = "Will <b>Smith</b> & <Jones> win?"
    report = CycleReport(
        started_at=NOW,
        duration_seconds=0.5,
        mode=TradingMode.PAPER,
        candidates=1,
        selected=1,
        analysed=1,
        markets=(
            MarketReport(
                "0xabc",
                question,
                "trade",
                "buy Yes <now> & fast",
                market_probability=Decimal("0.40"),
                model_probability=Decimal("0.55"),
                edge=Decimal("0.12"),
                source="llm",
            ),
        ),
        llm=LLMStats(calls=3, cost=Decimal("0.042")),
    )

    class Fixed:
        config = SignalRuntimeConfig()
        last_report = report
        last_published = ()
        last_error = ""
        last_scores = BrierScores(12, Decimal("0.2"), Decimal("0.18"), Decimal("0.17"), 10)
        calibration = "not fitted (defaults: w 0.15, error 0.02)"

    stack = await start_chat_stack(api, clock=clock, signals=SignalsAdapter(Fixed()))
    try:
        reply = await ask(api, OPERATOR_ID, "/signals")
    finally:
        await stack.stop()

    assert reply.parse_mode == "HTML"
    assert f"1. ✅ TRADE {question}" in reply.plain
    assert "   model 55.0% | market 40.0% | edge +12.0 pts | llm" in reply.plain
    assert "   buy Yes <now> & fast" in reply.plain
    assert "LLM this cycle: 3 call(s) · $0.0420" in reply.plain
    assert "Brier 30 d: model 0.200 · market 0.180 · blend 0.170 (n 12; blend n 10)" in reply.plain
    assert "Calibration: not fitted (defaults: w 0.15, error 0.02)" in reply.plain

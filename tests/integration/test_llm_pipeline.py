"""Whole signal cycles with the real `anthropic` SDK against the fake Messages API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import anthropic
import pytest

from polysim.synthetic.signals import StaticBooks, StaticNews, Universe, universe
from tests.support.anthropic_server import FakeAnthropicServer, Reply
from trader.clock import FakeClock
from trader.domain import TradingMode
from trader.signals.analysis import AnalysisConfig
from trader.signals.budget import DailyBudget
from trader.signals.ensemble import EnsembleConfig
from trader.signals.llm import LLMAnalyser, LLMConfig, make_client
from trader.signals.pipeline import CycleResult, PipelineConfig, SignalPipeline, build_pipeline
from trader.signals.records import InMemoryUsageRecorder
from trader.signals.sizing import SizingConfig

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
FAST = LLMConfig(requests_per_second=1000.0, burst=1000.0, concurrency=8)


@pytest.fixture
async def server() -> AsyncIterator[FakeAnthropicServer]:
    async with FakeAnthropicServer(default=Reply.answer(0.9)) as fake:
        yield fake


@pytest.fixture
async def client(server: FakeAnthropicServer) -> AsyncIterator[anthropic.AsyncAnthropic]:
    sdk = make_client("sk-test", base_url=server.url, timeout=5.0, max_retries=1)
    yield sdk
    await sdk.close()


def pipeline(
    client: anthropic.AsyncAnthropic,
    world: Universe,
    *,
    budget: DailyBudget | None = None,
    recorder: InMemoryUsageRecorder | None = None,
    concurrency: int = 8,
    **analysis: Any,
) -> tuple[SignalPipeline, LLMAnalyser]:
    clock = FakeClock(NOW)
    llm = LLMAnalyser(
        client,
        recorder=recorder or InMemoryUsageRecorder(),
        clock=clock,
        budget=budget,
        config=FAST,
    )
    built = build_pipeline(
        books=StaticBooks(dict(world.books)),
        clock=clock,
        news=StaticNews(world.news),
        llm=llm,
        ensemble=EnsembleConfig(samples=3, min_valid=2),
        sizing=SizingConfig(min_edge=Decimal("0.01")),
        analysis=AnalysisConfig(**analysis),
        config=PipelineConfig(concurrency=concurrency),
    )
    return built, llm


async def cycle(built: SignalPipeline, world: Universe) -> CycleResult:
    return await built.run_cycle(world.markets, bankroll=Decimal(1000), mode=TradingMode.PAPER)


async def test_a_cycle_with_the_llm_and_an_unchanged_second_cycle_with_no_calls(
    server: FakeAnthropicServer, client: anthropic.AsyncAnthropic
) -> None:
    world = universe(6, NOW)
    built, _ = pipeline(client, world)

    first = await cycle(built, world)

    assert first.report.analysed == 6
    assert len(server.requests) == 18  # three samples per market
    assert first.report.llm.calls == 18
    assert first.report.llm.cost > 0
    assert first.report.llm.cache_read_tokens > 0
    assert {m.source for m in first.report.markets} == {"llm"}
    assert all(m.analysis == "LLM ensemble: 3/3 samples" for m in first.report.markets)
    assert first.groups  # a 0.9 view against mids of 0.2..0.8 buys YES somewhere

    second = await cycle(built, world)

    assert len(server.requests) == 18
    assert second.report.llm.calls == 0
    assert second.report.llm.cost == 0
    assert second.report.analysed == 0
    assert second.groups == ()


async def test_unusable_llm_answers_are_never_traded_on(
    server: FakeAnthropicServer, client: anthropic.AsyncAnthropic
) -> None:
    server.default = Reply(text='{"probability": 7, "confidence": 0.9}')
    world = universe(3, NOW)
    built, llm = pipeline(client, world)

    result = await cycle(built, world)

    assert result.groups == ()
    assert llm.stats.ok == 0
    assert llm.stats.failures == 9
    assert all(m.model_probability is None for m in result.report.markets)
    assert all("unusable" in m.reason for m in result.report.markets)


async def test_a_failing_api_falls_back_to_the_heuristic_and_says_why(
    server: FakeAnthropicServer, client: anthropic.AsyncAnthropic
) -> None:
    server.default = Reply.error(500, retry_after="0.01")
    world = universe(4, NOW)
    built, _ = pipeline(client, world, breaker_threshold=2, concurrency=1)

    result = await cycle(built, world)

    reports = result.report.markets
    assert {m.source for m in reports} == {"heuristic"}
    assert all(m.analysis.startswith("heuristic: LLM API failing") for m in reports)
    # two markets x three samples x (one try + one SDK retry); then the circuit is open and
    # the last two markets skip the LLM entirely
    assert len(server.requests) == 2 * 3 * 2
    assert reports[-1].analysis == "heuristic: LLM API failing (2 markets in a row)"


async def test_over_budget_falls_back_to_the_heuristic_and_never_overspends(
    server: FakeAnthropicServer, client: anthropic.AsyncAnthropic
) -> None:
    world = universe(8, NOW)
    recorder = InMemoryUsageRecorder()
    clock = FakeClock(NOW)
    limit = Decimal("0.05")  # a handful of worst-case Sonnet calls
    budget = DailyBudget(limit, clock, UTC, ledger=recorder)
    built, _ = pipeline(client, world, budget=budget, recorder=recorder)

    result = await cycle(built, world)

    analyses = {m.analysis for m in result.report.markets}
    assert "heuristic: over daily LLM budget" in analyses
    assert recorder.total_cost <= limit
    assert result.report.llm.budget_refusals > 0

"""A second provider (OpenAI-compatible, the real `openai` SDK) and the ordered chain that fails
over after three failures in a row and comes back after the cool-down."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import anthropic
import openai
import pytest

from polysim.synthetic.signals import make_market
from tests.support.anthropic_server import FakeAnthropicServer, Reply
from tests.support.openai_server import FakeOpenAIServer
from trader.clock import FakeClock
from trader.signals.analysis import AnalysisService
from trader.signals.budget import ModelPrice
from trader.signals.heuristic import HeuristicModel
from trader.signals.llm import LLMAnalyser, LLMConfig, make_client
from trader.signals.providers import OpenAIAnalyser, OpenAIConfig, ProviderChain, make_openai_client
from trader.signals.records import InMemoryUsageRecorder
from trader.signals.retrieval.queries import QueryOutput
from trader.signals.values import AnalysisRequest, FailureKind, NewsItem, NewsMatch, Source

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
MARKET = make_market("m1", "Will the Senate pass the bill?", end_date=NOW + timedelta(days=5))
REQUEST = AnalysisRequest(
    MARKET,
    Decimal("0.5"),
    (NewsMatch(NewsItem("n1", "Senate vote set", "https://x.test/1", "", NOW, "wire"), 0.5),),
    NOW,
)


@pytest.fixture
async def anthropic_fake() -> AsyncIterator[FakeAnthropicServer]:
    async with FakeAnthropicServer() as fake:
        yield fake


@pytest.fixture
async def openai_fake() -> AsyncIterator[FakeOpenAIServer]:
    async with FakeOpenAIServer() as fake:
        yield fake


@pytest.fixture
async def sdks(
    anthropic_fake: FakeAnthropicServer, openai_fake: FakeOpenAIServer
) -> AsyncIterator[tuple[anthropic.AsyncAnthropic, openai.AsyncOpenAI]]:
    """The real SDK clients of both providers, on the fakes, without SDK retries."""
    claude = make_client("sk-a", base_url=anthropic_fake.url, max_retries=0)
    second = make_openai_client("sk-o", base_url=f"{openai_fake.url}/v1", max_retries=0)
    yield claude, second
    await claude.close()
    await second.close()


async def test_the_openai_compatible_provider_answers_through_a_forced_function_call(
    openai_fake: FakeOpenAIServer,
) -> None:
    client = make_openai_client("sk-oa", base_url=f"{openai_fake.url}/v1", max_retries=0)
    recorder = InMemoryUsageRecorder()
    price = ModelPrice(Decimal(1), Decimal(4), Decimal("0.5"), Decimal(1))
    llm = OpenAIAnalyser(
        client,
        recorder=recorder,
        clock=FakeClock(NOW),
        config=OpenAIConfig(analysis_model="local-model", prices={"local-model": price}),
    )
    openai_fake.push(Reply.answer(0.42), Reply(text="not json"), Reply.answer(1.5))
    try:
        good = await llm.estimate(REQUEST)
        garbled = await llm.estimate(REQUEST, sample=1)
        out_of_range = await llm.estimate(REQUEST, sample=2)
    finally:
        await client.close()

    assert good.estimate is not None
    assert good.estimate.probability == Decimal("0.42")
    assert "outside view" in good.estimate.reasoning
    body = openai_fake.requests[0]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "submit_forecast"}}
    assert body["tools"][0]["function"]["parameters"]["required"][-1] == "confidence"
    assert garbled.failure is FailureKind.INVALID_OUTPUT
    assert out_of_range.failure is FailureKind.INVALID_OUTPUT  # never traded on
    first = recorder.records[0]
    assert (first.provider, first.model, first.ok) == ("openai", "local-model", True)
    assert first.cost == price.cost(
        input_tokens=first.input_tokens, output_tokens=first.output_tokens
    )
    assert first.cost > 0


async def test_the_chain_fails_over_after_three_failures_and_back_after_the_cool_down(
    anthropic_fake: FakeAnthropicServer,
    openai_fake: FakeOpenAIServer,
    sdks: tuple[anthropic.AsyncAnthropic, openai.AsyncOpenAI],
) -> None:
    clock = FakeClock(NOW)
    recorder = InMemoryUsageRecorder()
    claude_client, openai_client = sdks
    claude = LLMAnalyser(
        claude_client,
        recorder=recorder,
        clock=clock,
        config=LLMConfig(requests_per_second=1000.0, burst=1000.0),
    )
    second = OpenAIAnalyser(openai_client, recorder=recorder, clock=clock)
    chain = ProviderChain([("anthropic", claude), ("openai", second)], clock, cooldown=300.0)
    anthropic_fake.push(*[Reply.error(500)] * 3)
    openai_fake.default = Reply.answer(0.3)
    anthropic_fake.default = Reply.answer(0.7)
    # three failures in a row: each answered by the next provider
    for _ in range(3):
        outcome = await chain.estimate(REQUEST)
        assert outcome.estimate is not None
        assert outcome.estimate.probability == Decimal("0.3")
    assert not chain.healthy("anthropic")
    asked = len(anthropic_fake.requests)
    skipped = await chain.estimate(REQUEST)  # cooling down: not even asked
    assert skipped.estimate is not None
    assert skipped.estimate.probability == Decimal("0.3")
    assert len(anthropic_fake.requests) == asked

    clock.advance(301)
    back = await chain.estimate(REQUEST)
    assert back.estimate is not None
    assert back.estimate.probability == Decimal("0.7")  # the first provider again
    assert chain.healthy("anthropic")
    assert {r.provider for r in recorder.records} == {"anthropic", "openai"}
    assert chain.stats.calls == len(recorder.records)


async def test_when_every_provider_fails_the_heuristic_stands_in_labelled(
    anthropic_fake: FakeAnthropicServer,
    openai_fake: FakeOpenAIServer,
    sdks: tuple[anthropic.AsyncAnthropic, openai.AsyncOpenAI],
) -> None:
    clock = FakeClock(NOW)
    recorder = InMemoryUsageRecorder()
    claude_client, openai_client = sdks
    chain = ProviderChain(
        [
            ("anthropic", LLMAnalyser(claude_client, recorder=recorder, clock=clock)),
            ("openai", OpenAIAnalyser(openai_client, recorder=recorder, clock=clock)),
        ],
        clock,
    )
    anthropic_fake.default = Reply.error(500)
    openai_fake.default = Reply.error(503)
    service = AnalysisService(heuristic=HeuristicModel(), llm=chain, clock=clock)
    result = await service.analyse(REQUEST)

    assert result.forecast is not None
    assert result.forecast.source is Source.HEURISTIC
    assert result.why.startswith("heuristic: LLM API failing")


async def test_the_chain_writes_the_search_queries_with_the_second_provider_when_the_first_fails(
    anthropic_fake: FakeAnthropicServer,
    openai_fake: FakeOpenAIServer,
    sdks: tuple[anthropic.AsyncAnthropic, openai.AsyncOpenAI],
) -> None:
    claude, second = sdks
    recorder = InMemoryUsageRecorder()
    clock = FakeClock(NOW)
    config = LLMConfig(requests_per_second=1000.0, burst=1000.0)
    chain = ProviderChain(
        [
            ("anthropic", LLMAnalyser(claude, recorder=recorder, clock=clock, config=config)),
            ("openai", OpenAIAnalyser(second, recorder=recorder, clock=clock)),
        ],
        clock,
    )
    anthropic_fake.push(Reply.error(500))
    openai_fake.push(Reply(text=json.dumps({"queries": ["Senate vote bill", " senate VOTE bill"]})))

    written = await chain.write_queries(REQUEST, count=3)

    assert isinstance(written, QueryOutput)
    assert written.queries == ["Senate vote bill"]  # cleaned: one query, twice written
    sent = openai_fake.requests[0]
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "write_search_queries"}}
    assert "Write 3 search queries" in sent["messages"][1]["content"]
    assert [(r.provider, r.purpose, r.ok) for r in recorder.records] == [
        ("anthropic", "retrieval", False),
        ("openai", "retrieval", True),
    ]

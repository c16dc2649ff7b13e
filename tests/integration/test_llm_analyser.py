"""LLMAnalyser with the real `anthropic` SDK against the fake Messages API on loopback."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import anthropic
import pytest

from polysim.synthetic.signals import make_market
from tests.support.anthropic_fixtures import server
from tests.support.anthropic_server import FakeAnthropicServer, Reply
from trader.clock import FakeClock
from trader.signals.batching import BatchConfig, BatchSender
from trader.signals.budget import DEFAULT_PRICES, DailyBudget, estimate_tokens
from trader.signals.ensemble import EnsembleConfig, run_ensemble
from trader.signals.llm import LLMAnalyser, LLMConfig, make_client
from trader.signals.prompts import (
    ANALYSIS_SYSTEM,
    FORECAST_TOOL,
    ScreenOutput,
    market_context,
    sample_turn,
)
from trader.signals.records import InMemoryUsageRecorder
from trader.signals.values import AnalysisRequest, FailureKind, NewsItem, NewsMatch

__all__ = ["server"]  # fixtures used by name below

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
API_KEY = "sk-test-never-logged"
MARKET = make_market(
    "m1",
    "Will the Senate pass the bill?",
    end_date=NOW + timedelta(days=10),
    description="Resolves YES if the Senate passes the bill.",
)
REQUEST = AnalysisRequest(
    MARKET,
    Decimal("0.5"),
    (NewsMatch(NewsItem("n1", "Senate vote set", "https://x.test/1", "", NOW, "wire"), 0.5),),
    NOW,
)


@pytest.fixture
async def client(server: FakeAnthropicServer) -> AsyncIterator[anthropic.AsyncAnthropic]:
    sdk = make_client(API_KEY, base_url=server.url, timeout=5.0, max_retries=2)
    yield sdk
    await sdk.close()


def analyser(
    client: anthropic.AsyncAnthropic,
    recorder: InMemoryUsageRecorder,
    *,
    budget: DailyBudget | None = None,
    clock: FakeClock | None = None,
    **config: object,
) -> LLMAnalyser:
    settings = {"requests_per_second": 1000.0, "burst": 1000.0, **config}
    return LLMAnalyser(
        client,
        recorder=recorder,
        clock=clock or FakeClock(NOW),
        budget=budget,
        config=LLMConfig(**settings),  # type: ignore[arg-type]
    )


async def test_a_well_formed_answer_becomes_an_estimate_with_usage_recorded(
    server: FakeAnthropicServer, client: anthropic.AsyncAnthropic
) -> None:
    recorder = InMemoryUsageRecorder()
    server.push(Reply.answer(0.64, confidence=0.8, sources_used=("https://x.test/1",)))
    outcome = await analyser(client, recorder).estimate(REQUEST)

    assert outcome.estimate is not None
    assert outcome.estimate.probability == Decimal("0.64")
    assert outcome.estimate.sources_used == ("https://x.test/1",)
    (usage,) = recorder.records
    assert usage.ok
    assert (usage.model, usage.purpose, usage.market) == ("claude-sonnet-4-6", "analysis", "m1")
    assert usage.cache_write_tokens > 0
    assert usage.cost > 0


async def test_the_prompt_is_laid_out_stable_first_with_two_cache_breakpoints(
    server: FakeAnthropicServer, client: anthropic.AsyncAnthropic
) -> None:
    await analyser(client, InMemoryUsageRecorder()).estimate(REQUEST, sample=2)

    body = server.requests[0]
    assert body["model"] == "claude-sonnet-4-6"
    assert body["tools"] == [FORECAST_TOOL]  # the tools open the cached prefix
    assert body["system"] == [
        {
            "type": "text",
            "text": ANALYSIS_SYSTEM,
            "cache_control": {"type": "ephemeral", "ttl": "1h"},
        }
    ]
    assert body["messages"] == [
        {
            "role": "user",
            "content": [
                {
                    "type": "text",
                    "text": market_context(REQUEST),
                    "cache_control": {"type": "ephemeral", "ttl": "5m"},
                },
                # per sample, after both breakpoints: the current time and the instruction
                {"type": "text", "text": sample_turn(REQUEST, 2)},
            ],
        }
    ]
    cached, uncached = body["messages"][0]["content"]
    assert "Current time" not in cached["text"]  # a later cycle can read the context
    assert uncached["text"].startswith("Current time: 2026-03-01 12:00 UTC\n")
    credentials = server.headers[0].get("x-api-key") or server.headers[0]["authorization"]
    assert API_KEY in credentials  # this SDK version sends it as a bearer token
    assert server.headers[0]["anthropic-version"]


async def test_a_markets_second_sample_reads_its_context_from_the_cache(
    server: FakeAnthropicServer, client: anthropic.AsyncAnthropic
) -> None:
    recorder = InMemoryUsageRecorder()
    llm = analyser(client, recorder)
    other = AnalysisRequest(
        make_market("m2", "Will the House pass the bill?", end_date=NOW + timedelta(days=9)),
        Decimal("0.4"),
        (),
        NOW,
    )

    await llm.estimate(REQUEST, sample=0)
    await llm.estimate(REQUEST, sample=1)
    await llm.estimate(other, sample=0)

    first, second, third = recorder.records
    # the first writes tools + system + the market's context; the second reads all of it and
    # pays plain input only for its own instruction
    assert first.cache_read_tokens == 0
    assert first.cache_write_tokens > 0
    assert second.cache_read_tokens == first.cache_write_tokens
    assert second.cache_write_tokens == 0
    assert second.input_tokens == len(sample_turn(REQUEST, 1)) // 4
    assert second.cost < first.cost / 2
    # another market reads the shared prefix and writes only its own context
    assert 0 < third.cache_read_tokens < first.cache_write_tokens
    assert third.cache_write_tokens == len(market_context(other)) // 4
    assert llm.stats.cache_read_tokens == second.cache_read_tokens + third.cache_read_tokens


async def test_the_cost_is_priced_from_the_replys_cache_tokens(
    server: FakeAnthropicServer, client: anthropic.AsyncAnthropic
) -> None:
    recorder = InMemoryUsageRecorder()
    server.push(
        Reply(
            usage={
                "input_tokens": 200,
                "output_tokens": 400,
                "cache_read_input_tokens": 1500,
                "cache_creation_input_tokens": 300,
                "cache_creation": {
                    "ephemeral_5m_input_tokens": 200,
                    "ephemeral_1h_input_tokens": 100,
                },
            }
        )
    )
    await analyser(client, recorder).estimate(REQUEST)

    (usage,) = recorder.records
    # Sonnet: 200 x $3 + 400 x $15 + 1,500 x $0.30 + 200 x $3.75 + 100 x $6, a million
    assert usage.cost == Decimal("0.0084")
    assert (usage.cache_read_tokens, usage.cache_write_tokens) == (1500, 300)


@pytest.mark.parametrize(
    ("reply", "detail"),
    [
        (Reply(text="I think it is likely, maybe 60%."), "no submit_forecast tool call"),
        (Reply(text='{"probability": 0.6, "confidence": '), "no submit_forecast tool call"),
        (Reply.answer(1.4), "probability"),
        (Reply.answer(-0.1), "probability"),
        (Reply.answer(65), "probability"),
        (Reply.answer("NaN"), "probability"),
        (Reply(text='{"probability": NaN, "confidence": 0.5}'), "probability"),
        (Reply(text='{"confidence": 0.5}'), "probability"),
        (Reply(text="[0.6]"), "no submit_forecast tool call"),
    ],
)
async def test_unusable_answers_yield_no_estimate_and_count_as_failures(
    server: FakeAnthropicServer, client: anthropic.AsyncAnthropic, reply: Reply, detail: str
) -> None:
    recorder = InMemoryUsageRecorder()
    llm = analyser(client, recorder)
    server.push(reply)
    outcome = await llm.estimate(REQUEST)

    assert outcome.estimate is None
    assert outcome.failure is FailureKind.INVALID_OUTPUT
    assert detail in outcome.detail
    assert llm.stats.failures == 1
    assert llm.stats.ok == 0
    (usage,) = recorder.records
    assert not usage.ok
    assert usage.error == "invalid_output"
    assert usage.cost > 0  # the tokens were billed all the same


async def test_the_answer_comes_through_a_forced_tool_call_reasoning_before_the_number(
    server: FakeAnthropicServer, client: anthropic.AsyncAnthropic
) -> None:
    server.push(Reply.answer(0.3))
    outcome = await analyser(client, InMemoryUsageRecorder()).estimate(REQUEST, sample=1)

    assert outcome.estimate is not None
    assert outcome.estimate.probability == Decimal("0.3")
    assert outcome.estimate.reasoning.startswith("outside view: Comparable questions")
    assert "against: Announced timelines slip" in outcome.estimate.reasoning
    body = server.requests[0]
    assert body["tool_choice"] == {"type": "tool", "name": "submit_forecast"}
    (tool,) = body["tools"]
    schema = tool["input_schema"]
    order = list(schema["properties"])
    assert order.index("outside_view") < order.index("counter_argument")
    assert order.index("counter_argument") < order.index("probability")
    assert schema["properties"]["probability"] == {"type": "number", "minimum": 0, "maximum": 1}
    assert body["max_tokens"] >= 2000  # room to reason first
    instruction = body["messages"][0]["content"][-1]["text"]  # after the cached context
    assert "best case that it resolves NO" in instruction  # framing 2 of 5


@pytest.mark.parametrize("status", [429, 529])
async def test_rate_limits_and_overload_are_retried_honouring_retry_after(
    server: FakeAnthropicServer, client: anthropic.AsyncAnthropic, status: int
) -> None:
    recorder = InMemoryUsageRecorder()
    server.push(Reply.error(status, retry_after="0.01"), Reply.error(status, retry_after="0.01"))
    server.push(Reply.answer(0.55))
    outcome = await analyser(client, recorder).estimate(REQUEST)

    assert outcome.estimate is not None
    assert server.statuses == [status, status, 200]
    assert len(recorder.records) == 1


@pytest.mark.parametrize(
    ("status", "kind"), [(429, FailureKind.RATE_LIMITED), (529, FailureKind.OVERLOADED)]
)
async def test_exhausted_retries_are_failures_of_their_kind(
    server: FakeAnthropicServer, status: int, kind: FailureKind
) -> None:
    server.default = Reply.error(status, retry_after="0.01")
    sdk = make_client(API_KEY, base_url=server.url, timeout=5.0, max_retries=1)
    try:
        recorder = InMemoryUsageRecorder()
        llm = analyser(sdk, recorder)
        outcome = await llm.estimate(REQUEST)
    finally:
        await sdk.close()
    assert outcome.failure is kind
    assert len(server.statuses) == 2
    (usage,) = recorder.records
    assert (usage.ok, usage.error, usage.cost) == (False, str(kind), Decimal(0))


async def test_a_hanging_response_times_out_and_counts_as_a_failure(
    server: FakeAnthropicServer,
) -> None:
    server.push(Reply(hang=True))
    sdk = make_client(API_KEY, base_url=server.url, timeout=0.2, max_retries=0)
    try:
        llm = analyser(sdk, InMemoryUsageRecorder(), timeout=0.2)
        outcome = await llm.estimate(REQUEST)
    finally:
        await sdk.close()
    assert outcome.estimate is None
    assert outcome.failure is FailureKind.TIMEOUT
    assert llm.stats.failures == 1


async def test_a_long_retry_after_is_cut_short_by_the_call_deadline(
    server: FakeAnthropicServer, client: anthropic.AsyncAnthropic
) -> None:
    server.push(Reply.error(529, retry_after="3600"))
    llm = analyser(client, InMemoryUsageRecorder(), deadline=0.2)
    outcome = await llm.estimate(REQUEST)
    assert outcome.failure is FailureKind.TIMEOUT
    assert "0.2 s" in outcome.detail
    assert server.statuses == [529]


async def test_a_slow_answer_within_the_timeout_is_fine(
    server: FakeAnthropicServer, client: anthropic.AsyncAnthropic
) -> None:
    server.push(Reply.answer(0.4, delay=0.05))
    outcome = await analyser(client, InMemoryUsageRecorder()).estimate(REQUEST)
    assert outcome.estimate is not None


async def test_the_concurrency_limit_bounds_requests_in_flight(
    server: FakeAnthropicServer, client: anthropic.AsyncAnthropic
) -> None:
    server.default = Reply.answer(0.5, delay=0.02)
    llm = analyser(client, InMemoryUsageRecorder(), concurrency=3)
    outcomes = await asyncio.gather(*(llm.estimate(REQUEST, sample=i) for i in range(12)))
    assert all(o.estimate is not None for o in outcomes)
    assert server.max_in_flight <= 3


async def test_budget_parallel_calls_never_spend_past_a_budget_for_five_and_a_half(
    server: FakeAnthropicServer, client: anthropic.AsyncAnthropic
) -> None:
    config = LLMConfig()
    price = config.prices[config.analysis_model]
    prompt = ANALYSIS_SYSTEM + market_context(REQUEST) + sample_turn(REQUEST, 0)
    worst = price.worst_case(
        prompt_tokens=estimate_tokens(prompt) + estimate_tokens(json.dumps(FORECAST_TOOL)) + 400,
        max_output_tokens=config.max_tokens,
    )
    limit = worst * Decimal("5.5")
    clock = FakeClock(NOW)
    recorder = InMemoryUsageRecorder()
    budget = DailyBudget(limit, clock, UTC, ledger=recorder)
    server.default = Reply.answer(0.5, delay=0.05)
    llm = analyser(client, recorder, budget=budget, clock=clock, concurrency=32)

    outcomes = await asyncio.gather(*(llm.estimate(REQUEST, sample=i) for i in range(16)))

    # the first primes the cold cache alone and settles at its real cost (well under the worst
    # case); the fifteen others reserve the worst case in parallel, and five of them fit
    assert llm.priming.primed == 1
    made = sum(1 for o in outcomes if o.estimate is not None)
    refused = sum(1 for o in outcomes if o.failure is FailureKind.BUDGET)
    assert made == 6
    assert refused == 10
    assert len(server.requests) == 6
    assert recorder.total_cost <= limit
    state = await budget.state()
    assert state.spent == recorder.total_cost
    assert state.reserved == 0
    assert llm.stats.budget_refusals == 10


async def test_the_screen_uses_the_triage_model(
    server: FakeAnthropicServer, client: anthropic.AsyncAnthropic
) -> None:
    recorder = InMemoryUsageRecorder()
    server.push(Reply.verdicts(False, reason="old news"))
    result = await analyser(client, recorder).screen(REQUEST)
    assert isinstance(result, ScreenOutput)
    assert not result.analyse
    assert result.reason == "old news"
    assert server.requests[0]["model"] == "claude-haiku-4-5"
    assert recorder.records[0].purpose == "triage"


async def test_the_api_key_never_reaches_the_logs(
    server: FakeAnthropicServer, client: anthropic.AsyncAnthropic, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    server.push(Reply.error(429, retry_after="0.01"), Reply(text="garbage"))
    await analyser(client, InMemoryUsageRecorder()).estimate(REQUEST)
    assert caplog.records
    assert API_KEY not in caplog.text


OLD_NEWS = AnalysisRequest(
    MARKET,
    Decimal("0.5"),
    (
        NewsMatch(
            NewsItem("n2", "Vote scheduled", "https://x.test/2", "", NOW - timedelta(hours=3), "w"),
            0.5,
        ),
    ),
    NOW,
)


async def test_non_urgent_analyses_go_out_as_one_message_batch_at_half_the_price(
    server: FakeAnthropicServer, client: anthropic.AsyncAnthropic
) -> None:
    clock = FakeClock(NOW)
    recorder = InMemoryUsageRecorder()
    batcher = BatchSender(client, clock, BatchConfig(window=1.0, poll=30.0))
    llm = analyser(client, recorder, clock=clock)
    batched = LLMAnalyser(
        client, recorder=recorder, clock=clock, config=llm.config, batcher=batcher
    )
    server.batch_polls = 2
    server.push(Reply.answer(0.60), Reply.answer(0.61), Reply.answer(0.62), Reply.error(500))

    outcomes = await asyncio.gather(*(batched.estimate(OLD_NEWS, sample=i) for i in range(4)))

    # the first call primes the cache directly; the others wait for it, then go in one batch
    assert batched.priming.primed == 1
    assert server.statuses == [200]
    assert batcher.batches_sent == 1
    assert len(server.batched) == 3
    assert 30.0 in clock.sleeps  # polled on the clock until it ended
    assert [o.estimate.probability for o in outcomes[:3] if o.estimate] == [
        Decimal("0.60"),
        Decimal("0.61"),
        Decimal("0.62"),
    ]
    assert outcomes[3].failure is FailureKind.API_ERROR
    assert "errored" in outcomes[3].detail
    assert [r.batch for r in recorder.records] == [False, True, True, True]
    # batched requests read the primed system prompt; their context breakpoint lives an hour
    context = server.batched[0]["messages"][0]["content"][0]
    assert context["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
    first = recorder.records[1]
    assert first.cache_read_tokens > 0
    direct = DEFAULT_PRICES["claude-sonnet-4-6"].cost(
        input_tokens=first.input_tokens,
        output_tokens=first.output_tokens,
        cache_read_tokens=first.cache_read_tokens,
        cache_write_tokens=first.cache_write_tokens,
        cache_write_1h_tokens=first.cache_write_tokens,  # every write of a batch: 1 h
    )
    assert first.cost == direct / 2

    # fresh news is urgent: straight to /v1/messages at the full price
    server.push(Reply.answer(0.7))
    urgent = await batched.estimate(REQUEST)
    assert urgent.estimate is not None
    assert server.statuses == [200, 200]
    assert not recorder.records[-1].batch


async def test_a_batched_call_holds_no_concurrency_slot_while_its_batch_runs(
    server: FakeAnthropicServer, client: anthropic.AsyncAnthropic
) -> None:
    clock = FakeClock(NOW)
    batcher = BatchSender(client, clock, BatchConfig(window=1.0, poll=30.0))
    config = LLMConfig(concurrency=2, requests_per_second=1000.0, burst=1000.0)
    llm = LLMAnalyser(
        client, recorder=InMemoryUsageRecorder(), clock=clock, config=config, batcher=batcher
    )

    outcomes = await asyncio.gather(*(llm.estimate(OLD_NEWS, sample=i) for i in range(9)))

    assert all(o.estimate is not None for o in outcomes)
    assert llm.priming.primed == 1
    assert batcher.batches_sent == 1  # all eight in one batch, not in batches of two
    assert len(server.batched) == 8


async def test_direct_calls_sent_together_while_the_prefix_is_cold_wait_for_one_to_write_it(
    server: FakeAnthropicServer, client: anthropic.AsyncAnthropic
) -> None:
    recorder = InMemoryUsageRecorder()
    llm = analyser(client, recorder)
    server.default = Reply.answer(0.5, delay=0.05)  # answers overlap, as real ones do
    markets = [REQUEST, OLD_NEWS]

    await asyncio.gather(*(llm.estimate(m) for m in markets for _ in range(2)))

    # sent together, all four would have missed the cache and each written the shared prefix
    # (an hour's write at twice the input price); the first wrote it, the others read it
    assert llm.priming.primed == 1
    first, *rest = recorder.records
    prefix = first.cache_write_tokens - len(market_context(REQUEST)) // 4
    assert prefix >= 2048  # Sonnet 4.6's minimum: the prefix is cached on its own
    assert all(r.cache_read_tokens >= prefix for r in rest)
    # direct: a market's context lives five minutes (its samples follow within seconds); the
    # shared prefix an hour (each cycle's first call renews it)
    body = server.requests[0]
    assert body["system"][-1]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
    assert body["messages"][0]["content"][0]["cache_control"] == {"type": "ephemeral", "ttl": "5m"}


async def test_an_ensemble_primes_the_markets_context_then_its_samples_read_it(
    server: FakeAnthropicServer, client: anthropic.AsyncAnthropic
) -> None:
    recorder = InMemoryUsageRecorder()
    llm = analyser(client, recorder)

    result = await run_ensemble(llm, REQUEST, EnsembleConfig(samples=3, min_valid=3))

    assert result.forecast is not None
    first, *rest = recorder.records
    assert first.cache_write_tokens > 0
    # sent together, each sample would have written the context; primed, the others read it
    assert [r.cache_read_tokens for r in rest] == [first.cache_write_tokens] * 2
    assert [r.cache_write_tokens for r in rest] == [0, 0]


async def test_without_priming_parallel_samples_each_write_the_context(
    server: FakeAnthropicServer, client: anthropic.AsyncAnthropic
) -> None:
    recorder = InMemoryUsageRecorder()
    llm = analyser(client, recorder)
    await llm.estimate(OLD_NEWS)  # the shared prefix is warm; only the context is new
    server.default = Reply.answer(0.5, delay=0.05)  # all three in flight at once

    await run_ensemble(llm, REQUEST, EnsembleConfig(samples=3, min_valid=3, prime=False))

    writes = [r.cache_write_tokens for r in recorder.records[1:]]
    assert writes == [len(market_context(REQUEST)) // 4] * 3

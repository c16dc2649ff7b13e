"""The screen through the real `anthropic` SDK against the fake Messages API: several markets a
call, each with its own verdict and its share of the cost; batched when not urgent."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import anthropic

from polysim.synthetic.signals import make_market
from tests.support.anthropic_fixtures import client, server
from tests.support.anthropic_server import FakeAnthropicServer, Reply
from trader.clock import FakeClock
from trader.signals.batching import BatchConfig, BatchSender
from trader.signals.llm import LLMAnalyser, LLMConfig
from trader.signals.prompts import ScreenOutput
from trader.signals.records import InMemoryUsageRecorder
from trader.signals.screening import ScreenGroupConfig, shares
from trader.signals.values import AnalysisRequest, FailureKind, NewsItem, NewsMatch

__all__ = ["client", "server"]  # fixtures used by name below

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


def request(n: int, *, age: timedelta = timedelta(hours=3)) -> AnalysisRequest:
    market = make_market(f"m{n}", f"Will event {n} happen?", end_date=NOW + timedelta(days=9))
    item = NewsItem(f"n{n}", f"Event {n} talks", f"https://x.test/{n}", "", NOW - age, "wire")
    return AnalysisRequest(market, Decimal("0.5"), (NewsMatch(item, 0.5),), NOW)


def analyser(
    client: anthropic.AsyncAnthropic,
    recorder: InMemoryUsageRecorder,
    clock: FakeClock,
    *,
    size: int = 10,
    batcher: BatchSender | None = None,
) -> LLMAnalyser:
    config = LLMConfig(
        requests_per_second=1000.0, burst=1000.0, screen_groups=ScreenGroupConfig(size=size)
    )
    return LLMAnalyser(client, recorder=recorder, clock=clock, config=config, batcher=batcher)


async def test_screens_asked_together_share_one_call_each_with_its_verdict_and_cost_share(
    server: FakeAnthropicServer, client: anthropic.AsyncAnthropic
) -> None:
    recorder = InMemoryUsageRecorder()
    llm = analyser(client, recorder, FakeClock(NOW))
    server.push(Reply.verdicts(True, False, True))

    results = await asyncio.gather(*(llm.screen(request(n)) for n in range(3)))

    assert len(server.requests) == 1
    (body,) = server.requests
    assert body["tool_choice"] == {"type": "tool", "name": "screen_markets"}
    listed = server.screened(body)
    assert [f"Will event {n} happen?" in text for n, text in enumerate(listed)] == [True] * 3
    assert all(isinstance(r, ScreenOutput) for r in results)
    assert [r.analyse for r in results if isinstance(r, ScreenOutput)] == [True, False, True]
    # one usage record per market, with its share of the call's tokens and cost
    assert [r.market for r in recorder.records] == ["m0", "m1", "m2"]
    assert sum(r.input_tokens for r in recorder.records) == llm.stats.input_tokens
    assert sum(r.cost for r in recorder.records) == llm.stats.cost
    assert [r.cost for r in results if isinstance(r, ScreenOutput)] == [
        r.cost for r in recorder.records
    ]
    assert llm.stats.calls == 1


async def test_a_market_the_answer_leaves_out_has_a_failed_screen(
    server: FakeAnthropicServer, client: anthropic.AsyncAnthropic
) -> None:
    llm = analyser(client, InMemoryUsageRecorder(), FakeClock(NOW))
    server.push(Reply(text='{"verdicts": [{"market": 1, "analyse": false, "reason": "old"}]}'))

    first, second = await asyncio.gather(llm.screen(request(0)), llm.screen(request(1)))

    assert isinstance(first, ScreenOutput)
    assert not first.analyse
    assert not isinstance(second, ScreenOutput)
    assert second.failure is FailureKind.INVALID_OUTPUT
    assert "no verdict" in second.detail


async def test_a_failed_call_fails_every_screen_in_it(
    server: FakeAnthropicServer, client: anthropic.AsyncAnthropic
) -> None:
    llm = analyser(client, InMemoryUsageRecorder(), FakeClock(NOW))
    server.push(Reply.error(500))

    results = await asyncio.gather(*(llm.screen(request(n)) for n in range(2)))

    assert [r.failure for r in results if not isinstance(r, ScreenOutput)] == [
        FailureKind.API_ERROR
    ] * 2
    assert llm.stats.failures == 1  # one call failed


async def test_groups_hold_at_most_size_markets(
    server: FakeAnthropicServer, client: anthropic.AsyncAnthropic
) -> None:
    llm = analyser(client, InMemoryUsageRecorder(), FakeClock(NOW), size=2)

    results = await asyncio.gather(*(llm.screen(request(n)) for n in range(5)))

    assert all(isinstance(r, ScreenOutput) and r.analyse for r in results)
    assert sorted(len(server.screened(b)) for b in server.requests) == [1, 2, 2]


async def test_non_urgent_screens_are_batched_from_the_first_their_prefix_too_short_to_cache(
    server: FakeAnthropicServer, client: anthropic.AsyncAnthropic
) -> None:
    clock = FakeClock(NOW)
    recorder = InMemoryUsageRecorder()
    batcher = BatchSender(client, clock, BatchConfig(window=1.0, poll=30.0))
    llm = analyser(client, recorder, clock, batcher=batcher)

    # Haiku 4.5 caches from 4,096 tokens, the screen's prefix is ~600: no direct call to prime it
    first = await llm.screen(request(9))
    results = await asyncio.gather(*(llm.screen(request(n)) for n in range(3)))
    urgent = await llm.screen(request(7, age=timedelta(minutes=5)))

    assert all(isinstance(r, ScreenOutput) and r.analyse for r in [first, *results, urgent])
    assert llm.priming.primed == 0
    assert server.statuses == [200]  # only the urgent one was sent directly
    assert [len(server.screened(b)) for b in server.batched] == [1, 3]  # two batches
    assert all(r.cache_read_tokens == r.cache_write_tokens == 0 for r in recorder.records)
    assert [r.batch for r in recorder.records] == [True, True, True, True, False]
    assert recorder.records[1].cost < recorder.records[0].cost  # a third each of one call


def test_token_shares_add_up_to_the_call() -> None:
    split = shares({"input_tokens": 10, "output_tokens": 3}, 3)

    assert split == [
        {"input_tokens": 4, "output_tokens": 1},
        {"input_tokens": 3, "output_tokens": 1},
        {"input_tokens": 3, "output_tokens": 1},
    ]

"""A later cycle within the hour reads each unchanged market's context from the prompt cache.

The real SDK against the fake Messages API, whose cache lifetimes run on the test's clock: a
cold cycle of three markets (three samples each, batched: their news is hours old), then, 15
minutes later, the same markets again with the same analyser, one of them with a new news item.
The context holds only the market's evidence (the current time comes after the breakpoint), and
a batchable market's context lives an hour, the one primed by the direct call included.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import anthropic

from polysim.synthetic.signals import make_market
from tests.support.anthropic_fixtures import client, server
from tests.support.anthropic_server import FakeAnthropicServer
from trader.clock import FakeClock
from trader.signals.batching import BatchConfig, BatchSender
from trader.signals.ensemble import EnsembleConfig, run_ensemble
from trader.signals.llm import LLMAnalyser, LLMConfig
from trader.signals.prompts import market_context
from trader.signals.records import InMemoryUsageRecorder, UsageRecord
from trader.signals.values import AnalysisRequest, NewsItem, NewsMatch

__all__ = ["client", "server"]  # fixtures used by name below

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
SAMPLES = EnsembleConfig(samples=3, min_valid=2)


def _item(n: int, published: datetime) -> NewsMatch:
    title = f"Committee {n} schedules the vote"
    return NewsMatch(
        NewsItem(f"n{n}", title, f"https://x.test/{n}", "Officials said so.", published, "w"), 0.5
    )


def _request(n: int) -> AnalysisRequest:
    market = make_market(
        f"m{n}",
        f"Will committee {n} pass the bill?",
        end_date=NOW + timedelta(days=10),
        description=f"Resolves YES if committee {n} passes the bill.",
    )
    return AnalysisRequest(market, Decimal("0.5"), (_item(n, NOW - timedelta(hours=3)),), NOW)


async def _cycle(llm: LLMAnalyser, requests: Sequence[AnalysisRequest]) -> None:
    results = await asyncio.gather(*(run_ensemble(llm, r, SAMPLES) for r in requests))
    assert all(result.forecast is not None for result in results)


def _by_market(records: Sequence[UsageRecord]) -> dict[str, list[UsageRecord]]:
    out: dict[str, list[UsageRecord]] = {}
    for record in records:
        out.setdefault(record.market, []).append(record)
    return out


async def test_a_cycle_15_minutes_later_reads_unchanged_contexts_and_writes_a_changed_one(
    server: FakeAnthropicServer, client: anthropic.AsyncAnthropic
) -> None:
    clock = FakeClock(NOW)
    server.cache.now = clock.monotonic  # the fake's cache lifetimes on the test's clock
    recorder = InMemoryUsageRecorder()
    llm = LLMAnalyser(
        client,
        recorder=recorder,
        clock=clock,
        config=LLMConfig(requests_per_second=1000.0, burst=1000.0),
        batcher=BatchSender(client, clock, BatchConfig(window=1.0, poll=30.0)),
    )
    cold = [_request(n) for n in (1, 2, 3)]
    await _cycle(llm, cold)
    sent_cold, recorded_cold = len(server.requests), len(recorder.records)
    clock.advance(15 * 60)
    now = clock.now()
    fresh = _item(9, now - timedelta(hours=2))  # new to the feed, not urgent: still batched
    warm = [replace(r, now=now) for r in cold[:2]]
    warm.append(replace(cold[2], now=now, news=(*cold[2].news, fresh)))

    await _cycle(llm, warm)

    records = _by_market(recorder.records[recorded_cold:])
    assert llm.priming.primed == 1  # the shared prefix is still warm: nothing primes it again
    assert all(r.batch for rs in records.values() for r in rs)
    prefix_and_context = {
        m: rs[-1].cache_read_tokens
        for m, rs in _by_market(recorder.records[:recorded_cold]).items()
    }
    for unchanged in ("m1", "m2"):  # m1's context was written by the direct priming call
        assert [r.cache_write_tokens for r in records[unchanged]] == [0, 0, 0]
        assert [r.cache_read_tokens for r in records[unchanged]] == [
            prefix_and_context[unchanged]
        ] * 3
    first, *later = records["m3"]  # new evidence: its first sample writes the new context
    assert first.cache_write_tokens == len(market_context(warm[2])) // 4
    assert [r.cache_write_tokens for r in later] == [0, 0]
    # the model is told the new time, after the cached blocks, once a request
    stamp = f"Current time: {now:%Y-%m-%d %H:%M} UTC\n"
    for body in server.requests[sent_cold:]:
        cached, uncached = body["messages"][0]["content"]
        assert "Current time" not in cached["text"]
        assert uncached["text"].startswith(stamp)
        assert "cache_control" not in uncached
        assert cached["cache_control"] == {"type": "ephemeral", "ttl": "1h"}

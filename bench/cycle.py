"""Signal cycle wall time: 200 markets, the fake Messages API answering in 1 s.

The concurrent cycle (LLM concurrency 32, markets 32 at a time) is measured in full. The naive
sequential loop (one call at a time) would take minutes, so it is measured on a sample of
markets and extrapolated linearly to 200; the printed label says so. Both use the real
`anthropic` SDK against the fake server on 127.0.0.1, three ensemble samples per market, and the
request-rate limiter set out of the way (1000/s) so that latency and concurrency are what is
measured. Tokens and cost are those the fake server reports (about four characters a token,
prompt caching simulated), priced at the default Sonnet list prices.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from decimal import Decimal

from polysim.synthetic.signals import StaticBooks, StaticNews, Universe, universe
from tests.support.anthropic_server import FakeAnthropicServer, Reply
from trader.clock import SystemClock
from trader.domain import TradingMode
from trader.signals.ensemble import EnsembleConfig
from trader.signals.llm import LLMAnalyser, LLMConfig, make_client
from trader.signals.pipeline import CycleResult, PipelineConfig, SelectionConfig, build_pipeline
from trader.signals.records import InMemoryUsageRecorder

MARKETS = 200
SEQUENTIAL_SAMPLE = 4
CONCURRENCY = 32
SAMPLES = 3
LATENCY = 1.0


async def _cycle(
    url: str, world: Universe, concurrency: int, *, twice: bool = False
) -> list[CycleResult]:
    clock = SystemClock()
    client = make_client("sk-bench", base_url=url, timeout=30.0, max_retries=0)
    try:
        llm = LLMAnalyser(
            client,
            recorder=InMemoryUsageRecorder(),
            clock=clock,
            config=LLMConfig(concurrency=concurrency, requests_per_second=1000.0, burst=1000.0),
        )
        pipeline = build_pipeline(
            books=StaticBooks(dict(world.books)),
            clock=clock,
            news=StaticNews(world.news),
            llm=llm,
            ensemble=EnsembleConfig(samples=SAMPLES, min_valid=2),
            config=PipelineConfig(
                selection=SelectionConfig(max_markets=len(world.markets)),
                concurrency=concurrency,
            ),
        )
        results = []
        for _ in range(2 if twice else 1):
            results.append(
                await pipeline.run_cycle(
                    world.markets, bankroll=Decimal(10_000), mode=TradingMode.PAPER
                )
            )
        return results
    finally:
        await client.close()


async def _measure() -> dict[str, float]:
    world = universe(MARKETS, datetime.now(UTC))
    sample = universe(SEQUENTIAL_SAMPLE, datetime.now(UTC), seed=11)
    async with FakeAnthropicServer(default=Reply.answer(0.66, delay=LATENCY)) as server:
        first, second = await _cycle(server.url, world, CONCURRENCY, twice=True)
        concurrent = first.report.duration_seconds
        started = time.perf_counter()
        (naive,) = await _cycle(server.url, sample, 1)
        sequential_sample = time.perf_counter() - started
        max_in_flight = server.max_in_flight
    sequential = sequential_sample / SEQUENTIAL_SAMPLE * MARKETS
    assert first.report.analysed == MARKETS, first.report.markets[:3]
    assert naive.report.analysed == SEQUENTIAL_SAMPLE
    return {
        f"concurrent_cycle_s ({MARKETS} markets x {SAMPLES} samples, concurrency {CONCURRENCY}, "
        f"{LATENCY:g} s answers)": round(concurrent, 2),
        f"sequential_cycle_s (extrapolated from {SEQUENTIAL_SAMPLE} markets measured "
        "one call at a time)": round(sequential, 1),
        "speedup (sequential / concurrent)": round(sequential / concurrent, 1),
        "max_requests_in_flight": float(max_in_flight),
        "first_cycle_llm_calls": float(first.report.llm.calls),
        "first_cycle_tokens": float(first.report.llm.tokens),
        "first_cycle_cache_read_tokens": float(first.report.llm.cache_read_tokens),
        "first_cycle_cost_usd": float(first.report.llm.cost),
        "first_cycle_intents": float(len(first.groups)),
        "second_cycle_unchanged_llm_calls": float(second.report.llm.calls),
        "second_cycle_unchanged_tokens": float(second.report.llm.tokens),
        "second_cycle_unchanged_cost_usd": float(second.report.llm.cost),
        "second_cycle_unchanged_s": round(second.report.duration_seconds, 3),
    }


def run() -> dict[str, float]:
    return asyncio.run(_measure())


if __name__ == "__main__":
    for key, value in run().items():
        print(f"{key}: {value:,}")

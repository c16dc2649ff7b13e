"""LLM cost per analysed market and calls per cycle: 200 markets, the screen on and off.

Every run uses the real `anthropic` SDK against the fake Messages API on 127.0.0.1, three
ensemble samples per market with the forced `submit_forecast` tool, and the default list prices
(Sonnet for the analysis, Haiku for the screen). The fake bills prompt caching as the API does
(`tests.support.anthropic_cache`: by prefix in the API's order, the tool-use system prompt and
the tool first, per model, above the model's minimum cacheable length, 5-minute and 1-hour
writes at 1.25x and 2x, reads at 0.1x; the requests of one batch never read each other's
writes, the cautious reading of the API's best effort). The analyser caches the shared tools
and system prompt and, per market, its context (the first sample writes it, the others read
it); while the shared prefix is cold, one direct call writes it and the others, batched or
direct, wait for it.

It bills about four characters a token, so a sample's output is the size of the fake's
reasoning fields (~80 tokens); a real model's reasoning runs longer, and the cost scales with
it: the figures compare configurations, they do not predict a bill. Each direct answer takes
`LATENCY` seconds, so calls sent together overlap as real ones do.

The screen's fake verdict keeps the markets whose synthetic price is outside [0.3, 0.7] from
the deep analysis (about a third of the synthetic universe, priced in [0.2, 0.8]). Runs: the
screen off and on, each with direct calls and through the Message Batches API (half price; the
synthetic news is a few hours old, so none is urgent, the screens included).
"Per analysed market" is the cycle's LLM cost over the markets that reached the LLM (screened
out or analysed); "per deep analysis" over those analysed in depth. Target (issue #21): at most
$0.002 per analysed market with the screen on; each run's figure is printed beside it.

Each run is a cold cycle (nothing cached), then a warm one `WARM_AFTER` (15 minutes) later on the
same clock, the same analyser (its priming state and the fake's cache kept) and the same
markets and news; "screen on + batch" then runs a third, 15 minutes after that, in which every
other market has a new news item (dated an hour before the cold cycle, as a late feed has it, so
nothing turns urgent: a fresher item would send its market's calls direct at the full price).
Each cycle gets a new pipeline around the kept analyser: the triage's memory would skip every
market whose news and price bucket are unchanged ("nothing new"); the app re-analyses such a
market when its price moves a bucket, and the analysis prompt does not show the price, so its
context is unchanged. "contexts_written" counts the analysis calls that wrote to the cache (each
its market's context; the priming call the shared prefix too).
The fake's cache lifetimes run on the cycles' clock (`FakeClock`), so the 15 minutes pass for it.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from polysim.synthetic.signals import StaticBooks, StaticNews, Universe, universe
from tests.support.anthropic_server import FakeAnthropicServer, Reply
from trader.clock import FakeClock
from trader.domain import TradingMode
from trader.signals.batching import BatchConfig, BatchSender
from trader.signals.ensemble import EnsembleConfig
from trader.signals.llm import LLMAnalyser, LLMConfig, make_client
from trader.signals.pipeline import (
    CycleReport,
    PipelineConfig,
    SelectionConfig,
    SignalPipeline,
    build_pipeline,
)
from trader.signals.records import InMemoryUsageRecorder
from trader.signals.triage import Triage, TriageConfig
from trader.signals.values import NewsItem

MARKETS = 200
SAMPLES = 3
TARGET = Decimal("0.002")
# Seconds each direct answer takes (a batch's answers are ready when it ends). A real answer
# takes seconds; what matters here is that calls sent together are in flight together, as real
# ones are, so none reads what another writes: answered at once, each would be done before the
# next arrived, and the bench would bill calls sent together as if sent one after another.
LATENCY = 0.2
WARM_AFTER = timedelta(minutes=15)  # between the cold cycle and the warm one, and the next
WARM = "warm cycle 15 min later"
WARM_NEWS = "warm cycle 30 min later, half the markets with a new news item"
_PRICE = re.compile(r"Market price of YES: ([0-9.]+)")


def _material(market: str) -> bool:
    found = _PRICE.search(market)
    price = Decimal(found.group(1)) if found else Decimal("0.5")
    return Decimal("0.3") <= price <= Decimal("0.7")


def _respond(server: FakeAnthropicServer):  # type: ignore[no-untyped-def]
    def respond(body: dict[str, Any]) -> Reply:
        if server.forced_tool(body) == "screen_markets":
            verdicts = Reply.verdicts(*(_material(text) for text in server.screened(body)))
            return replace(verdicts, delay=LATENCY)
        return Reply.answer(0.66, delay=LATENCY)

    return respond


def _pipeline(
    world: Universe, clock: FakeClock, news: StaticNews, llm: LLMAnalyser, *, screen: bool
) -> SignalPipeline:
    """A new pipeline (so a new triage memory) around the kept analyser."""
    return build_pipeline(
        books=StaticBooks(dict(world.books)),
        clock=clock,
        news=news,
        llm=llm,
        triage=Triage(TriageConfig(low=Decimal(0), high=Decimal(1), require_news=False)),
        ensemble=EnsembleConfig(samples=SAMPLES, min_valid=2),
        config=PipelineConfig(
            selection=SelectionConfig(max_markets=len(world.markets)), concurrency=64
        ),
        screen=screen,
    )


def _news_for_half(world: Universe, cold: datetime) -> tuple[NewsItem, ...]:
    """The news with a new item for every other market, dated an hour before the cold cycle."""
    added = tuple(
        replace(
            item,
            item_id=f"{item.item_id}-vote",
            title=item.title.replace("talks advance", "vote scheduled"),
            summary=item.summary.replace("were moving ahead", "go to a vote this week"),
            published=cold - timedelta(hours=1),
        )
        for item in world.news[::2]
    )
    return world.news + added


async def _cycles(
    server: FakeAnthropicServer, world: Universe, now: datetime, *, screen: bool, batch: bool
) -> list[tuple[str, CycleReport, int]]:
    """(label, report, contexts written) for the cold cycle and the warm ones after it."""
    clock = FakeClock(now)
    server.cache.now = clock.monotonic  # the fake's cache lifetimes on the cycles' clock
    client = make_client("sk-bench", base_url=server.url, timeout=30.0, max_retries=0)
    phases = [("", world.news), (WARM, world.news)]
    if screen and batch:
        phases.append((WARM_NEWS, _news_for_half(world, now)))
    out = []
    try:
        batcher = BatchSender(client, clock, BatchConfig(window=0.5, poll=5.0)) if batch else None
        recorder = InMemoryUsageRecorder()
        llm = LLMAnalyser(
            client,
            recorder=recorder,
            clock=clock,
            config=LLMConfig(concurrency=32, requests_per_second=1000.0, burst=1000.0),
            batcher=batcher,
        )
        news = StaticNews(world.news)
        for label, items in phases:
            if label:
                clock.advance(WARM_AFTER.total_seconds())
            news.items = items
            seen = len(recorder.records)
            result = await _pipeline(world, clock, news, llm, screen=screen).run_cycle(
                world.markets, bankroll=Decimal(10_000), mode=TradingMode.PAPER
            )
            new = recorder.records[seen:]
            written = sum(1 for r in new if r.purpose == "analysis" and r.cache_write_tokens)
            out.append((label, result.report, written))
        return out
    finally:
        await client.close()


def _figures(name: str, report: CycleReport, written: int) -> dict[str, float]:
    deep = report.analysed - report.screened_out
    per_market = report.cost_per_analysed or Decimal(0)
    return {
        f"{name}: contexts_written": float(written),
        f"{name}: llm_calls_per_cycle": float(report.llm.calls),
        f"{name}: markets_analysed": float(report.analysed),
        f"{name}: screened_out": float(report.screened_out),
        f"{name}: cycle_cost_usd": float(report.llm.cost),
        f"{name}: cost_per_analysed_market_usd": float(per_market),
        f"{name}: cost_per_deep_analysis_usd": float(report.llm.cost / deep) if deep else 0.0,
        f"{name}: failed_calls": float(report.llm.failures),
    }


RUNS = (
    ("screen off", False, False),
    ("screen off + batch", False, True),
    ("screen on", True, False),
    ("screen on + batch", True, True),
)


async def _measure() -> dict[str, float | str]:
    made = datetime.now(UTC)
    world = universe(MARKETS, made)
    # the cycle runs four hours later: the news is not urgent, so every analysis can be batched
    now = made + timedelta(hours=4)
    figures: dict[str, float | str] = {}
    for run, screen, batch in RUNS:
        async with FakeAnthropicServer() as server:
            server.responder = _respond(server)
            cycles = await _cycles(server, world, now, screen=screen, batch=batch)
        for label, report, written in cycles:
            name = f"{run}, {label}" if label else run
            figures.update(_figures(name, report, written))
            per_market = report.cost_per_analysed or Decimal(0)
            verdict = "meets" if per_market <= TARGET else "MISSES"
            if report.llm.failures:  # a call that failed costs nothing: the figure would flatter
                verdict = f"NOT VALID: {report.llm.failures} calls failed"
            figures[f"target: cost per analysed market, {name}"] = (
                f"${per_market:.5f} vs <= ${TARGET} ({verdict})"
            )
    return figures


def run() -> dict[str, float | str]:
    return asyncio.run(_measure())


if __name__ == "__main__":
    for key, value in run().items():
        print(f"{key}: {value}")

"""Retrieval inside whole signal cycles: the searched articles, with their publication times,
reach the screen and the analysis prompt (in the market's cached block, after the system
prompt) and are stored with the forecast; a failing provider becomes an alert. Real httpx
against a fake GDELT and an article site, the real anthropic SDK against the fake Messages
API, a real database."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.render.common import RenderContext
from bot.render.reports import signals as render_signals
from polysim.synthetic.signals import StaticBooks, Universe, binary_books, universe
from tests.support.anthropic_server import FakeAnthropicServer, Reply, answer_text
from tests.support.news_search import FakeArticleSite, FakeGdeltServer, Page
from trader.bus import Bus
from trader.clock import FakeClock
from trader.domain import TradingMode
from trader.signals.ensemble import EnsembleConfig
from trader.signals.llm import LLMAnalyser, LLMConfig, make_client
from trader.signals.pipeline import PipelineConfig, SignalPipeline, build_pipeline
from trader.signals.pooling import PoolingConfig
from trader.signals.records import InMemoryForecastRecorder, InMemoryUsageRecorder
from trader.signals.retrieval.assembly import SearchSettings
from trader.signals.retrieval.gdelt import GdeltConfig, GdeltProvider
from trader.signals.retrieval.retriever import RetrievalConfig, Retriever
from trader.signals.runtime import SignalRuntime, SignalRuntimeConfig, build_signal_runtime
from trader.signals.sizing import SizingConfig
from trader.signals.triage import Triage, TriageConfig
from trader.signals.values import SourceRef
from trader.signals.views import SignalsAdapter
from trader.store.signals_repo import SqlForecastStore

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
SEEN = NOW - timedelta(hours=6)
TEXT = [
    "Negotiators said on Saturday that a signed agreement is expected within days.",
    "Officials from both sides confirmed the draft text had been initialled.",
]


def text_of(content: str | list[dict[str, Any]]) -> str:
    """A user turn's text, whether one string or content blocks (the cached context first)."""
    return content if isinstance(content, str) else "".join(b["text"] for b in content)


def respond(body: dict[str, Any]) -> Reply:
    tool = FakeAnthropicServer.forced_tool(body)
    if tool == "write_search_queries":
        return Reply(text=json.dumps({"queries": ["agreement signed talks", "draft initialled"]}))
    if tool == "screen_markets":
        markets = FakeAnthropicServer.screened(body)
        return Reply.verdicts(*(True for _ in markets), reason="fresh articles")
    return Reply(text=answer_text(0.8, sources_used=("A1",)))  # cited by its number


@pytest.fixture
async def servers() -> AsyncIterator[tuple[FakeGdeltServer, FakeArticleSite, FakeAnthropicServer]]:
    async with (
        FakeGdeltServer() as gdelt,
        FakeArticleSite() as site,
        FakeAnthropicServer(responder=respond) as model,
    ):
        url = site.serve("/deal", Page("Deal expected within days", TEXT))
        gdelt.add(url, "Deal expected within days", SEEN)
        yield gdelt, site, model


@asynccontextmanager
async def edge_pipeline(
    gdelt: FakeGdeltServer,
    model: FakeAnthropicServer,
    clock: FakeClock,
    books: StaticBooks,
    recorded: InMemoryForecastRecorder,
) -> AsyncIterator[SignalPipeline]:
    """The LLM edge pipeline with the screen, three samples and GDELT's retrieval."""
    async with httpx.AsyncClient() as http:
        sdk = make_client("sk-test", base_url=model.url, timeout=5.0, max_retries=0)
        llm = LLMAnalyser(
            sdk,
            recorder=InMemoryUsageRecorder(),
            clock=clock,
            config=LLMConfig(requests_per_second=1000.0, burst=1000.0),
        )
        provider = GdeltProvider(http, clock, GdeltConfig(base_url=gdelt.url, min_interval=0))
        try:
            yield build_pipeline(
                books=books,
                clock=clock,
                news=None,
                llm=llm,
                screen=True,
                triage=Triage(TriageConfig(require_news=False)),
                ensemble=EnsembleConfig(samples=3, min_valid=2),
                sizing=SizingConfig(min_edge=Decimal("0.01")),
                forecasts=recorded,
                config=PipelineConfig(concurrency=1),
                retriever=Retriever(
                    [provider], http, writer=llm, config=RetrievalConfig(private_hosts=True)
                ),
            )
        finally:
            await sdk.close()


async def test_the_analysis_sees_the_articles_after_the_cached_prompt_and_the_forecast_keeps_them(
    servers: tuple[FakeGdeltServer, FakeArticleSite, FakeAnthropicServer],
) -> None:
    gdelt, site, model = servers
    world = universe(1, NOW)
    recorded = InMemoryForecastRecorder()
    books = StaticBooks(dict(world.books))
    async with edge_pipeline(gdelt, model, FakeClock(NOW), books, recorded) as built:
        result = await built.run_cycle(
            world.markets, bankroll=Decimal(1000), mode=TradingMode.PAPER
        )

    tools = [FakeAnthropicServer.forced_tool(r) for r in model.requests]
    assert tools == ["write_search_queries", "screen_markets", *["submit_forecast"] * 3]
    screen = text_of(model.requests[1]["messages"][0]["content"])
    assert "2026-03-01 Deal expected within days" in screen
    analysis = model.requests[2]
    prompt = text_of(analysis["messages"][0]["content"])
    assert "[A1] 2026-03-01 06:00 UTC | gdelt | Deal expected within days\n" in prompt
    assert site.url not in prompt  # the model cites the article as A1, not by its link
    assert "a signed agreement is expected within days" in prompt
    assert prompt.index("</news>") < prompt.index("<articles>") < prompt.index("Independent")
    system = "".join(block["text"] for block in analysis["system"])
    assert "initialled" in prompt
    assert "initialled" not in system  # the cached prefix holds no retrieved text
    assert analysis["system"][-1]["cache_control"]["type"] == "ephemeral"
    context, instruction = analysis["messages"][0]["content"]  # the market's cached block first
    assert "<articles>" in context["text"]
    assert context["cache_control"]["type"] == "ephemeral"  # every sample reads the articles
    assert "<articles>" not in instruction["text"]
    [market] = result.report.markets
    assert market.retrieval.startswith("1 article(s) from gdelt; queries by llm")
    [record] = recorded.records
    assert record.forecast.retrieved == (
        SourceRef("Deal expected within days", f"{site.url}/deal", SEEN, "gdelt"),
    )
    assert record.forecast.sources == (f"{site.url}/deal",)  # "A1" read back as its link
    assert [r["query"] for r in gdelt.requests] == [
        "agreement signed talks sourcelang:english",
        "draft initialled sourcelang:english",
    ]


async def test_a_price_move_within_the_hour_reuses_the_search_and_the_cached_context(
    servers: tuple[FakeGdeltServer, FakeArticleSite, FakeAnthropicServer],
) -> None:
    gdelt, site, model = servers
    world = universe(1, NOW)
    [market] = world.markets
    clock, books = FakeClock(NOW), StaticBooks(dict(world.books))
    yes = world.books[market.tokens[0].token_id]
    async with edge_pipeline(gdelt, model, clock, books, InMemoryForecastRecorder()) as built:
        await built.run_cycle(world.markets, bankroll=Decimal(1000), mode=TradingMode.PAPER)
        first = len(model.requests)
        searched, read = len(gdelt.requests), site.hits["/deal"]
        clock.advance(20 * 60)
        moved = yes.mid + Decimal("0.05")  # into another price bucket: analysed again
        books.update(binary_books(market, moved, clock.now()))
        second = await built.run_cycle(
            world.markets, bankroll=Decimal(1000), mode=TradingMode.PAPER
        )

    tools = [FakeAnthropicServer.forced_tool(r) for r in model.requests[first:]]
    assert tools == ["screen_markets", *["submit_forecast"] * 3]  # no query-writing call
    assert (len(gdelt.requests), site.hits["/deal"]) == (searched, read)  # no search, no read
    before, after = (model.requests[n]["messages"][0]["content"][0] for n in (2, first + 1))
    assert after["text"] == before["text"]  # the market's cached context, byte for byte
    assert after["cache_control"] == before["cache_control"]
    [report] = second.report.markets
    assert "; queries by llm; reused from 2026-03-01 12:00 UTC" in report.retrieval
    assert report.trace is not None  # the market_analysed event, behind /why
    assert report.trace.to_json()["retrieval"]["reused_from"] == NOW


@asynccontextmanager
async def app_runtime(
    gdelt: FakeGdeltServer,
    model: FakeAnthropicServer,
    sessions: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    bus: Bus,
    world: Universe,
    books: StaticBooks,
) -> AsyncIterator[SignalRuntime]:
    """The app's signal runtime with an API key, no screen and GDELT's retrieval."""
    config = SignalRuntimeConfig(
        anthropic_api_key=SecretStr("sk-test"),
        anthropic_base_url=model.url,
        ensemble_samples=3,
        min_edge=Decimal("0.005"),
        pooling=PoolingConfig(weight=Decimal("0.75"), default_error=Decimal(0)),
        screen=False,
        search=SearchSettings(
            providers=("gdelt",),
            gdelt_base_url=gdelt.url,
            retrieval=RetrievalConfig(private_hosts=True),  # the article site is on 127.0.0.1
        ),
    )

    async def markets() -> Any:
        return world.markets

    async def bankroll() -> Decimal:
        return Decimal(1000)

    async with httpx.AsyncClient() as http:
        runtime = build_signal_runtime(
            config,
            sessions=sessions,
            clock=clock,
            bus=bus,
            markets=markets,
            books=books,
            http=http,
            bankroll=bankroll,
        )
        try:
            yield runtime
        finally:
            await runtime.close()


async def test_in_the_app_a_price_move_within_the_hour_costs_no_call_and_no_search(
    servers: tuple[FakeGdeltServer, FakeArticleSite, FakeAnthropicServer],
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """The search reused, the market's context is the same, so the forecast is reused too."""
    gdelt, _, model = servers
    world = universe(1, NOW)
    [market] = world.markets
    clock, books = FakeClock(NOW), StaticBooks(dict(world.books))
    yes = world.books[market.tokens[0].token_id]

    async with app_runtime(gdelt, model, sessions, clock, Bus(), world, books) as runtime:
        await runtime.run_cycle()
        asked, searched = len(model.requests), len(gdelt.requests)
        clock.advance(20 * 60)
        books.update(binary_books(market, yes.mid + Decimal("0.05"), clock.now()))
        second = await runtime.run_cycle()

    assert (asked, searched) == (1 + 3, 2)  # the queries and three samples; two searches
    assert (len(model.requests), len(gdelt.requests)) == (asked, searched)
    [report] = second.markets
    assert "reused from 2026-03-01 12:00 UTC" in report.retrieval
    assert "reused from 12:00 UTC" in report.analysis  # the samples, pooled at the new price


async def test_the_runtime_stores_the_retrieved_sources_and_alerts_on_a_failing_provider(
    servers: tuple[FakeGdeltServer, FakeArticleSite, FakeAnthropicServer],
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    gdelt, site, model = servers
    world = universe(2, NOW)
    clock, bus = FakeClock(NOW), Bus()
    alerts = bus.alerts.subscribe()
    books = StaticBooks(dict(world.books))

    async with app_runtime(gdelt, model, sessions, clock, bus, world, books) as runtime:
        await runtime.run_cycle()
        gdelt.status = 503
        clock.advance(25 * 3600)  # past the triage's re-analysis age
        failed = await runtime.run_cycle()
        view = SignalsAdapter(runtime).last_cycle()  # type: ignore[arg-type]

    rows = await SqlForecastStore(sessions, clock).for_market(world.markets[0].condition_id)
    stored = {
        "title": "Deal expected within days",
        "link": f"{site.url}/deal",
        "published": SEEN.isoformat(),
        "via": "gdelt",
    }
    assert [row.retrieved for row in rows if row.retrieved] == [[stored]]  # the first cycle's
    assert site.hits["/deal"] == 2  # read once per market in the first cycle
    assert failed.retrieval_failures == {"gdelt": 2}
    raised = []
    while (envelope := alerts.get_nowait()) is not None:
        raised.append(envelope.payload)
    [alert] = [a for a in raised if a.kind == "retrieval_failed"]
    assert "gdelt: 2 market(s)" in alert.body
    text = "\n".join(render_signals(view, RenderContext(UTC)).lines)  # /signals
    assert "news search: 0 article(s); queries by llm; failed: gdelt failed 2/2" in text

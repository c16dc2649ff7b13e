"""Whole signal cycles through the runtime: a real database (both backends), real news feeds
over httpx, the real Anthropic SDK against the fake Messages API, intents on a real bus."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.render.common import RenderContext
from bot.render.reports import signals as render_signals
from polysim.synthetic.signals import StaticBooks, Universe, binary_books, universe
from tests.support.anthropic_server import FakeAnthropicServer, Reply
from tests.support.feed_server import FakeFeedServer, FeedDocument, http_date, rss
from tests.support.openai_server import FakeOpenAIServer
from trader.bus import Bus, Envelope
from trader.clock import FakeClock
from trader.config import Settings
from trader.domain import Alert, Market, OrderIntent, TradingMode
from trader.events import RecordedEvent
from trader.ops.metrics import Metrics
from trader.scheduler import JobHook, JobScheduler, ScheduleConfig, job_plan
from trader.signals.pipeline import CycleReport, MarketReport
from trader.signals.pooling import PoolingConfig
from trader.signals.records import LLMStats
from trader.signals.runtime import (
    SignalRuntime,
    SignalRuntimeConfig,
    build_signal_runtime,
    fallback_reasons,
    signal_runtime_config,
)
from trader.signals.views import SignalsAdapter
from trader.store.db import to_jsonable
from trader.store.repositories import LlmUsageRepository
from trader.store.signals_repo import SqlForecastStore

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
Sessions = async_sessionmaker[AsyncSession]


class Events:
    """Stands in for the event log, keeping (type, payload, correlation id)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, Any], str | None]] = []

    def append(
        self,
        type: str,
        payload: dict[str, Any] | None = None,
        *,
        correlation_id: str | None = None,
        actor: str | None = None,
    ) -> None:
        self.seen.append((type, to_jsonable(dict(payload or {})), correlation_id))  # storable

    def record(
        self, event: RecordedEvent, *, correlation_id: str | None = None, actor: str | None = None
    ) -> None:
        self.append(event.type, event.payload(), correlation_id=correlation_id, actor=actor)

    @property
    def types(self) -> list[str]:
        return [kind for kind, _, _ in self.seen]


@pytest.fixture
async def feeds() -> AsyncIterator[FakeFeedServer]:
    async with FakeFeedServer() as server:
        yield server


@pytest.fixture
async def anthropic_api() -> AsyncIterator[FakeAnthropicServer]:
    async with FakeAnthropicServer(default=Reply.answer(0.9)) as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
def world() -> Universe:
    return universe(4, NOW)


def serve_news(feeds: FakeFeedServer, world: Universe) -> str:
    items = [
        {
            "title": item.title,
            "link": item.link,
            "guid": item.item_id,
            "description": item.summary,
            "pubDate": http_date(item.published),
        }
        for item in world.news
    ]
    return feeds.serve("/wire.rss", FeedDocument(rss(items), etag='"wire-1"'))


class Rig:
    """One runtime at a time on a shared database, bus and clock, rebuilt as after a restart.
    Bus traffic is captured by subscriptions taken before anything is published."""

    def __init__(
        self,
        sessions: Sessions,
        http: httpx.AsyncClient,
        world: Universe,
        config: SignalRuntimeConfig,
    ) -> None:
        self.sessions, self.http, self.world, self.config = sessions, http, world, config
        self.clock = FakeClock(NOW)
        self.bus = Bus()
        self.events = Events()
        self.intents: list[Envelope[OrderIntent]] = []
        self.alerts: list[Alert] = []
        self._intents = self.bus.intents.subscribe()
        self._alerts = self.bus.alerts.subscribe()
        self.markets: Callable[[], Awaitable[tuple[Market, ...]]] = self._world_markets
        self.runtime: SignalRuntime | None = None
        self.metrics = Metrics()
        self.books = StaticBooks(dict(world.books))  # moved by a test between cycles

    async def _world_markets(self) -> tuple[Market, ...]:
        return self.world.markets

    async def _markets(self) -> tuple[Market, ...]:
        return await self.markets()

    async def _bankroll(self) -> Decimal:
        return Decimal(1000)

    async def build(self) -> SignalRuntime:
        await self.close()
        self.runtime = build_signal_runtime(
            self.config,
            sessions=self.sessions,
            clock=self.clock,
            bus=self.bus,
            markets=self._markets,
            books=self.books,
            http=self.http,
            bankroll=self._bankroll,
            events=self.events,
            on_usage=self.metrics.record_llm_usage,
        )
        return self.runtime

    async def cycle(self) -> tuple[CycleReport, list[Envelope[OrderIntent]]]:
        """Run one cycle; its report and the intents it published."""
        assert self.runtime is not None
        report = await self.runtime.run_cycle()
        published = []
        while (envelope := self._intents.get_nowait()) is not None:
            published.append(envelope)
        self.intents.extend(published)
        while (alert := self._alerts.get_nowait()) is not None:
            self.alerts.append(alert.payload)
        return report, published

    async def close(self) -> None:
        if self.runtime is not None:
            await self.runtime.close()
            self.runtime = None


@pytest.fixture
async def make_rig(
    sessions: Sessions, http: httpx.AsyncClient, world: Universe
) -> AsyncIterator[Callable[[SignalRuntimeConfig], Rig]]:
    made: list[Rig] = []

    def make(cfg: SignalRuntimeConfig) -> Rig:
        rig = Rig(sessions, http, world, cfg)
        made.append(rig)
        return rig

    yield make
    for rig in made:
        await rig.close()


def config(feed: str, **changes: Any) -> SignalRuntimeConfig:
    base: dict[str, Any] = {
        "feeds": (feed,),
        "min_edge": Decimal("0.005"),
        "ensemble_samples": 3,
        # the model's view carries most of the weight here, so the synthetic news makes edges
        "pooling": PoolingConfig(weight=Decimal("0.75"), default_error=Decimal(0)),
        "screen": False,
    }
    return SignalRuntimeConfig(**{**base, **changes})


def llm_config(feed: str, api: FakeAnthropicServer, **changes: Any) -> SignalRuntimeConfig:
    return config(
        feed, anthropic_api_key=SecretStr("sk-test"), anthropic_base_url=api.url, **changes
    )


MakeRig = Callable[[SignalRuntimeConfig], Rig]


async def test_a_heuristic_cycle_publishes_intents_and_stores_forecasts_once_per_change(
    make_rig: MakeRig, feeds: FakeFeedServer, world: Universe, sessions: Sessions
) -> None:
    rig = make_rig(config(serve_news(feeds, world)))
    runtime = await rig.build()
    assert runtime.analyser == "heuristic (no ANTHROPIC_API_KEY)"
    assert runtime.last_report is None

    report, published = await rig.cycle()

    assert report.analysed == 4
    assert report.sources == {"heuristic": 4}
    assert published, "the heuristic finds some edge in the synthetic news"
    assert runtime.last_report is report
    assert runtime.last_cycle_at == NOW
    assert [e.payload for e in published] == list(runtime.last_published)
    for envelope in published:
        assert envelope.correlation_id == envelope.payload.correlation_id
        assert envelope.payload.strategy == "llm_edge"
    forecasts = SqlForecastStore(sessions, rig.clock)
    rows = [row for m in world.markets for row in await forecasts.for_market(m.condition_id)]
    assert len(rows) == 4
    assert {(row.source, row.model) for row in rows} == {("heuristic", "heuristic")}
    assert all(row.token_id == f"{row.market}-yes" for row in rows)
    traded = {row.correlation_id: row for row in rows if row.decision == "trade"}
    assert set(traded) == {e.correlation_id for e in published}
    assert rig.events.types[0] == "signal_cycle_started"
    assert rig.events.types[-1] == "signal_cycle_completed"
    assert rig.events.types.count("signal_group_published") == len(published)
    completed = rig.events.seen[-1][1]
    assert (completed["analysed"], completed["intents"]) == (4, len(published))
    assert rig.alerts == []
    # /why's record: one market_analysed per analysed market, a traded one under its group id
    analysed = [(p, cid) for kind, p, cid in rig.events.seen if kind == "market_analysed"]
    assert len(analysed) == 4
    by_group = {cid: p for p, cid in analysed}
    for envelope in published:
        payload = by_group[envelope.correlation_id]
        assert payload["decision"] == "trade"
        assert payload["news"]  # the titles the analysis saw
        assert payload["forecast"]["samples"]
        assert payload["sizing"]["bound"] in {"max_notional", "kelly", "min_edge", "depth"}

    again, published_again = await rig.cycle()

    assert again.analysed == 0
    assert published_again == []
    assert {m.reason for m in again.markets} == {"nothing new since the last analysis"}
    assert len([r for m in world.markets for r in await forecasts.for_market(m.condition_id)]) == 4

    await rig.build()  # a restart: the fingerprints and the news come back from the database
    after_restart, published_after = await rig.cycle()

    assert after_restart.analysed == 0
    assert published_after == []
    conditional = feeds.requests_for("/wire.rss")[-1]
    assert conditional.get("if-none-match") == '"wire-1"'  # the validator survived too


async def test_an_llm_cycle_calls_the_api_once_per_change_even_across_a_restart(
    make_rig: MakeRig,
    feeds: FakeFeedServer,
    anthropic_api: FakeAnthropicServer,
    world: Universe,
    sessions: Sessions,
) -> None:
    rig = make_rig(llm_config(serve_news(feeds, world), anthropic_api))
    runtime = await rig.build()
    assert runtime.analyser == "llm (claude-sonnet-4-6)"

    report, published = await rig.cycle()

    assert len(anthropic_api.requests) == 12  # four markets, three samples each
    assert report.sources == {"llm": 4}
    assert report.llm.calls == 12
    assert published  # a 0.9 view against mids of 0.2..0.8 buys YES somewhere
    usage = await LlmUsageRepository(sessions, rig.clock).recent()
    assert len(usage) == 12
    assert {row.market for row in usage} == {m.condition_id for m in world.markets}
    spent = sum((row.cost for row in usage), Decimal(0))
    assert spent > 0
    rows = await SqlForecastStore(sessions, rig.clock).for_market(world.markets[0].condition_id)
    assert (rows[0].source, rows[0].model) == ("llm", "claude-sonnet-4-6")
    # what was predicted, replayable: three samples, their median, the blend, dated sources
    assert rows[0].samples == ["0.9", "0.9", "0.9"]
    assert rows[0].aggregate == Decimal("0.9")
    assert rows[0].model_weight == Decimal("0.75")
    assert rows[0].retrieved
    assert all(ref["published"] is not None for ref in rows[0].retrieved)

    second, _ = await rig.cycle()
    assert second.llm.calls == 0
    assert len(anthropic_api.requests) == 12

    restarted = await rig.build()
    third, published_third = await rig.cycle()

    assert len(anthropic_api.requests) == 12
    assert third.analysed == 0
    assert published_third == []
    # the day's spend read back from llm_usage, against the default $5 budget
    assert await restarted.llm_spend_today() == (spent, Decimal(5))


@pytest.mark.parametrize("reuse_s", [3600, 0])
async def test_a_price_move_on_the_same_evidence_reuses_the_samples(
    make_rig: MakeRig,
    feeds: FakeFeedServer,
    anthropic_api: FakeAnthropicServer,
    world: Universe,
    reuse_s: int,
) -> None:
    rig = make_rig(llm_config(serve_news(feeds, world), anthropic_api, forecast_reuse_s=reuse_s))
    await rig.build()
    await rig.cycle()
    assert len(anthropic_api.requests) == 12

    # ten minutes later every price has moved two buckets; the news has not changed
    rig.clock.advance(600)
    for market in world.markets:
        mid = world.books[market.tokens[0].token_id].mid
        assert mid is not None
        rig.books.update(binary_books(market, mid + Decimal("0.04"), rig.clock.now()))
    second, _ = await rig.cycle()

    assert second.analysed == 4  # the triage sent each market back: its price moved
    analysed = [payload for kind, payload, _ in rig.events.seen if kind == "market_analysed"]
    whys = [payload["analysis"] for payload in analysed[4:]]
    if reuse_s:
        assert len(anthropic_api.requests) == 12  # no new samples: the same evidence
        assert second.llm.calls == 0
        assert second.sources == {"llm": 4}
        assert second.reused == 4
        assert rig.runtime is not None
        assert "4 analysed (4 on reused samples)" in rig.runtime.describe_last_cycle()
        assert whys == ["LLM ensemble: 3/3 samples, reused from 12:00 UTC (the same evidence)"] * 4
    else:
        assert len(anthropic_api.requests) == 24
        assert not any("reused" in why for why in whys)


async def test_the_screen_decides_which_markets_get_the_deep_analysis_and_its_cost_shows(
    make_rig: MakeRig,
    feeds: FakeFeedServer,
    anthropic_api: FakeAnthropicServer,
    world: Universe,
) -> None:
    dull = world.markets[0].question

    def respond(body: dict[str, Any]) -> Reply:
        if anthropic_api.forced_tool(body) == "screen_markets":
            return Reply.verdicts(*(dull not in text for text in anthropic_api.screened(body)))
        return Reply.answer(0.9)

    anthropic_api.responder = respond
    rig = make_rig(llm_config(serve_news(feeds, world), anthropic_api, screen=True))
    await rig.build()

    report, _ = await rig.cycle()

    screens = [b for b in anthropic_api.requests if b["model"] == "claude-haiku-4-5"]
    listed = [text for body in screens for text in anthropic_api.screened(body)]
    # every market screened once (several to a call when they arrive within the window; on
    # this rig's fake clock the window is one turn of the loop, so the grouping varies)
    assert sorted(listed) == sorted(set(listed))
    assert len(listed) == 4
    assert len(anthropic_api.requests) == len(screens) + 3 * 3  # three analysed, three samples
    assert report.screened_out == 1
    kept = next(m for m in report.markets if m.question == dull)
    assert kept.screen == "screened out: fake verdict"
    assert kept.screen_cost > 0
    assert kept.model_probability is None
    analysed = [m for m in report.markets if m.question != dull]
    assert all(m.screen == "analyse: fake verdict" for m in analysed)
    assert report.screen_cost == sum((m.screen_cost for m in report.markets), Decimal(0))
    assert report.cost_per_analysed == report.llm.cost / 4
    view = SignalsAdapter(rig.runtime).last_cycle()  # type: ignore[arg-type]
    assert view.screened_out == 1
    assert view.cost_per_analysed == report.cost_per_analysed
    text = "\n".join(render_signals(view, RenderContext(UTC)).lines)
    assert "Screen: 1 kept from the deep analysis" in text
    assert "per analysed market" in text
    # /metrics: tokens and cost by provider and model
    families = {f.name: f for f in text_string_to_metric_families(rig.metrics.render().decode())}
    costs = {
        s.labels["model"]: s.value
        for s in families["polyops_llm_cost_usd"].samples
        if s.name.endswith("_total") and s.labels["provider"] == "anthropic"
    }
    assert set(costs) == {"claude-haiku-4-5", "claude-sonnet-4-6"}
    assert sum(costs.values()) == pytest.approx(float(report.llm.cost))
    # the analysis's cache tokens: a market's later samples read its context from the cache
    tokens = {
        s.labels["kind"]: s.value
        for s in families["polyops_llm_tokens"].samples
        if s.name.endswith("_total") and s.labels["model"] == "claude-sonnet-4-6"
    }
    assert tokens["cache_read"] == report.llm.cache_read_tokens > 0
    assert tokens["cache_write"] == report.llm.cache_write_tokens > 0


async def test_with_anthropic_failing_the_openai_compatible_provider_analyses(
    make_rig: MakeRig,
    feeds: FakeFeedServer,
    anthropic_api: FakeAnthropicServer,
    world: Universe,
) -> None:
    anthropic_api.default = Reply.error(500)
    async with FakeOpenAIServer(default=Reply.answer(0.9)) as second:
        cfg = llm_config(
            serve_news(feeds, world),
            anthropic_api,
            openai_api_key=SecretStr("sk-oa"),
            openai_base_url=f"{second.url}/v1",
        )
        rig = make_rig(cfg)
        await rig.build()

        report, published = await rig.cycle()

    assert report.sources == {"llm": 4}  # no heuristic: the second provider answered
    assert second.requests
    assert published
    providers = {
        s.labels["provider"]
        for f in text_string_to_metric_families(rig.metrics.render().decode())
        if f.name == "polyops_llm_tokens"
        for s in f.samples
    }
    assert providers == {"openai"}  # the failed Anthropic calls billed no tokens


async def test_over_budget_falls_back_to_the_heuristic_with_an_alert(
    make_rig: MakeRig, feeds: FakeFeedServer, anthropic_api: FakeAnthropicServer, world: Universe
) -> None:
    cfg = llm_config(serve_news(feeds, world), anthropic_api, llm_daily_budget=Decimal("0.0001"))
    rig = make_rig(cfg)
    await rig.build()

    report, _ = await rig.cycle()

    assert anthropic_api.requests == []
    assert report.sources == {"heuristic": 4}
    assert report.llm.budget_refusals == 12
    fallback = [a for a in rig.alerts if a.kind == "llm_fallback"]
    assert len(fallback) == 1
    assert fallback[0].title == "Heuristic used instead of the LLM for 4 market(s)"
    assert fallback[0].body == "over daily LLM budget: 4"
    assert fallback[0].dedupe_key == "signals:llm_fallback"


async def test_a_failing_api_falls_back_with_the_reason_in_the_alert(
    make_rig: MakeRig, feeds: FakeFeedServer, anthropic_api: FakeAnthropicServer, world: Universe
) -> None:
    anthropic_api.default = Reply.error(400)  # not retried by the SDK: fails fast
    rig = make_rig(llm_config(serve_news(feeds, world), anthropic_api))
    await rig.build()

    report, _ = await rig.cycle()

    assert report.sources == {"heuristic": 4}
    (alert,) = [a for a in rig.alerts if a.kind == "llm_fallback"]
    assert alert.body == "LLM API failing: 4"


async def test_a_cycle_that_cannot_run_is_recorded_and_raised(
    make_rig: MakeRig, feeds: FakeFeedServer, world: Universe
) -> None:
    rig = make_rig(config(serve_news(feeds, world)))
    runtime = await rig.build()
    await rig.cycle()
    last = runtime.last_report

    async def venue_down() -> tuple[Market, ...]:
        raise ConnectionError("gamma unreachable")

    rig.markets = venue_down
    with pytest.raises(ConnectionError):
        await runtime.run_cycle()

    assert runtime.last_report is last
    assert runtime.last_error == "ConnectionError: gamma unreachable"
    kind, payload, correlation_id = rig.events.seen[-1]
    assert kind == "signal_cycle_failed"
    assert payload["error"] == "ConnectionError: gamma unreachable"
    assert correlation_id == rig.events.seen[-2][2]  # the same cycle id as its start


async def test_the_scheduler_runs_the_cycle_for_the_control_api(
    make_rig: MakeRig, feeds: FakeFeedServer, world: Universe
) -> None:
    rig = make_rig(config(serve_news(feeds, world)))
    runtime = await rig.build()
    assert runtime.describe_last_cycle() == "No signal cycle has completed yet."
    assert await runtime.llm_spend_today() == (0, 0)  # no key, no LLM spend
    plan = job_plan(ScheduleConfig(), {"signal_cycle": runtime.run_cycle})
    scheduler = JobScheduler(plan, clock=rig.clock, alert=rig.bus.alerts.publish)
    hook = JobHook(scheduler, "signal_cycle", describe=runtime.describe_last_cycle)
    assert hook.next_cycle_at() is None
    scheduler.start()
    try:
        next_cycle = hook.next_cycle_at()
        assert next_cycle is not None
        assert next_cycle > datetime.now(UTC) + timedelta(minutes=29)

        reply = await hook.run_now()
    finally:
        await scheduler.stop()

    assert runtime.last_report is not None
    assert runtime.last_report.analysed == 4
    published = len(runtime.last_published)
    assert reply == (
        "Signal cycle done (heuristic (no ANTHROPIC_API_KEY)): 4 of 4 markets selected, "
        f"4 analysed, {published} intent(s) published."
    )
    assert hook.last_cycle_at() == NOW


def test_the_runtime_config_comes_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in Settings.model_fields:  # the settings come from the test, not the environment
        monkeypatch.delenv(name.upper(), raising=False)
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        trading_mode="paper",
        operator_tz="Europe/London",
        news_feeds="https://news.test/a.rss,https://news.test/b.xml",
        anthropic_api_key="sk-ant-test",
        llm_daily_budget_usd="2.50",
        llm_ensemble_samples=5,
        max_order_notional_usd="25",
        min_edge="0.04",
        kelly_fraction="0.1",
    )

    cfg = signal_runtime_config(settings)

    assert cfg.feeds == ("https://news.test/a.rss", "https://news.test/b.xml")
    assert cfg.uses_llm
    assert cfg.anthropic_api_key is not None
    assert cfg.anthropic_api_key.get_secret_value() == "sk-ant-test"
    assert (cfg.llm_daily_budget, cfg.ensemble_samples) == (Decimal("2.50"), 5)
    assert (cfg.max_order_notional, cfg.min_edge, cfg.kelly_fraction) == (
        Decimal(25),
        Decimal("0.04"),
        Decimal("0.1"),
    )
    assert str(cfg.zone) == "Europe/London"
    assert not signal_runtime_config(Settings(_env_file=None)).uses_llm  # type: ignore[call-arg]


def test_fallback_reasons_count_only_real_fallbacks() -> None:
    def market(analysis: str) -> MarketReport:
        return MarketReport("0xm", "?", "skip", "", analysis=analysis)

    report = CycleReport(
        started_at=NOW,
        duration_seconds=0.0,
        mode=TradingMode.PAPER,
        candidates=4,
        selected=4,
        analysed=4,
        markets=(
            market("heuristic: no API key"),
            market("heuristic: LLM API failing (timeout x3)"),
            market("heuristic: LLM API failing (2 markets in a row)"),
            market("LLM ensemble: 3/3 samples"),
            market("heuristic: over daily LLM budget"),
        ),
        llm=LLMStats(),
    )

    assert fallback_reasons(report) == {"LLM API failing": 2, "over daily LLM budget": 1}

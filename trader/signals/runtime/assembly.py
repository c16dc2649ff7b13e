"""`build_signal_runtime`: the pipeline wired to the database, the bus and the event log;
the LLM providers (and their SDKs) loaded only when their key is set."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from trader.bus import Bus
from trader.clock import Clock
from trader.domain import Position
from trader.events import EventSink
from trader.signals.analysis import AnalysisConfig
from trader.signals.budget import DailyBudget
from trader.signals.ensemble import EnsembleConfig
from trader.signals.exit_prices import RestingOrder
from trader.signals.exit_records import SqlModelViews
from trader.signals.exits import ExitWatch
from trader.signals.news import Feed, NewsConfig, NewsSource
from trader.signals.pipeline import (
    BookGetter,
    HoldingsSource,
    LLMProvider,
    PipelineConfig,
    SelectionConfig,
    build_pipeline,
)
from trader.signals.pooling import CalibrationHolder
from trader.signals.records import (
    InMemoryForecastRecorder,
    NewsCache,
    RecordingTap,
    TeeForecastRecorder,
    TeeNewsCache,
    TeeUsageRecorder,
    UsageRecord,
    UsageRecorder,
)
from trader.signals.refit import CalibrationRefit
from trader.signals.runtime.config import SignalRuntimeConfig
from trader.signals.runtime.cycle import BankrollSource, MarketSource, SignalRuntime
from trader.signals.sizing import SizingConfig
from trader.signals.triage import Triage, TriageConfig
from trader.stages import StageBook
from trader.store.repositories import ControlStateRepository
from trader.store.signals_repo import (
    SqlAnalysisMemory,
    SqlForecastStore,
    SqlNewsCache,
    SqlUsageRecorder,
)

if TYPE_CHECKING:  # loaded only when retrieval is on (see below)
    from trader.signals.retrieval.retriever import Retriever


def provider_chain(
    providers: Mapping[str, LLMProvider], order: Sequence[str], clock: Clock
) -> LLMProvider | None:
    """The configured providers in `order` (those without a key left out): one alone as it is,
    several as a `ProviderChain`; None when none is configured."""
    chosen = [(name, providers[name]) for name in dict.fromkeys(order) if name in providers]
    if not chosen:
        return None
    if len(chosen) == 1:
        return chosen[0][1]
    from trader.signals.providers import ProviderChain

    return ProviderChain(chosen, clock)


def build_signal_runtime(
    config: SignalRuntimeConfig,
    *,
    sessions: async_sessionmaker[AsyncSession],
    clock: Clock,
    bus: Bus,
    markets: MarketSource,
    books: BookGetter,
    http: httpx.AsyncClient,
    bankroll: BankrollSource,
    events: EventSink | None = None,
    holdings: HoldingsSource | None = None,
    allow_heuristic_live: Callable[[], bool] = lambda: False,
    stages: Callable[[], StageBook] = StageBook.defaults,
    on_usage: Callable[[UsageRecord], object] | None = None,
    positions: Callable[[], Sequence[Position]] | None = None,
    tap: RecordingTap | None = None,
    resting: Callable[[], Sequence[RestingOrder]] = tuple,
) -> SignalRuntime:
    """Assemble news, the analyser (LLM with a key, heuristic without), the budget, the
    pipeline and the database recorders. The caller owns `http`; the runtime owns the
    Anthropic client it creates and closes it in `close()`. With `positions` (the open
    positions) each cycle ends with their exits (`trader.signals.exits`), which leave our
    `resting` orders out of the books and wait while we bid on a held token. `tap` (the
    recorder) also gets each newly fetched news item and each forecast."""
    news_cache = SqlNewsCache(sessions, clock) if config.feeds else None
    feeds, window = [Feed(url) for url in config.feeds], NewsConfig(window=config.news_window)
    fetched: NewsCache | None = news_cache
    if news_cache is not None and tap is not None:
        fetched = TeeNewsCache(news_cache, tap)
    news = NewsSource(feeds, http, clock, config=window, cache=fetched) if fetched else None
    client = budget = None
    providers: dict[str, LLMProvider] = {}
    usage: UsageRecorder = SqlUsageRecorder(sessions, clock)
    if on_usage is not None:  # each call's tokens and cost into /metrics too
        usage = TeeUsageRecorder(usage, on_usage)
    others: list[Any] = []
    if config.openai_api_key is not None:
        # imported here: a configuration without the second provider never loads its SDK
        from trader.signals.providers import OpenAIAnalyser, OpenAIConfig, make_openai_client

        second = make_openai_client(
            config.openai_api_key.get_secret_value(),
            base_url=config.openai_base_url,
            timeout=config.llm_timeout_s,
        )
        others.append(second)
        providers["openai"] = OpenAIAnalyser(
            second,
            recorder=usage,
            clock=clock,
            config=OpenAIConfig(
                analysis_model=config.openai_analysis_model,
                triage_model=config.openai_triage_model,
                timeout=config.llm_timeout_s,
                concurrency=config.llm_concurrency,
            ),
        )
    if config.anthropic_api_key is not None:
        # imported here: without a key the Anthropic path (its SDK, prompts, caching) never loads
        from trader.signals.llm import LLMAnalyser, LLMConfig, make_client

        key, base_url = config.anthropic_api_key.get_secret_value(), config.anthropic_base_url
        client = make_client(key, base_url=base_url, timeout=config.llm_timeout_s)
        budget = DailyBudget(config.llm_daily_budget, clock, config.zone, ledger=usage)
        llm_config = LLMConfig(
            analysis_model=config.analysis_model,
            triage_model=config.triage_model,
            timeout=config.llm_timeout_s,
            concurrency=config.llm_concurrency,
        )
        batcher = None
        if config.batch:  # the batching module needs the SDK, loaded only with a key
            from trader.signals.batching import BatchSender

            batcher = BatchSender(client, clock)
        providers["anthropic"] = LLMAnalyser(
            client,
            recorder=usage,
            clock=clock,
            budget=budget,
            config=llm_config,
            batcher=batcher,
        )
    llm = provider_chain(providers, config.analysis_chain, clock)
    screener = provider_chain(providers, config.screen_chain, clock)
    # The cheap model writes the search queries (the heuristic's when there is none).
    retriever: Retriever | None = None
    if config.search.enabled:  # imported here: retrieval off never loads the providers
        from trader.signals.retrieval.assembly import build_retriever

        retriever = build_retriever(config.search, http=http, clock=clock, writer=screener or llm)
    # Without feeds there is no news to wait for: the price alone decides re-analysis; with
    # retrieval the search finds the news after the triage, so the triage does not wait for it.
    memory = SqlAnalysisMemory(sessions, clock)
    require_news = bool(config.feeds) and retriever is None
    triage = Triage(TriageConfig(require_news=require_news), memory)
    sizing = SizingConfig(
        kelly_fraction=config.kelly_fraction,
        max_notional=config.max_order_notional,
        min_edge=config.min_edge if config.min_edge > 0 else SizingConfig().min_edge,
    )
    selection = SelectionConfig(
        config.min_volume, config.min_liquidity, max_markets=config.max_markets
    )
    collector = InMemoryForecastRecorder()
    calibration = CalibrationHolder(config.pooling)
    forecasts = SqlForecastStore(sessions, clock)
    refit = CalibrationRefit(calibration, forecasts, ControlStateRepository(sessions, clock), clock)
    pipeline = build_pipeline(
        books=books,
        clock=clock,
        news=news,
        llm=llm,
        screener=screener,
        triage=triage,
        ensemble=EnsembleConfig(
            config.ensemble_samples, config.ensemble_samples // 2 + 1, pooling=config.pooling
        ),
        calibration=calibration,
        screen=config.screen,
        sizing=sizing,
        forecasts=collector if tap is None else TeeForecastRecorder(collector, tap),
        config=PipelineConfig(selection=selection),
        holdings=holdings,
        stages=stages,
        retriever=retriever,
        maker=config.maker,
        analysis=AnalysisConfig(
            forecast_reuse=timedelta(seconds=config.forecast_reuse_s)
            if config.forecast_reuse_s
            else None
        ),
    )
    runtime = SignalRuntime(
        config=config,
        pipeline=pipeline,
        collector=collector,
        forecasts=forecasts,
        markets=markets,
        bankroll=bankroll,
        bus=bus,
        clock=clock,
        events=events,
        news_cache=news_cache,
        budget=budget,
        client=client,
        other_clients=others,
        allow_heuristic_live=allow_heuristic_live,
        refit=refit,
    )
    if positions is not None:
        runtime.exits = ExitWatch(
            config.exits,
            positions=positions,
            books=books,
            views=SqlModelViews(sessions, clock),
            calibration=calibration,
            clock=clock,
            bus=bus,
            record=lambda kind, payload, corr: runtime._record(kind, payload, corr),
            resting=resting,
        )
    return runtime

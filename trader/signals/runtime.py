"""The signal cycle as the trader runs it: `build_signal_runtime` wires the pipeline to the
database, the bus and the event log; `SignalRuntime.run_cycle()` runs one cycle.

A cycle reads the markets and the bankroll, runs the pipeline, stores its forecasts, publishes
each intent on `bus.intents`, keeps the `CycleReport` (/signals) and records start, end,
duration or failure in the event log. The analyser is the LLM ensemble with an Anthropic API
key, the heuristic without (`analyser` says which). A fallback to the heuristic (over budget,
API failing) or a failed news stage becomes an alert with the pipeline's reason.

Intent groups: the execution engine takes intents one at a time, so a group is published as its
legs, in order. A one-leg group's intent has the group id as its correlation id; the legs of a
larger group have `<group id>-<leg>` and a reason ending `[group <id> leg i/n, all-or-none,
unwind: ...]`. The engine does not enforce all-or-none, and no strategy makes a multi-leg group
now (complete-set arbitrage was removed, see `trader.signals.strategies`). A traded market's
forecast rows carry its group id.

Cycles never overlap. Nothing here imports `trader.execution`.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import httpx
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from trader.bus import Bus
from trader.clock import Clock
from trader.config import Settings
from trader.domain import (
    Alert,
    Market,
    OrderIntent,
    Position,
    Severity,
    TradingMode,
    new_correlation_id,
)
from trader.events import EventSink, RecordedEvent, SignalCycleCompleted, SignalCycleFailed
from trader.signals.budget import DailyBudget
from trader.signals.ensemble import EnsembleConfig
from trader.signals.exit_prices import RestingOrder
from trader.signals.exit_records import SqlModelViews
from trader.signals.exits import ExitConfig, ExitWatch
from trader.signals.news import Feed, NewsConfig, NewsSource
from trader.signals.passive import MakerPolicy
from trader.signals.pipeline import (
    BookGetter,
    CycleReport,
    HoldingsSource,
    LLMProvider,
    PipelineConfig,
    SelectionConfig,
    SignalPipeline,
    build_pipeline,
)
from trader.signals.pooling import Aggregate, CalibrationHolder, PoolingConfig
from trader.signals.records import (
    ForecastRecord,
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
from trader.signals.retrieval.settings import SearchSettings, search_settings
from trader.signals.sizing import SizingConfig
from trader.signals.trace import MARKET_ANALYSED
from trader.signals.triage import Triage, TriageConfig
from trader.signals.values import IntentGroup, Source, UnwindAction
from trader.stages import StageBook
from trader.store.repositories import ControlStateRepository
from trader.store.signals_repo import (
    BrierScores,
    ForecastEntry,
    SqlAnalysisMemory,
    SqlForecastStore,
    SqlNewsCache,
    SqlUsageRecorder,
)

if TYPE_CHECKING:  # imported by make_client only when ANTHROPIC_API_KEY is set
    import anthropic

    from trader.signals.retrieval.retriever import Retriever

log = logging.getLogger(__name__)

MarketSource = Callable[[], Awaitable[Sequence[Market]]]
BankrollSource = Callable[[], Awaitable[Decimal]]
ACTOR = "scheduler:signals"
SCORE_DAYS = 30


@dataclass(frozen=True, slots=True)
class SignalRuntimeConfig:
    mode: TradingMode = TradingMode.PAPER
    zone: tzinfo = UTC  # the operator's: the LLM budget's day
    feeds: tuple[str, ...] = ()
    news_window: timedelta = timedelta(hours=48)
    anthropic_api_key: SecretStr | None = None
    anthropic_base_url: str | None = None
    analysis_model: str = "claude-sonnet-4-6"
    triage_model: str = "claude-haiku-4-5"
    llm_daily_budget: Decimal = Decimal(5)
    llm_concurrency: int = 8
    llm_timeout_s: float = 60.0
    ensemble_samples: int = 3
    min_volume: Decimal = Decimal(50_000)
    min_liquidity: Decimal = Decimal(1_000)
    max_markets: int = 50
    kelly_fraction: Decimal = Decimal("0.25")
    max_order_notional: Decimal = Decimal(50)
    min_edge: Decimal = Decimal("0.03")
    pooling: PoolingConfig = field(default_factory=PoolingConfig)
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    openai_analysis_model: str = "gpt-4.1-mini"
    openai_triage_model: str = "gpt-4.1-nano"
    analysis_chain: tuple[str, ...] = ("anthropic", "openai")
    screen_chain: tuple[str, ...] = ("anthropic", "openai")
    screen: bool = True  # the triage model screens markets before the deep analysis
    batch: bool = False  # non-urgent analyses through the Message Batches API
    search: SearchSettings = field(default_factory=SearchSettings)  # retrieval; off by default
    exits: ExitConfig = field(default_factory=ExitConfig)  # EXITS_ENABLED, EXIT_*
    maker: MakerPolicy | None = None  # entries rest post-only (MAKER_ENTRY); None: they take

    @property
    def uses_llm(self) -> bool:  # a key is what turns the LLM on
        return self.anthropic_api_key is not None or self.openai_api_key is not None


def signal_runtime_config(settings: Settings) -> SignalRuntimeConfig:
    return SignalRuntimeConfig(
        mode=settings.trading_mode,
        zone=settings.zone,
        feeds=settings.news_feeds,
        anthropic_api_key=settings.anthropic_api_key,
        anthropic_base_url=settings.anthropic_base_url,
        analysis_model=settings.llm_analysis_model,
        triage_model=settings.llm_triage_model,
        llm_daily_budget=settings.llm_daily_budget_usd,
        llm_concurrency=settings.llm_concurrency,
        llm_timeout_s=settings.llm_timeout_s,
        ensemble_samples=settings.llm_ensemble_samples,
        min_volume=settings.min_volume_usd,
        min_liquidity=settings.min_liquidity_usd,
        max_markets=settings.max_markets_per_cycle,
        kelly_fraction=settings.kelly_fraction,
        max_order_notional=settings.max_order_notional_usd,
        min_edge=settings.min_edge,
        pooling=PoolingConfig(
            aggregate=Aggregate(settings.forecast_aggregate),
            weight=settings.forecast_model_weight,
            heuristic_weight=settings.forecast_heuristic_weight,
            default_error=settings.forecast_default_error,
            min_resolved=settings.forecast_min_resolved,
        ),
        screen=settings.llm_screen,
        batch=settings.llm_batch,
        openai_api_key=settings.openai_api_key,
        openai_base_url=settings.openai_base_url,
        openai_analysis_model=settings.openai_analysis_model,
        openai_triage_model=settings.openai_triage_model,
        analysis_chain=tuple(settings.llm_analysis_chain.split(",")),
        screen_chain=tuple(settings.llm_screen_chain.split(",")),
        search=search_settings(settings),
        exits=ExitConfig(
            enabled=settings.exits_enabled,
            adverse_move=settings.exit_adverse_move,
            min_edge=settings.exit_min_edge,
            close_horizon=timedelta(seconds=settings.exit_close_horizon_s),
            stop_horizon=timedelta(seconds=settings.exit_stop_horizon_s),
            slippage=settings.exit_slippage,
            max_discount=settings.exit_max_discount,
            max_spread=settings.exit_max_spread,
        ),
        maker=maker_policy(settings),
    )


def maker_policy(settings: Settings) -> MakerPolicy | None:
    """The edge strategy's passive entries, with `MAKER_ENTRY` on; None: entries take."""
    if not settings.maker_entry:
        return None
    return MakerPolicy(
        improve_ticks=settings.maker_improve_ticks,
        urgent_edge=settings.maker_urgent_edge,
        ttl=timedelta(seconds=settings.maker_ttl_s),
    )


def group_legs(group: IntentGroup) -> tuple[OrderIntent, ...]:
    """The group's intents as published: correlation ids and reasons that name the group."""
    legs = group.intents
    if len(legs) == 1:
        return (replace(legs[0], correlation_id=group.group_id),)
    notes = ["all-or-none"] if group.all_or_none else []
    if group.unwind is not UnwindAction.NONE:
        notes.append(f"unwind: {group.unwind}")
    published = []
    for number, intent in enumerate(legs, start=1):
        tag = ", ".join([f"group {group.group_id} leg {number}/{len(legs)}", *notes])
        published.append(
            replace(
                intent,
                correlation_id=f"{group.group_id}-{number}",
                reason=f"{intent.reason} [{tag}]".strip(),
            )
        )
    return tuple(published)


def fallback_reasons(report: CycleReport) -> Counter[str]:
    """Why markets were analysed by the heuristic although the LLM is the primary model."""
    reasons: Counter[str] = Counter()
    for market in report.markets:
        why = market.analysis.removeprefix("heuristic: ")
        if why != market.analysis and why != "no API key":
            reasons[why.split(" (", 1)[0]] += 1
    return reasons


@dataclass(eq=False)
class SignalRuntime:
    """Runs signal cycles; built by `build_signal_runtime`. Call `close()` when done."""

    config: SignalRuntimeConfig
    pipeline: SignalPipeline
    collector: InMemoryForecastRecorder  # this cycle's forecasts, written after it
    forecasts: SqlForecastStore
    markets: MarketSource
    bankroll: BankrollSource
    bus: Bus
    clock: Clock
    events: EventSink | None = None  # the event log (typed cycle events are counted)
    news_cache: SqlNewsCache | None = None
    budget: DailyBudget | None = None
    client: anthropic.AsyncAnthropic | None = None  # owned: closed by `close()`
    other_clients: list[Any] = field(default_factory=list)  # owned too (the openai SDK's)
    # the operator's /set allow_heuristic_live (ControlState), read at each cycle's start
    allow_heuristic_live: Callable[[], bool] = field(default=lambda: False)
    refit: CalibrationRefit | None = None  # the daily job; `load()` at start
    exits: ExitWatch | None = None  # the open positions' exit rules, after each cycle
    last_report: CycleReport | None = field(default=None, init=False)
    last_cycle_at: datetime | None = field(default=None, init=False)  # the last one's start
    last_published: tuple[OrderIntent, ...] = field(default=(), init=False)
    last_error: str = field(default="", init=False)  # cleared by a completed cycle
    last_scores: BrierScores | None = field(default=None, init=False)  # read after each cycle
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False, repr=False)

    @property
    def analyser(self) -> str:
        """Which model analyses markets, for /status and /signals."""
        if self.config.uses_llm:
            return f"llm ({self.config.analysis_model})"
        return "heuristic (no ANTHROPIC_API_KEY)"

    def describe_last_cycle(self) -> str:
        """A line for /cycle: what the last completed cycle did."""
        report = self.last_report
        if report is None:
            return "No signal cycle has completed yet."
        return (
            f"Signal cycle done ({self.analyser}): {report.selected} of {report.candidates} "
            f"markets selected, {report.analysed} analysed, "
            f"{len(self.last_published)} intent(s) published."
        )

    async def llm_spend_today(self) -> tuple[Decimal, Decimal]:
        """(spent today, daily budget) in USD, the Control API's `SpendSource`."""
        state = await self.budget.state() if self.budget is not None else None
        return (state.spent, state.limit) if state is not None else (Decimal(0), Decimal(0))

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close()
            self.client = None
        while self.other_clients:
            await self.other_clients.pop().close()
        if self.config.search.enabled:  # retrieval's article-parsing threads
            from trader.signals.retrieval.articles import close_extractor

            close_extractor()

    async def run_cycle(self) -> CycleReport:
        """One cycle; raises (after recording the failure) if it could not run at all."""
        async with self._lock:
            cycle_id = new_correlation_id()
            self._record("signal_cycle_started", {"analyser": self.analyser}, cycle_id)
            start = self.clock.monotonic()
            try:
                report = await self._cycle(cycle_id)
            except asyncio.CancelledError:  # shutdown mid-cycle: say so, then stop
                self._record(
                    "signal_cycle_cancelled",
                    {"duration_s": self.clock.monotonic() - start},
                    cycle_id,
                )
                raise
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                took = self.clock.monotonic() - start
                self._record_event(SignalCycleFailed(self.last_error, took), cycle_id)
                raise
            self.last_report, self.last_cycle_at, self.last_error = report, report.started_at, ""
            summary = self._summary(report, start)
            completed = SignalCycleCompleted(summary["duration_s"], summary)
            self._record_event(completed, cycle_id)
            self._alert_fallbacks(report, cycle_id)
            return report

    async def _cycle(self, cycle_id: str) -> CycleReport:
        markets = await self.markets()
        bankroll = await self.bankroll()
        self._take_forecasts()  # nothing from an earlier, interrupted cycle
        result = await self.pipeline.run_cycle(
            markets,
            bankroll=bankroll,
            mode=self.config.mode,
            allow_heuristic_live=self.allow_heuristic_live(),
        )
        legs = {group.group_id: group_legs(group) for group in result.groups}
        await self._store_forecasts(markets, result.groups, cycle_id)
        self._record_analyses(result.report, result.groups, cycle_id)
        published: list[OrderIntent] = []
        for group in result.groups:
            self._record("signal_group_published", _group_payload(group, cycle_id), group.group_id)
            for intent in legs[group.group_id]:
                self.bus.intents.publish(intent, intent.correlation_id)
                published.append(intent)
        published.extend(await self._exits(markets, result.groups, cycle_id))
        self.last_published = tuple(published)
        await self._prune_news()
        await self._read_scores()
        return result.report

    async def _exits(
        self, markets: Sequence[Market], groups: Sequence[IntentGroup], cycle_id: str
    ) -> list[OrderIntent]:
        """The open positions' exits, published; a market this cycle already decided is left
        to that decision. A failure costs this cycle its exits, with an alert."""
        if self.exits is None:
            return []
        traded = {intent.market for group in groups for intent in group.intents}
        try:
            decisions = await self.exits.run(markets, skip=traded, cycle_id=cycle_id)
        except Exception as exc:
            log.exception("signal cycle: the exit rules failed")
            self._warn(
                "exits_failed", "Exits not evaluated", f"{type(exc).__name__}: {exc}", cycle_id
            )
            return []
        return [decision.intent for decision in decisions]

    async def _read_scores(self) -> None:
        """The resolved forecasts' Brier scores over `SCORE_DAYS`, for /signals."""
        now = self.clock.now()
        try:
            self.last_scores = await self.forecasts.scores(now - timedelta(days=SCORE_DAYS), now)
        except Exception:  # a read for display: the next cycle tries again
            log.exception("signal cycle: could not read the forecasts' scores")

    @property
    def calibration(self) -> str:
        """The calibration and blend weight in force, with their sample size."""
        return self.refit.holder.current.describe() if self.refit is not None else ""

    async def _store_forecasts(
        self, markets: Sequence[Market], groups: Sequence[IntentGroup], cycle_id: str
    ) -> None:
        """Write the cycle's forecasts; a failure costs the record, never the cycle's intents."""
        yes_tokens = {m.condition_id: t.token_id for m in markets if (t := m.token("Yes"))}
        edge_groups = {g.intents[0].market: g.group_id for g in groups if g.strategy == "llm_edge"}
        entries = [
            ForecastEntry(
                record,
                token_id=yes_tokens.get(record.forecast.market, ""),
                model=self._model_name(record.forecast.source),
                correlation_id=edge_groups.get(record.forecast.market),
            )
            for record in self._take_forecasts()
        ]
        try:
            await self.forecasts.record_many(entries)
        except Exception as exc:
            log.exception("signal cycle: could not store %d forecasts", len(entries))
            title = f"{len(entries)} forecasts of this cycle were not stored"
            self._warn("forecasts_not_stored", title, f"{type(exc).__name__}: {exc}", cycle_id)

    def _record_analyses(
        self, report: CycleReport, groups: Sequence[IntentGroup], cycle_id: str
    ) -> None:
        """One `market_analysed` event per analysed market, before its intents go out: under
        the market's group id when it traded (the chain /why follows), the cycle's otherwise."""
        traded = {g.intents[0].market: g.group_id for g in groups if g.strategy == "llm_edge"}
        for market in report.markets:
            if market.trace is None:
                continue
            payload = {"cycle": cycle_id, **market.trace.to_json()}
            self._record(MARKET_ANALYSED, payload, traded.get(market.market, cycle_id))

    def _take_forecasts(self) -> list[ForecastRecord]:
        records, self.collector.records = self.collector.records, []
        return records

    def _model_name(self, source: Source) -> str:
        return self.config.analysis_model if source is Source.LLM else str(source)

    async def _prune_news(self) -> None:
        try:
            if self.news_cache is not None:
                await self.news_cache.prune(self.clock.now() - self.config.news_window)
        except Exception:  # housekeeping: the next cycle tries again
            log.exception("signal cycle: could not prune old news items")

    def _alert_fallbacks(self, report: CycleReport, cycle_id: str) -> None:
        reasons = fallback_reasons(report)
        if reasons:
            title = f"Heuristic used instead of the LLM for {sum(reasons.values())} market(s)"
            body = "; ".join(f"{why}: {n}" for why, n in sorted(reasons.items()))
            self._warn("llm_fallback", title, body, cycle_id)
        if report.news_error:
            title = "News stage failed: markets were triaged without news"
            self._warn("news_failed", title, report.news_error, cycle_id)
        failing = report.retrieval_failures
        if failing:
            title = "News search failed for some markets: the other providers answered"
            body = "; ".join(f"{name}: {n} market(s)" for name, n in sorted(failing.items()))
            self._warn("retrieval_failed", title, body, cycle_id)

    def _warn(self, kind: str, title: str, body: str, cycle_id: str) -> None:
        # positional: kind, severity, title, body, correlation id, dedupe key
        alert = Alert(kind, Severity.WARNING, title, body, cycle_id, f"signals:{kind}")
        self.bus.alerts.publish(alert, cycle_id)

    def _record(self, kind: str, payload: Mapping[str, Any], correlation_id: str) -> None:
        if self.events is None:
            return
        try:
            self.events.append(kind, payload, correlation_id=correlation_id, actor=ACTOR)
        except Exception:  # the event log refusing (closed at shutdown) never ends a cycle
            log.exception("signal cycle: could not record %s", kind)

    def _record_event(self, event: RecordedEvent, correlation_id: str) -> None:
        if self.events is None:
            return
        try:
            self.events.record(event, correlation_id=correlation_id, actor=ACTOR)
        except Exception:  # the event log refusing (closed at shutdown) never ends a cycle
            log.exception("signal cycle: could not record %s", event.type)

    def _summary(self, report: CycleReport, start: float) -> dict[str, Any]:
        return {
            "duration_s": self.clock.monotonic() - start,
            "candidates": report.candidates,
            "selected": report.selected,
            "analysed": report.analysed,
            "trades": len(report.trades),
            "intents": len(self.last_published),
            "sources": report.sources,
            "llm_calls": report.llm.calls,
            "llm_cost": report.llm.cost,
            "cost_per_analysed": report.cost_per_analysed,
            "screened_out": report.screened_out,
            "screen_cost": report.screen_cost,
            "news_error": report.news_error,
            "retrieval_failures": report.retrieval_failures,
        }


_LEG_FIELDS = ("correlation_id", "market", "token_id", "side", "limit_price", "size", "notional")


def _group_payload(group: IntentGroup, cycle_id: str) -> dict[str, Any]:
    return {
        "cycle": cycle_id,
        "strategy": group.strategy,
        "reason": group.reason,
        "all_or_none": group.all_or_none,
        "unwind": group.unwind,
        "legs": [{name: getattr(leg, name) for name in _LEG_FIELDS} for leg in group_legs(group)],
    }


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

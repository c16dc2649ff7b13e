"""One signal cycle: select -> news -> (per market, concurrently) books, triage, retrieval,
analysis, sizing -> intent groups, with a `CycleReport` saying what was decided for each market
and why.

Inputs are injected: the markets list, a book getter (e.g. `venue.get_book`), the news source,
the strategies (which hold the triage, the analyser and the sizing), the clock. The pipeline
returns intents; it never executes them. Cycles do not overlap (a lock serialises them), which
also makes the LLM usage diff in the report exact.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol

from trader.clock import Clock
from trader.domain import Book, Market, TradingMode
from trader.signals.analysis import AnalysisConfig, AnalysisService
from trader.signals.ensemble import EnsembleConfig
from trader.signals.events import EventViews
from trader.signals.heuristic import HeuristicModel
from trader.signals.news import RefreshResult
from trader.signals.passive import MakerPolicy
from trader.signals.pooling import CalibrationHolder
from trader.signals.records import ForecastRecord, ForecastRecorder, LLMStats
from trader.signals.sizing import SizingConfig
from trader.signals.strategies import EdgeEvaluation, LLMEdgeStrategy
from trader.signals.trace import DecisionTrace
from trader.signals.triage import Triage
from trader.signals.values import AnalysisRequest, IntentGroup, NewsMatch, SampleOutcome, Source
from trader.stages import StageBook

if TYPE_CHECKING:  # the LLM path and retrieval are imported only when configured
    from trader.signals.prompts import ScreenOutput
    from trader.signals.retrieval.queries import QueryOutput
    from trader.signals.retrieval.retriever import Retriever

log = logging.getLogger(__name__)

BookGetter = Callable[[str], Awaitable[Book]]
# token id -> shares held and being bought: sizing nets the Kelly stake against them
HoldingsSource = Callable[[], Mapping[str, Decimal]]


class NewsProvider(Protocol):
    async def refresh(self) -> RefreshResult: ...

    def match(self, markets: Sequence[Market]) -> dict[str, tuple[NewsMatch, ...]]: ...


@dataclass(frozen=True, slots=True)
class SelectionConfig:
    min_volume: Decimal = Decimal(50_000)
    min_liquidity: Decimal = Decimal(1_000)
    min_time_to_end: timedelta = timedelta(hours=6)
    max_time_to_end: timedelta = timedelta(days=60)
    max_markets: int = 50


def select_markets(
    markets: Sequence[Market], now: datetime, config: SelectionConfig
) -> list[Market]:
    """Tradeable markets inside the window, by volume (highest first), at most `max_markets`."""
    earliest, latest = now + config.min_time_to_end, now + config.max_time_to_end
    chosen = [
        m
        for m in markets
        if m.active
        and not m.closed
        and m.accepting_orders
        and m.volume >= config.min_volume
        and m.liquidity >= config.min_liquidity
        and m.end_date is not None
        and earliest <= m.end_date <= latest
        and m.token("Yes") is not None
        and m.token("No") is not None
    ]
    chosen.sort(key=lambda m: (-m.volume, m.condition_id))
    return chosen[: config.max_markets]


@dataclass(frozen=True, slots=True)
class PipelineConfig:
    selection: SelectionConfig = field(default_factory=SelectionConfig)
    concurrency: int = 32  # markets evaluated at once (the LLM has its own limit too)
    refresh_news: bool = True


@dataclass(frozen=True, slots=True)
class MarketReport:
    market: str
    question: str
    decision: str  # "trade" or "skip"
    reason: str
    market_probability: Decimal | None = None
    model_probability: Decimal | None = None
    edge: Decimal | None = None  # at the best ask of the side considered, after fees
    source: str = ""  # "llm", "heuristic" or "" when nothing was analysed
    analysis: str = ""  # which analysis ran, and why
    intents: int = 0
    trace: DecisionTrace | None = None  # what the analysis saw and decided (analysed only)
    screen: str = ""  # the triage model's decision and reason; "" when no screen ran
    screen_cost: Decimal = Decimal(0)
    retrieval: str = ""  # what the news search found; "" when it did not run
    retrieval_failures: tuple[str, ...] = ()  # one line per search provider that failed
    reused: bool = False  # the analysis reused the samples of the same evidence (no call)


@dataclass(frozen=True, slots=True)
class CycleReport:
    started_at: datetime
    duration_seconds: float
    mode: TradingMode
    candidates: int  # markets offered
    selected: int
    analysed: int  # markets that reached the analysis stage
    markets: tuple[MarketReport, ...]
    llm: LLMStats
    news: RefreshResult | None = None
    news_error: str = ""  # the news stage failed: markets were triaged without news

    @property
    def screened_out(self) -> int:
        """Markets the triage model kept from the deep analysis."""
        return sum(1 for m in self.markets if m.screen.startswith("screened out"))

    @property
    def screen_cost(self) -> Decimal:
        return sum((m.screen_cost for m in self.markets), Decimal(0))

    @property
    def retrieval_failures(self) -> dict[str, int]:
        """Search-provider failures this cycle: how many markets each failure line hit."""
        counts: dict[str, int] = {}
        for market in self.markets:
            for line in market.retrieval_failures:
                provider = line.split(" ", 1)[0]
                counts[provider] = counts.get(provider, 0) + 1
        return counts

    @property
    def reused(self) -> int:
        """Markets analysed on the samples of the same evidence (no sample drawn): they count
        in `analysed`, at the cost of their screens only."""
        return sum(1 for m in self.markets if m.reused)

    @property
    def cost_per_analysed(self) -> Decimal | None:
        """The cycle's LLM cost over the markets that reached the analysis stage (screened
        out or analysed in depth); None when none did."""
        return self.llm.cost / self.analysed if self.analysed else None

    @property
    def trades(self) -> tuple[MarketReport, ...]:
        return tuple(m for m in self.markets if m.decision == "trade")

    @property
    def sources(self) -> dict[str, int]:
        """How many markets each model analysed this cycle ("llm", "heuristic")."""
        counts: dict[str, int] = {}
        for market in self.markets:
            if market.source:
                counts[market.source] = counts.get(market.source, 0) + 1
        return counts


@dataclass(frozen=True, slots=True)
class CycleResult:
    report: CycleReport
    groups: tuple[IntentGroup, ...]


class SignalPipeline:
    def __init__(
        self,
        *,
        books: BookGetter,
        clock: Clock,
        news: NewsProvider | None = None,
        edge: LLMEdgeStrategy | None = None,
        usage: Callable[[], LLMStats] | None = None,
        forecasts: ForecastRecorder | None = None,
        config: PipelineConfig | None = None,
        holdings: HoldingsSource | None = None,
    ) -> None:
        self._books = books
        self._holdings = holdings
        self._clock = clock
        self._news = news
        self._edge = edge
        self._views = EventViews()  # neg-risk outcomes' YES views, for coherent forecasts
        self._usage = usage or LLMStats
        self._forecasts = forecasts
        self.config = config or PipelineConfig()
        self._lock = asyncio.Lock()
        self._allow_heuristic_live = False  # this cycle's operator setting

    async def run_cycle(
        self,
        markets: Sequence[Market],
        *,
        bankroll: Decimal,
        mode: TradingMode,
        allow_heuristic_live: bool = False,
    ) -> CycleResult:
        """One cycle; in live mode heuristic forecasts trade only with `allow_heuristic_live`."""
        async with self._lock:
            self._allow_heuristic_live = allow_heuristic_live
            return await self._cycle(markets, bankroll, mode)

    async def _cycle(
        self, markets: Sequence[Market], bankroll: Decimal, mode: TradingMode
    ) -> CycleResult:
        started, start = self._clock.now(), self._clock.monotonic()
        usage_before = self._usage()
        selected = select_markets(markets, started, self.config.selection)
        self._views.know(list(markets))
        refresh, matches, news_error = await self._news_for(selected)
        limit = asyncio.Semaphore(max(1, self.config.concurrency))

        async def bounded(market: Market) -> tuple[MarketReport, list[IntentGroup], bool]:
            async with limit:
                return await self._guarded(
                    market, matches.get(market.condition_id, ()), bankroll, mode
                )

        results = await asyncio.gather(*(bounded(m) for m in selected))
        report = CycleReport(
            started_at=started,
            duration_seconds=self._clock.monotonic() - start,
            mode=mode,
            candidates=len(markets),
            selected=len(selected),
            analysed=sum(1 for _, _, analysed in results if analysed),
            markets=tuple(r for r, _, _ in results),
            llm=self._usage().minus(usage_before),
            news=refresh,
            news_error=news_error,
        )
        groups = tuple(g for _, gs, _ in results for g in gs)
        return CycleResult(report, groups)

    async def _news_for(
        self, selected: Sequence[Market]
    ) -> tuple[RefreshResult | None, dict[str, tuple[NewsMatch, ...]], str]:
        """Refresh and match. A failure (say, of the news cache) costs this cycle its news only."""
        if self._news is None or not selected:
            return None, {}, ""
        refresh = None
        try:
            if self.config.refresh_news:
                refresh = await self._news.refresh()
            # Matching is CPU work (TF-IDF over markets and items): off the event loop.
            matches = await asyncio.to_thread(self._news.match, selected)
        except Exception as exc:
            log.exception("signal cycle: news stage failed")
            return refresh, {}, f"{type(exc).__name__}: {exc}"
        return refresh, matches, ""

    async def _guarded(
        self, market: Market, news: tuple[NewsMatch, ...], bankroll: Decimal, mode: TradingMode
    ) -> tuple[MarketReport, list[IntentGroup], bool]:
        """One market; a failure here is reported for this market and never ends the cycle."""
        try:
            return await self._market(market, news, bankroll, mode)
        except Exception as exc:
            log.exception("signal cycle: market %s failed", market.condition_id)
            reason = f"error: {type(exc).__name__}"
            return MarketReport(market.condition_id, market.question, "skip", reason), [], False

    async def _fetch_books(self, market: Market) -> dict[str, Book]:
        tokens = [t.token_id for t in market.tokens]
        books = await asyncio.gather(*(self._books(t) for t in tokens))
        return dict(zip(tokens, books, strict=True))

    async def _market(
        self, market: Market, news: tuple[NewsMatch, ...], bankroll: Decimal, mode: TradingMode
    ) -> tuple[MarketReport, list[IntentGroup], bool]:
        skip = MarketReport(market.condition_id, market.question, "skip", "")
        try:
            books = await self._fetch_books(market)
        except Exception as exc:  # any venue or transport error: this market waits a cycle
            log.warning("signal cycle: no book for %s: %s", market.condition_id, exc)
            return replace(skip, reason=f"book unavailable: {type(exc).__name__}"), [], False
        yes = market.token("Yes")
        mid = books[yes.token_id].mid if yes else None
        if mid is None:
            return replace(skip, reason="no two-sided YES book"), [], False
        groups: list[IntentGroup] = []
        self._views.priced(market.condition_id, mid)
        report = replace(skip, market_probability=mid)
        analysed = False
        if self._edge is not None:
            evaluation = await self._edge.evaluate(
                market,
                books,
                mid,
                news,
                bankroll=bankroll,
                now=self._clock.now(),
                mode=mode,
                refresh=lambda: self._fetch_books(market),
                held=self._holdings() if self._holdings is not None else None,
                allow_heuristic_live=self._allow_heuristic_live,
                siblings=lambda: self._views.siblings(market.condition_id),
            )
            analysed = evaluation.analysis is not None
            if evaluation.analysis is not None and evaluation.analysis.forecast is not None:
                forecast = evaluation.analysis.forecast
                self._views.forecast(market.condition_id, forecast.model_probability)
            report = await self._edge_report(report, evaluation)
            if evaluation.group is not None:
                groups.append(evaluation.group)
        decision = "trade" if groups else "skip"
        return (
            replace(report, decision=decision, intents=sum(len(g.intents) for g in groups)),
            groups,
            analysed,
        )

    async def _edge_report(self, report: MarketReport, evaluation: EdgeEvaluation) -> MarketReport:
        analysis = evaluation.analysis
        forecast = analysis.forecast if analysis else None
        report = replace(
            report,
            reason=evaluation.reason,
            analysis=analysis.why if analysis else "",
            screen=analysis.screen if analysis else "",
            screen_cost=analysis.screen_cost if analysis else Decimal(0),
            reused=analysis.reused if analysis else False,
            model_probability=forecast.model_probability if forecast else None,
            source=str(forecast.source) if forecast else "",
            edge=evaluation.sizing.edge if evaluation.sizing else None,
        )
        if evaluation.retrieval is not None:
            found = evaluation.retrieval
            report = replace(report, retrieval=found.describe(), retrieval_failures=found.failures)
        decision = "trade" if evaluation.group else "skip"
        if evaluation.triage is not None and analysis is not None and self._edge is not None:
            trace = DecisionTrace(
                report.market,
                report.question,
                evaluation.triage,
                analysis,
                evaluation.sizing,
                decision,
                evaluation.reason,
                evaluation.retrieval,
            )
            report = replace(report, trace=trace)
        if forecast is not None and self._forecasts is not None:
            await self._forecasts.record(
                ForecastRecord(self._clock.now(), forecast, decision, evaluation.reason)
            )
        return report


class LLMProvider(Protocol):
    """An LLM analyser as the pipeline uses it: `LLMAnalyser`, or a `ProviderChain`."""

    source: Source

    @property
    def stats(self) -> LLMStats: ...

    async def estimate(self, request: AnalysisRequest, *, sample: int = 0) -> SampleOutcome: ...

    async def screen(self, request: AnalysisRequest) -> ScreenOutput | SampleOutcome: ...

    async def write_queries(
        self, request: AnalysisRequest, *, count: int = 3
    ) -> QueryOutput | SampleOutcome: ...


def _usage(llm: LLMProvider | None, screener: LLMProvider | None) -> Callable[[], LLMStats] | None:
    """The cycle's LLM counters: the analysis chain's, plus a separate screen chain's."""
    if llm is None:
        return None
    if screener is None or screener is llm:
        return lambda: llm.stats
    return lambda: llm.stats.plus(screener.stats)


def build_pipeline(
    *,
    books: BookGetter,
    clock: Clock,
    news: NewsProvider | None,
    llm: LLMProvider | None,
    triage: Triage | None = None,
    ensemble: EnsembleConfig | None = None,
    sizing: SizingConfig | None = None,
    analysis: AnalysisConfig | None = None,
    forecasts: ForecastRecorder | None = None,
    config: PipelineConfig | None = None,
    screen: bool = False,
    holdings: HoldingsSource | None = None,
    stages: Callable[[], StageBook] = StageBook.defaults,
    calibration: CalibrationHolder | None = None,
    screener: LLMProvider | None = None,
    retriever: Retriever | None = None,
    maker: MakerPolicy | None = None,
) -> SignalPipeline:
    """The usual object graph: `llm=None` (no API key) makes the heuristic the primary model.
    `stages` is read at each evaluation (the operator's stored strategy stages)."""
    service = AnalysisService(
        heuristic=HeuristicModel(),
        llm=llm,
        clock=clock,
        ensemble=ensemble,
        screener=(screener or llm) if screen else None,
        config=analysis,
        calibration=calibration,
    )
    edge = LLMEdgeStrategy(
        triage=triage or Triage(),
        analysis=service,
        sizing=sizing,
        stages=stages,
        retriever=retriever,
        maker=maker,
    )
    return SignalPipeline(
        books=books,
        clock=clock,
        news=news,
        edge=edge,
        usage=_usage(llm, screener),
        forecasts=forecasts,
        config=config,
        holdings=holdings,
    )

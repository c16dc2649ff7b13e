"""What the signal pipeline reads in a backtest: news and forecasts as they stood at "now".

`ReplayNews` is the pipeline's `NewsProvider` over the history's news: only items published at
or before the clock's now exist for it, and, as the app's news service keeps them, only those
published within its window (48 hours) before now. `ReplayForecasts` is an analyser (the
ensemble's `Analyser` protocol) answering with the latest forecast recorded for the market at
or before the request's now (rows of the `forecasts` table of a database the live bot wrote); a
market with none gets no forecast (reported as an unusable answer, never replaced by the
heuristic). `CutoffAnalyser` wraps the app's own `LLMAnalyser` for `llm` mode: it answers only
for markets opened after the model's training cut-off (a model that may have read how a market
ended cannot be backtested on it) and hands the model only the news published at or before the
request's now (the pipeline's news are that already; this is the second lock).
`backtest_pipeline` assembles the real pipeline, strategies and sizing around them, as
`trader.signals.runtime.build_signal_runtime` does for the app.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal

from pydantic import SecretStr
from sqlalchemy import select

from trader.backtest.history import History
from trader.clock import Clock
from trader.domain import Market
from trader.signals.analysis import AnalysisConfig, AnalysisService
from trader.signals.ensemble import Analyser, EnsembleConfig
from trader.signals.heuristic import HeuristicModel
from trader.signals.news import RefreshResult, match_news
from trader.signals.pipeline import (
    BookGetter,
    HoldingsSource,
    PipelineConfig,
    SelectionConfig,
    SignalPipeline,
)
from trader.signals.pooling import PoolingConfig
from trader.signals.records import ForecastRecorder, InMemoryAnalysisMemory
from trader.signals.retrieval.queries import QueryOutput
from trader.signals.retrieval.retriever import Retriever
from trader.signals.sizing import SizingConfig
from trader.signals.strategies import LLMEdgeStrategy
from trader.signals.triage import Triage, TriageConfig
from trader.signals.values import (
    AnalysisRequest,
    Estimate,
    FailureKind,
    NewsItem,
    NewsMatch,
    SampleOutcome,
    Source,
)
from trader.stages import StageBook
from trader.store.db import create_engine, session_factory
from trader.store.tables import ForecastRow


class ReplayNews:
    """The history's news as the pipeline sees it at the clock's now: nothing published later,
    nothing published more than `window` before (the app's news service drops those)."""

    def __init__(
        self, history: History, clock: Clock, window: timedelta = timedelta(hours=48)
    ) -> None:
        self._history = history
        self._clock = clock
        self._window = window

    async def refresh(self) -> RefreshResult:
        return RefreshResult(feeds=(), new_items=0, kept_items=len(self._visible()))

    def _visible(self) -> Sequence[NewsItem]:
        return self._history.news_between(self._clock.now() - self._window, self._clock.now())

    def match(self, markets: Sequence[Market]) -> dict[str, tuple[NewsMatch, ...]]:
        return match_news(markets, self._visible())


@dataclass(frozen=True, slots=True)
class RecordedForecast:
    created_at: datetime
    probability: Decimal
    confidence: Decimal
    model: str
    source: Source
    sources: tuple[str, ...]


NO_RECORD = "no forecast recorded for this market at or before now"
BEFORE_CUTOFF = "market opened before the model's training cut-off: no LLM forecast"


@dataclass(frozen=True, slots=True)
class LLMBacktestConfig:
    """`llm` mode: the model called, and its training cut-off (LLM_TRAINING_CUTOFF)."""

    api_key: SecretStr
    training_cutoff: datetime
    base_url: str | None = None
    analysis_model: str = "claude-sonnet-4-6"
    triage_model: str = "claude-haiku-4-5"
    timeout_s: float = 60.0
    concurrency: int = 8


class CutoffAnalyser:
    """The model, only for markets opened after its training cut-off, only with past news."""

    source = Source.LLM

    def __init__(
        self, inner: Analyser, opened: Mapping[str, datetime], training_cutoff: datetime
    ) -> None:
        self._inner = inner
        self._opened = opened
        self.cutoff = training_cutoff
        self.asked: set[str] = set()  # markets the model was asked about
        self.refused: set[str] = set()  # markets opened before the cut-off

    async def estimate(self, request: AnalysisRequest, *, sample: int = 0) -> SampleOutcome:
        market = request.market.condition_id
        opened = self._opened.get(market)
        if opened is None or opened <= self.cutoff:
            self.refused.add(market)
            return SampleOutcome(None, FailureKind.INVALID_OUTPUT, BEFORE_CUTOFF)
        self.asked.add(market)
        visible = tuple(m for m in request.news if m.item.published <= request.now)
        found = request.retrieved
        if found is not None:  # retrieved articles: dated, and not after now (a second lock)
            found = tuple(a for a in found if a.published and a.published <= request.now)
        seen = replace(request, news=visible, retrieved=found)
        return await self._inner.estimate(seen, sample=sample)

    async def write_queries(
        self, request: AnalysisRequest, *, count: int = 3
    ) -> QueryOutput | SampleOutcome:
        """The model's search queries, for the markets it may forecast only."""
        opened = self._opened.get(request.market.condition_id)
        if opened is None or opened <= self.cutoff or not hasattr(self._inner, "write_queries"):
            return SampleOutcome(None, FailureKind.INVALID_OUTPUT, BEFORE_CUTOFF)
        written: QueryOutput | SampleOutcome = await self._inner.write_queries(request, count=count)
        return written

    def describe(self) -> str:
        return (
            f"llm forecasts only for markets opened after the model's training cut-off"
            f" {self.cutoff.isoformat()} ({len(self.asked)} asked, {len(self.refused)} opened"
            f" before it got none); the model saw only news published before each cycle's now"
        )


class ReplayForecasts:
    """Forecasts the bot recorded, replayed at the time they were made."""

    source = Source.LLM

    def __init__(self, recorded: Mapping[str, Sequence[RecordedForecast]]) -> None:
        self._recorded = {
            m: sorted(rows, key=lambda r: r.created_at) for m, rows in recorded.items()
        }
        self._times = {m: [r.created_at for r in rows] for m, rows in self._recorded.items()}

    def latest(self, market: str, now: datetime) -> RecordedForecast | None:
        rows = self._recorded.get(market, [])
        index = bisect.bisect_right(self._times.get(market, []), now)
        return rows[index - 1] if index else None

    async def estimate(self, request: AnalysisRequest, *, sample: int = 0) -> SampleOutcome:
        row = self.latest(request.market.condition_id, request.now)
        if row is None:
            return SampleOutcome(None, FailureKind.INVALID_OUTPUT, NO_RECORD)
        return SampleOutcome(
            Estimate(
                probability=row.probability,
                confidence=row.confidence,
                key_factors=(f"replayed {row.model} forecast of {row.created_at.isoformat()}",),
                sources_used=row.sources,
                source=row.source,
            )
        )


async def load_recorded_forecasts(
    database_url: str, markets: Sequence[Market]
) -> dict[str, list[RecordedForecast]]:
    """The YES-token forecasts of `markets` recorded in the database at `database_url`."""
    yes_tokens = {m.condition_id: t.token_id for m in markets if (t := m.token("Yes"))}
    engine = create_engine(database_url)
    try:
        sessions = session_factory(engine)
        async with sessions() as session:
            query = select(ForecastRow).where(ForecastRow.market.in_(list(yes_tokens)))
            rows = (await session.scalars(query.order_by(ForecastRow.id))).all()
    finally:
        await engine.dispose()
    recorded: dict[str, list[RecordedForecast]] = {}
    for row in rows:
        if row.token_id not in ("", yes_tokens[row.market]):
            continue
        source = Source.HEURISTIC if row.source == Source.HEURISTIC else Source.LLM
        recorded.setdefault(row.market, []).append(
            RecordedForecast(
                created_at=row.created_at,
                probability=row.model_probability,
                confidence=row.confidence if row.confidence is not None else Decimal("0.5"),
                model=row.model,
                source=source,
                sources=tuple(str(s) for s in row.sources),
            )
        )
    return recorded


# a replayed forecast is already the blend the trader traded: it is taken as it is
REPLAYED = PoolingConfig(weight=Decimal(1), heuristic_weight=Decimal(1))


def backtest_pipeline(
    *,
    books: BookGetter,
    clock: Clock,
    news: ReplayNews,
    forecasts: ReplayForecasts | None,
    sizing: SizingConfig,
    selection: SelectionConfig,
    recorder: ForecastRecorder,
    holdings: HoldingsSource,
    stages: Callable[[], StageBook],
    require_news: bool,
    samples: int = 3,
    llm: Analyser | None = None,
    retriever: Retriever | None = None,
) -> SignalPipeline:
    """The real pipeline and strategies; the analyser is the heuristic, or the replayed
    forecasts (one sample each, not shrunk again: a recorded forecast is already the ensemble's
    verdict), or the model (`llm`, as the app's ensemble). The heuristic and the model run under
    the app's ensemble settings (`samples`)."""
    ensemble = (
        EnsembleConfig(samples=samples, min_valid=samples // 2 + 1)
        if forecasts is None
        else EnsembleConfig(samples=1, min_valid=1, pooling=REPLAYED)
    )
    service = AnalysisService(
        heuristic=HeuristicModel(),
        llm=forecasts if llm is None else llm,
        clock=clock,
        ensemble=ensemble,
        config=AnalysisConfig(fallback_to_heuristic=False),
    )
    # The triage's memory of what was analysed stays in memory (the rule is the app's; reading
    # it from SQLite per market per cycle cost four fifths of a backtest's time).
    triage = Triage(TriageConfig(require_news=require_news), InMemoryAnalysisMemory())
    edge = LLMEdgeStrategy(
        triage=triage, analysis=service, sizing=sizing, stages=stages, retriever=retriever
    )
    return SignalPipeline(
        books=books,
        clock=clock,
        news=news,
        edge=edge,
        forecasts=recorder,
        config=PipelineConfig(selection=selection),
        holdings=holdings,
    )

"""Strategies read facts and return intents; they never call an executor.

- `LLMEdgeStrategy`: triage -> retrieval (the news search, when configured) -> analysis (LLM
  ensemble or heuristic) -> sizing, for one market.

There is no arbitrage strategy. The complete-set one (buy YES and NO of one market when their
asks sum below 1 - fees - margin) was removed: in one binary market a NO ask is 1 - the YES
bid, so YES ask + NO ask = 1 + spread and the condition never fires; and its legs, carrying no
model probability, were denied by risk's edge rule anyway. Where the arbitrage can exist (YES
across every outcome of a neg-risk event whose asks sum below 1) it would need all-or-none
legs over several markets and a risk rule for riskless legs; not built (README, How it trades).

Each has `enabled` and a stage (trader/stages.py: development, paper, live) read from the
operator's stored stages at each evaluation: a strategy runs only in the modes its stage allows
(development: backtests only; paper: paper mode; live: paper and live mode).

The heuristic never trades real money unless the operator allows it: in live mode a heuristic
forecast is shown and recorded, but sized into no intent while `allow_heuristic_live` is off
(`heuristic_gate` says why, and that reason is what the forecast row records).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from trader.domain import (
    Book,
    Market,
    TradingMode,
)
from trader.signals.analysis import AnalysisResult, AnalysisService
from trader.signals.events import coherent_yes
from trader.signals.passive import MakerPolicy, passive_entry
from trader.signals.sizing import (
    SizingConfig,
    SizingDecision,
    size_forecast,
)
from trader.signals.triage import Triage, TriageDecision
from trader.signals.values import AnalysisRequest, IntentGroup, NewsMatch, Source
from trader.stages import Stage, StageBook

if TYPE_CHECKING:  # retrieval is imported only when it is on
    from trader.signals.retrieval.retriever import Retrieval, Retriever

PROBABILITY_STEP = Decimal("0.0001")  # as the ensemble states probabilities
HEURISTIC_NOT_LIVE = "heuristic forecast: not traded in live mode (allow_heuristic_live off)"


def heuristic_gate(source: Source, mode: TradingMode, *, allowed: bool) -> str:
    """Why a forecast from `source` may not become an order in `mode`, or "" when it may."""
    if source is Source.HEURISTIC and mode is TradingMode.LIVE and not allowed:
        return HEURISTIC_NOT_LIVE
    return ""


class Strategy:
    name = "strategy"

    def __init__(
        self, *, enabled: bool = True, stages: Callable[[], StageBook] = StageBook.defaults
    ) -> None:
        self.enabled = enabled
        self._stages = stages  # read at each evaluation: /promote takes effect next cycle

    @property
    def stage(self) -> Stage | None:
        return self._stages().stage_of(self.name)

    def runs_in(self, mode: TradingMode) -> bool:
        return self.enabled and self._stages().allows(self.name, mode)

    def not_running(self, mode: TradingMode) -> str:
        if not self.enabled:
            return f"{self.name} disabled"
        return self._stages().not_allowed(self.name, mode)


@dataclass(frozen=True, slots=True)
class EdgeEvaluation:
    """Everything the LLM edge strategy decided about one market, stage by stage."""

    triage: TriageDecision | None
    analysis: AnalysisResult | None = None
    sizing: SizingDecision | None = None
    group: IntentGroup | None = None
    note: str = ""  # why the strategy did not run, or why its sized order was held back
    retrieval: Retrieval | None = None  # what the news search found (None: it did not run)

    @property
    def reason(self) -> str:
        if self.triage is None or self.note:
            return self.note
        if self.sizing is not None:
            return self.sizing.reason
        if self.analysis is not None:
            return self.analysis.why
        return self.triage.reason


class LLMEdgeStrategy(Strategy):
    name = "llm_edge"

    def __init__(
        self,
        *,
        triage: Triage,
        analysis: AnalysisService,
        sizing: SizingConfig | None = None,
        enabled: bool = True,
        stages: Callable[[], StageBook] = StageBook.defaults,
        retriever: Retriever | None = None,
        maker: MakerPolicy | None = None,
    ) -> None:
        super().__init__(enabled=enabled, stages=stages)
        self.triage = triage
        self.analysis = analysis
        self.sizing = sizing or SizingConfig()
        self.retriever = retriever  # the news search, for markets the triage lets through
        self.maker = maker  # entries rest post-only (trader/signals/passive.py); None: take

    async def _with_retrieval(
        self, request: AnalysisRequest
    ) -> tuple[AnalysisRequest, Retrieval | None]:
        """The request with what the news search found for it (unchanged without a search)."""
        if self.retriever is None:
            return request, None
        found = await self.retriever.retrieve(request)
        return replace(request, retrieved=found.articles), found

    async def evaluate(
        self,
        market: Market,
        books: dict[str, Book],
        market_probability: Decimal,
        news: tuple[NewsMatch, ...],
        *,
        bankroll: Decimal,
        now: datetime,
        mode: TradingMode,
        refresh: Callable[[], Awaitable[dict[str, Book]]] | None = None,
        held: Mapping[str, Decimal] | None = None,
        allow_heuristic_live: bool = False,
        siblings: Callable[[], Mapping[str, Decimal]] | None = None,
    ) -> EdgeEvaluation:
        """Screen, analyse, size. The analysis can take minutes: the books are read again
        (`refresh`) after it returns, so the order is sized on prices as they are then;
        `held` is what is held of each token, so the stake is sized net of it. A heuristic
        forecast in live mode becomes no intent unless `allow_heuristic_live`. `siblings`:
        the YES views of the other outcomes of the market's neg-risk event, read after the
        analysis; the forecast is made coherent with them (`trader.signals.events`) before
        sizing."""
        if not self.runs_in(mode):
            return EdgeEvaluation(None, note=self.not_running(mode))
        # No leakage: an item published after "now" (a replay, a clock skew) is never used.
        news = tuple(m for m in news if m.item.published <= now)
        triage = await self.triage.decide(market.condition_id, market_probability, news, now=now)
        if not triage.analyse:
            return EdgeEvaluation(triage)
        request, found = await self._with_retrieval(
            AnalysisRequest(market, market_probability, triage.news, now)
        )
        analysis = await self.analysis.analyse(request)
        if analysis.conclusive:
            await self.triage.remember(triage, now)
        if analysis.forecast is None:
            return EdgeEvaluation(triage, analysis, retrieval=found)
        if refresh is not None:
            books = await refresh()
        forecast = analysis.forecast
        others = siblings() if siblings is not None else {}
        if others:
            scaled = coherent_yes(market.condition_id, forecast.model_probability, others)
            forecast = replace(forecast, model_probability=scaled.quantize(PROBABILITY_STEP))
        sizing = size_forecast(
            forecast, market, books, bankroll, self.sizing, strategy=self.name, held=held
        )
        if sizing.intent is not None and self.maker is not None:
            intent = passive_entry(sizing.intent, self.maker, sizing.edge, now)
            sizing = replace(sizing, intent=intent)
        held_back = heuristic_gate(analysis.forecast.source, mode, allowed=allow_heuristic_live)
        if sizing.intent is not None and held_back:
            return EdgeEvaluation(triage, analysis, sizing, note=held_back, retrieval=found)
        group = None
        if sizing.intent is not None:
            group = IntentGroup((sizing.intent,), self.name, sizing.intent.reason)
        return EdgeEvaluation(triage, analysis, sizing, group, retrieval=found)

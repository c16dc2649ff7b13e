"""The last signal cycle as the Control API shows it (/signals).

`SignalsAdapter(runtime)` is the Control API's `SignalSource`: it reads the runtime's last
`CycleReport` and turns it into a `SignalsView` of plain values (which model, and why; per
market the question, the model's and the market's probability, the edge, the decision and
its reason; the cycle's LLM calls and cost). The chat sees only `trader.control.types`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Protocol

from trader.control.types import BrierView, MarketSignal, SignalsView
from trader.domain import OrderIntent
from trader.signals.pipeline import CycleReport, MarketReport
from trader.signals.runtime import SCORE_DAYS, fallback_reasons
from trader.store.signals_repo import BrierScores

LLM, HEURISTIC = "llm", "heuristic"


class ModelSettings(Protocol):
    """The runtime's configuration, as far as the view needs it (`SignalRuntimeConfig`)."""

    @property
    def uses_llm(self) -> bool: ...

    @property
    def analysis_model(self) -> str: ...


class CycleSource(Protocol):
    """What the adapter reads from the signal runtime (`SignalRuntime` has this shape)."""

    @property
    def config(self) -> ModelSettings: ...

    @property
    def last_report(self) -> CycleReport | None: ...

    @property
    def last_published(self) -> tuple[OrderIntent, ...]: ...

    @property
    def last_error(self) -> str: ...

    @property
    def last_scores(self) -> BrierScores | None: ...

    @property
    def calibration(self) -> str: ...


class SignalsAdapter:
    """The Control API's `SignalSource` over a signal runtime."""

    def __init__(self, runtime: CycleSource) -> None:
        self._runtime = runtime

    def last_cycle(self) -> SignalsView:
        runtime = self._runtime
        return signals_view(
            runtime.last_report,
            uses_llm=runtime.config.uses_llm,
            analysis_model=runtime.config.analysis_model,
            published=runtime.last_published,
            last_error=runtime.last_error,
            scores=runtime.last_scores,
            calibration=runtime.calibration,
        )


def signals_view(
    report: CycleReport | None,
    *,
    uses_llm: bool,
    analysis_model: str,
    published: Sequence[OrderIntent] = (),
    last_error: str = "",
    scores: BrierScores | None = None,
    calibration: str = "",
) -> SignalsView:
    """The view of one cycle's report; `report` None: no cycle has completed yet."""
    if uses_llm:
        model, name, why = LLM, analysis_model, "ANTHROPIC_API_KEY is set"
    else:
        model, name, why = HEURISTIC, "", "no ANTHROPIC_API_KEY, so the LLM is off"
    base = SignalsView(
        model=model,
        model_name=name,
        model_reason=why,
        last_error=last_error,
        brier=brier_view(scores),
        calibration=calibration,
    )
    if report is None:
        return base
    return replace(
        base,
        ran_at=report.started_at,
        duration_s=report.duration_seconds,
        candidates=report.candidates,
        selected=report.selected,
        analysed=report.analysed,
        intents=len(published),
        markets=tuple(market_signal(market) for market in _ordered(report.markets)),
        llm_calls=report.llm.calls,
        llm_cost=report.llm.cost,
        fallbacks=tuple(sorted(fallback_reasons(report).items())),
        news_error=report.news_error,
        cost_per_analysed=report.cost_per_analysed,
        screened_out=report.screened_out,
        screen_cost=report.screen_cost,
    )


def brier_view(scores: BrierScores | None) -> BrierView | None:
    if scores is None or not scores.count:
        return None
    return BrierView(
        SCORE_DAYS,
        scores.count,
        scores.model,
        scores.market,
        scores.blend,
        scores.blend_count,
    )


def market_signal(market: MarketReport) -> MarketSignal:
    return MarketSignal(
        market=market.market,
        question=market.question,
        decision=market.decision,
        reason=market.reason,
        model_probability=market.model_probability,
        market_probability=market.market_probability,
        edge=market.edge,
        source=market.source,
        analysis=market.analysis,
        screen=market.screen,
        screen_cost=market.screen_cost,
        retrieval=market.retrieval,
    )


def _ordered(markets: Sequence[MarketReport]) -> list[MarketReport]:
    """Trades first, then the rest by edge (largest first; no edge last), stable."""
    return sorted(
        markets,
        key=lambda m: (m.decision != "trade", m.edge is None, -(m.edge or 0)),
    )

"""What one market's analysis saw and decided, as the `market_analysed` event records it.

The signal runtime appends one such event per analysed market (under the intent group's
correlation id when the market traded, the cycle's otherwise), so `/why` can show the chain
behind an order from the event log alone: the news the analysis was given (title, source,
publication time), the retrieval's queries and articles (provider, publication time; when an
earlier search was given again, the time it ran), the
screen's verdict, each sample's probability and their median, the market price and the blend
of the two, the edge after fees and the sizing (Kelly stake, what
was held, the cap, the limit that bound it). Only facts the pipeline had; nothing is derived
here that it did not compute.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from trader.signals.analysis import AnalysisResult
from trader.signals.sizing import SizingDecision
from trader.signals.triage import TriageDecision

if TYPE_CHECKING:  # retrieval is imported only when it is on
    from trader.signals.retrieval.retriever import Retrieval

MARKET_ANALYSED = "market_analysed"
_NEWS_SHOWN = 8  # the analysis sees a handful; a long tail is not kept in every event


@dataclass(frozen=True, slots=True)
class DecisionTrace:
    market: str
    question: str
    triage: TriageDecision
    analysis: AnalysisResult
    sizing: SizingDecision | None
    decision: str  # "trade" or "skip"
    reason: str
    retrieval: Retrieval | None = None

    def to_json(self) -> dict[str, Any]:
        forecast = self.analysis.forecast
        return {
            "market": self.market,
            "question": self.question[:300],
            "news": [
                {
                    "title": match.item.title[:300],
                    "source": match.item.source[:120],
                    "published": match.item.published,
                    "relevance": round(match.relevance, 3),
                }
                for match in self.triage.news[:_NEWS_SHOWN]
            ],
            "retrieval": None if self.retrieval is None else _retrieval(self.retrieval),
            "screen": {"analyse": self.triage.analyse, "reason": self.triage.reason[:300]},
            "analysis": self.analysis.why[:300],
            "forecast": None if forecast is None else _forecast(forecast),
            "sizing": None if self.sizing is None else _sizing(self.sizing),
            "decision": self.decision,
            "reason": self.reason[:500],
        }


def _retrieval(found: Retrieval) -> dict[str, Any]:
    return {
        "queries": list(found.queries),
        "query_source": found.query_source,
        "articles": [
            {
                "title": article.title[:300],
                "url": article.url[:500],
                "provider": article.provider,
                "published": article.published,
            }
            for article in found.articles[:_NEWS_SHOWN]
        ],
        "skipped": found.skipped,
        "failures": [line[:300] for line in found.failures],
        "reused_from": found.reused_from,  # None: searched for this analysis
    }


def _forecast(forecast: Any) -> dict[str, Any]:
    return {
        "source": str(forecast.source),
        "samples": list(forecast.sample_probabilities),
        "raw_median": forecast.aggregate,  # the samples' median or trimmed mean
        "calibrated": forecast.calibrated,
        "market_probability": forecast.market_probability,
        "model_weight": forecast.weight,  # the model's weight in the log-odds blend
        "model_probability": forecast.model_probability,
        "dispersion": forecast.dispersion,
        "confidence": forecast.confidence,
        "actionable": forecast.actionable,
        "note": forecast.note,
        "rationale": forecast.rationale[:300],
    }


def _sizing(sizing: SizingDecision) -> dict[str, Any]:
    out: dict[str, Any] = {"outcome": sizing.outcome, "edge": sizing.edge, "reason": sizing.reason}
    plan = sizing.plan
    if plan is not None:
        out |= {
            "shares": plan.shares,
            "notional": plan.notional,
            "outlay": plan.outlay,
            "limit_price": plan.limit_price,
            "average_price": plan.average_price,
            "edge_average": plan.edge,
        }
        if plan.trace is not None:
            trace = plan.trace
            out |= {
                "bankroll": trace.bankroll,
                "kelly_fraction": trace.kelly_fraction,
                "kelly_stake": trace.kelly_stake,
                "held_value": trace.held_value,
                "max_notional": trace.max_notional,
                "target": trace.target,
                "bound": trace.bound,
            }
    return out

"""A deterministic, offline forecaster: the demo's model and the fallback when the LLM cannot run.

It starts from the market's own price and moves it, in log-odds, by the tone of the matched news:
sentiment words in each item's title and summary, weighted by the item's relevance and by its
recency (half-life `half_life`). The move is damped as resolution nears (the price has less to
learn then) and capped. Same input, same output: no randomness, no clock other than the
request's `now`. Its estimates are labelled `source="heuristic"` and carry a low confidence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from trader.signals.values import AnalysisRequest, Estimate, SampleOutcome, Source

_POSITIVE_WORDS = (
    "approve approved approval pass passed passes win wins won winning lead leads leading ahead "
    "agree agreed agreement deal sign signed signing confirm confirmed confirms launch launched "
    "surge surged rise rises rising record victory success successful beat beats likely support "
    "backed secure secured clear cleared advance advanced gain gains"
)
_NEGATIVE_WORDS = (
    "reject rejected rejection fail failed fails failure lose loses lost losing trail trails "
    "behind deny denied denies delay delayed delays block blocked blocks collapse collapsed "
    "withdraw withdrew withdrawn cancel cancelled canceled halt halted drop dropped drops fall "
    "falls fell unlikely oppose opposed veto vetoed stall stalled suspend suspended postpone "
    "postponed ban banned lawsuit"
)
POSITIVE = frozenset(_POSITIVE_WORDS.split())
NEGATIVE = frozenset(_NEGATIVE_WORDS.split())
NEGATIONS = frozenset({"not", "no", "never", "without"})
_FOUR_PLACES = Decimal("0.0001")


@dataclass(frozen=True, slots=True)
class HeuristicConfig:
    news_weight: float = 0.8  # log-odds moved by fully positive, fully relevant, fresh news
    max_shift: float = 0.6  # cap on the move, in log-odds
    half_life: timedelta = timedelta(hours=12)
    horizon: timedelta = timedelta(days=7)  # damping: shift x days_left / (days_left + horizon)
    base_confidence: Decimal = Decimal("0.2")


def sentiment(text: str) -> float:
    """(positive - negative) / (positive + negative) over `text`'s words, in [-1, 1].

    A sentiment word right after a negation ("not approved") counts for the other side.
    Uses raw lower-case words: the shared tokenizer drops "not" and "no" as stopwords.
    """
    words = text.casefold().replace("n't", " not").split()
    score = 0
    hits = 0
    for i, raw in enumerate(words):
        word = raw.strip(".,;:!?\"'()[]")
        sign = 1 if word in POSITIVE else -1 if word in NEGATIVE else 0
        if sign == 0:
            continue
        if i > 0 and words[i - 1].strip(".,;:!?\"'()[]") in NEGATIONS:
            sign = -sign
        score += sign
        hits += 1
    return score / hits if hits else 0.0


def _logit(p: float) -> float:
    p = min(max(p, 1e-4), 1 - 1e-4)
    return math.log(p / (1 - p))


class HeuristicModel:
    source = Source.HEURISTIC

    def __init__(self, config: HeuristicConfig | None = None) -> None:
        self.config = config or HeuristicConfig()

    def news_signal(self, request: AnalysisRequest) -> float:
        """Relevance- and recency-weighted mean sentiment of the matched news, in [-1, 1]."""
        half_life = self.config.half_life.total_seconds()
        total = 0.0
        weights = 0.0
        for match in request.news:
            age = max(0.0, (request.now - match.item.published).total_seconds())
            weight = match.relevance * 0.5 ** (age / half_life)
            total += weight * sentiment(f"{match.item.title}. {match.item.summary}")
            weights += weight
        # Dividing by max(weights, 1) keeps weak, stale evidence weak.
        return total / max(weights, 1.0)

    def forecast(self, request: AnalysisRequest) -> Estimate:
        config = self.config
        signal = self.news_signal(request)
        damping = 1.0
        if request.market.end_date is not None:
            days_left = max(0.0, (request.market.end_date - request.now).total_seconds() / 86400)
            horizon_days = config.horizon.total_seconds() / 86400
            damping = days_left / (days_left + horizon_days)
        shift = max(-config.max_shift, min(config.max_shift, config.news_weight * signal * damping))
        base = float(request.market_probability)
        probability = 1 / (1 + math.exp(-(_logit(base) + shift)))
        confidence = config.base_confidence * Decimal(str(round(0.5 + abs(signal) / 2, 4)))
        factors = [f"market price {request.market_probability}"]
        if request.news:
            factors.append(f"news tone {signal:+.2f} over {len(request.news)} item(s)")
        if damping < 1.0:
            factors.append(f"time to resolution damping {damping:.2f}")
        return Estimate(
            probability=Decimal(str(probability)).quantize(_FOUR_PLACES),
            confidence=confidence.quantize(_FOUR_PLACES),
            key_factors=tuple(factors),
            sources_used=tuple(m.item.link or m.item.title for m in request.news),
            source=Source.HEURISTIC,
        )

    async def estimate(self, request: AnalysisRequest, *, sample: int = 0) -> SampleOutcome:
        """The analyser interface; every sample is the same, since the model is deterministic."""
        return SampleOutcome(self.forecast(request))

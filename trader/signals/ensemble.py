"""Several independent samples per market, combined into one `Forecast`.

The samples run in parallel. Their median is the raw view; the interquartile range (the full
range below four samples) is the dispersion, and above `max_dispersion` the forecast is marked
not actionable: the model disagrees with itself, so no trade is proposed. The view is then shrunk
toward the market price (`shrinkage` is the market's weight) and clamped to [0.01, 0.99].
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from trader.domain import ONE
from trader.signals.values import (
    AnalysisRequest,
    Estimate,
    FailureKind,
    Forecast,
    SampleOutcome,
    Source,
)

_FOUR_PLACES = Decimal("0.0001")


class Analyser(Protocol):
    source: Source

    async def estimate(self, request: AnalysisRequest, *, sample: int = 0) -> SampleOutcome: ...


@dataclass(frozen=True, slots=True)
class EnsembleConfig:
    samples: int = 5
    min_valid: int = 3  # fewer usable samples than this: no forecast
    max_dispersion: Decimal = Decimal("0.15")
    shrinkage: Decimal = Decimal("0.25")  # weight of the market price in the final view
    floor: Decimal = Decimal("0.01")
    ceiling: Decimal = Decimal("0.99")

    def __post_init__(self) -> None:
        if not 1 <= self.min_valid <= self.samples:
            raise ValueError("need 1 <= min_valid <= samples")
        if not Decimal(0) <= self.shrinkage <= ONE:
            raise ValueError("shrinkage is a weight in [0, 1]")


def quantile(values: Sequence[Decimal], q: Decimal) -> Decimal:
    """Linear interpolation between order statistics (the "inclusive" method)."""
    if not values:
        raise ValueError("quantile of no values")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median(values: Sequence[Decimal]) -> Decimal:
    return quantile(values, Decimal("0.5"))


def dispersion(values: Sequence[Decimal]) -> Decimal:
    """Interquartile range; with fewer than four values, max - min."""
    if len(values) < 4:
        return max(values) - min(values)
    return quantile(values, Decimal("0.75")) - quantile(values, Decimal("0.25"))


def _rationale(estimates: Sequence[Estimate], limit: int = 5) -> str:
    counts = Counter(f for e in estimates for f in dict.fromkeys(e.key_factors))
    ranked = sorted(counts, key=lambda f: (-counts[f], f))[:limit]
    return "; ".join(ranked)


def combine(
    market: str,
    estimates: Sequence[Estimate],
    market_probability: Decimal,
    config: EnsembleConfig,
    source: Source,
) -> Forecast:
    probabilities = [e.probability for e in estimates]
    raw = median(probabilities)
    spread = dispersion(probabilities)
    shrunk = (ONE - config.shrinkage) * raw + config.shrinkage * market_probability
    model_probability = min(max(shrunk, config.floor), config.ceiling).quantize(_FOUR_PLACES)
    actionable = spread <= config.max_dispersion
    note = "" if actionable else f"samples disagree: dispersion {spread:.3f}"
    return Forecast(
        market=market,
        model_probability=model_probability,
        market_probability=market_probability,
        confidence=median([e.confidence for e in estimates]).quantize(_FOUR_PLACES),
        dispersion=spread.quantize(_FOUR_PLACES),
        source=source,
        rationale=_rationale(estimates),
        sources=tuple(dict.fromkeys(s for e in estimates for s in e.sources_used)),
        samples=len(estimates),
        raw_median=raw.quantize(_FOUR_PLACES),
        actionable=actionable,
        note=note,
        sample_probabilities=tuple(probabilities),
    )


@dataclass(frozen=True, slots=True)
class EnsembleResult:
    forecast: Forecast | None
    outcomes: tuple[SampleOutcome, ...]

    @property
    def failures(self) -> Counter[FailureKind]:
        return Counter(o.failure for o in self.outcomes if o.failure is not None)

    @property
    def valid(self) -> int:
        return sum(1 for o in self.outcomes if o.estimate is not None)


async def run_ensemble(
    analyser: Analyser,
    request: AnalysisRequest,
    config: EnsembleConfig,
    *,
    samples: int | None = None,
    min_valid: int | None = None,
) -> EnsembleResult:
    """Draw `samples` estimates in parallel and combine the usable ones."""
    count = samples or config.samples
    outcomes = tuple(
        await asyncio.gather(*(analyser.estimate(request, sample=i) for i in range(count)))
    )
    estimates = [o.estimate for o in outcomes if o.estimate is not None]
    needed = min(min_valid or config.min_valid, count)
    if len(estimates) < needed:
        return EnsembleResult(None, outcomes)
    forecast = combine(
        request.market.condition_id,
        estimates,
        request.market_probability,
        config,
        analyser.source,
    )
    return EnsembleResult(forecast, outcomes)

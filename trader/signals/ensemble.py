"""Several independent samples per market, combined into one `Forecast`.

Each sample is told its number so the analyser can vary its framing. The first runs alone and
the others in parallel once it has answered (`prime`): the samples of one market share its
context, and the first one's request writes that context to the provider's prompt cache, which
the others then read at a tenth of the price; sent all at once, each would write it. This costs
one sample's latency per market.

Their median or trimmed mean (`pooling.aggregate`) is the model's view; the
interquartile range (the full range below four samples) is the dispersion, and above
`max_dispersion` the forecast is marked not actionable: the model disagrees with itself, so no
trade is proposed. The view is then calibrated (Platt, once fitted on resolved forecasts) and
blended with the market price in log-odds with the model's weight `w` (`trader.signals.pooling`),
then clamped to [0.01, 0.99]. The forecast carries the calibration's measured error, which an
edge must exceed before it trades.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Protocol

from trader.signals.pooling import Calibration, PoolingConfig, aggregate, blend
from trader.signals.values import (
    AnalysisRequest,
    Estimate,
    FailureKind,
    Forecast,
    SampleOutcome,
    Source,
    SourceRef,
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
    prime: bool = True  # the first sample alone, then the others (they read its cached context)
    floor: Decimal = Decimal("0.01")
    ceiling: Decimal = Decimal("0.99")
    pooling: PoolingConfig = field(default_factory=PoolingConfig)

    def __post_init__(self) -> None:
        if not 1 <= self.min_valid <= self.samples:
            raise ValueError("need 1 <= min_valid <= samples")


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
    calibration: Calibration | None = None,
) -> Forecast:
    """`calibration` None: the configured defaults (identity calibration, the set weight)."""
    calibration = calibration or config.pooling.defaults()
    probabilities = [e.probability for e in estimates]
    raw = aggregate(probabilities, config.pooling)
    spread = dispersion(probabilities)
    calibrated = calibration.calibrate(raw)
    pooled = blend(calibrated, market_probability, calibration.weight)
    model_probability = min(max(pooled, config.floor), config.ceiling).quantize(_FOUR_PLACES)
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
        aggregate=raw.quantize(_FOUR_PLACES),
        actionable=actionable,
        note=note,
        sample_probabilities=tuple(probabilities),
        calibrated=calibrated,
        weight=calibration.weight,
        error=calibration.error,
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
    calibration: Calibration | None = None,
) -> EnsembleResult:
    """Draw `samples` estimates (the first, then the others in parallel) and combine the
    usable ones."""
    count = samples or config.samples
    first: tuple[SampleOutcome, ...] = ()
    if config.prime and count > 1:
        first = (await analyser.estimate(request, sample=0),)
    rest = await asyncio.gather(
        *(analyser.estimate(request, sample=i) for i in range(len(first), count))
    )
    outcomes = first + tuple(rest)
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
        calibration,
    )
    return EnsembleResult(replace(forecast, retrieved=shown_sources(request)), outcomes)


def shown_sources(request: AnalysisRequest) -> tuple[SourceRef, ...]:
    """What the analysis was shown, with publication times: the feed items, then the
    retrieved articles (each with the provider that found it)."""
    feed = (SourceRef(m.item.title, m.item.link, m.item.published, "rss") for m in request.news)
    found = (SourceRef(a.title, a.url, a.published, a.provider) for a in request.retrieved or ())
    return (*feed, *found)

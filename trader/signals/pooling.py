"""Pooling the model's samples with the market, and calibrating the model on resolved forecasts.

- Aggregate: the samples' median, or their trimmed mean (`trimmed_mean`, a fraction cut from
  each end), as `PoolingConfig.aggregate` says.
- Blend in log-odds: `sigmoid(w * logit(q) + (1 - w) * logit(p))`, `q` the (calibrated) model,
  `p` the market's mid, `w` the model's weight. The market carries most of the weight: a model
  alone loses to a liquid market, a blend beats it (AIA forecaster, 2025).
- Calibration: Platt scaling, `q' = sigmoid(a * logit(q) + b)`, fitted by maximum likelihood
  (Newton's method on the two parameters) on resolved forecasts. Models hedge toward 0.5; a fitted
  `a` above 1 extremises them back. With the model calibrated, `w` is fitted by a grid search on
  the log score of the blend. Until `min_resolved` forecasts have resolved, identity calibration
  and the configured `w` are used.
- Measured error: the blend's expected calibration error on the resolved forecasts (the mean,
  weighted by bin size, of |mean forecast - observed frequency| over ten equal-width bins). A
  trade needs an edge at the ask after fees (so past half the spread and the fee) larger than it;
  before any fit, `default_error` stands in.

Floats inside (logs and exponentials), Decimal at the edges: probabilities in and out are Decimal.
Probabilities are clamped to [1e-4, 1 - 1e-4] before a logit so 0 and 1 stay finite.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

_EPSILON = 1e-4
_FOUR_PLACES = Decimal("0.0001")


def logit(p: float) -> float:
    p = min(max(p, _EPSILON), 1 - _EPSILON)
    return math.log(p / (1 - p))


def sigmoid(x: float) -> float:
    if x >= 0:
        return 1 / (1 + math.exp(-x))
    e = math.exp(x)
    return e / (1 + e)


def _decimal(p: float) -> Decimal:
    return Decimal(repr(p)).quantize(_FOUR_PLACES)


class Aggregate(StrEnum):
    MEDIAN = "median"
    TRIMMED_MEAN = "trimmed_mean"


def trimmed_mean(values: Sequence[Decimal], trim: Decimal = Decimal("0.2")) -> Decimal:
    """The mean after dropping `floor(trim * n)` values from each end (never all of them)."""
    if not values:
        raise ValueError("trimmed mean of no values")
    if not Decimal(0) <= trim < Decimal("0.5"):
        raise ValueError("trim is a fraction in [0, 0.5)")
    ordered = sorted(values)
    cut = int(trim * len(ordered))
    kept = ordered[cut : len(ordered) - cut]
    return sum(kept, Decimal(0)) / len(kept)


def blend(model: Decimal, market: Decimal, weight: Decimal) -> Decimal:
    """`sigmoid(w * logit(model) + (1 - w) * logit(market))`, to four places."""
    if not Decimal(0) <= weight <= Decimal(1):
        raise ValueError("the model's weight is in [0, 1]")
    w = float(weight)
    pooled = w * logit(float(model)) + (1 - w) * logit(float(market))
    return _decimal(sigmoid(pooled))


@dataclass(frozen=True, slots=True)
class Calibration:
    """Platt parameters and the model's weight in the blend; `resolved` is the sample size
    behind them (0: not fitted, the configured defaults)."""

    slope: float = 1.0  # a
    intercept: float = 0.0  # b
    weight: Decimal = Decimal("0.15")
    error: Decimal = Decimal("0.02")  # the blend's measured calibration error
    resolved: int = 0
    fitted_at: datetime | None = None

    @property
    def fitted(self) -> bool:
        return self.resolved > 0

    def calibrate(self, probability: Decimal) -> Decimal:
        if not self.fitted:
            return probability
        return _decimal(sigmoid(self.slope * logit(float(probability)) + self.intercept))

    def pool(self, model: Decimal, market: Decimal) -> Decimal:
        """The calibrated model blended with the market."""
        return blend(self.calibrate(model), market, self.weight)

    def to_json(self) -> dict[str, Any]:
        return {
            "slope": self.slope,
            "intercept": self.intercept,
            "weight": str(self.weight),
            "error": str(self.error),
            "resolved": self.resolved,
            "fitted_at": self.fitted_at.isoformat() if self.fitted_at else None,
        }

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> Calibration:
        """What `to_json` wrote; raises ValueError (or KeyError, TypeError) on anything else."""
        at = value.get("fitted_at")
        return cls(
            slope=float(value["slope"]),
            intercept=float(value["intercept"]),
            weight=Decimal(str(value["weight"])),
            error=Decimal(str(value["error"])),
            resolved=int(value["resolved"]),
            fitted_at=datetime.fromisoformat(at) if at else None,
        )

    def describe(self) -> str:
        if not self.fitted:
            return f"not fitted (defaults: w {self.weight}, error {self.error})"
        return (
            f"w {self.weight}, Platt a {self.slope:.3f} b {self.intercept:+.3f}, "
            f"error {self.error}, on {self.resolved} resolved forecasts"
        )


@dataclass(frozen=True, slots=True)
class PoolingConfig:
    aggregate: Aggregate = Aggregate.MEDIAN
    trim: Decimal = Decimal("0.2")
    weight: Decimal = Decimal("0.15")  # the model's weight until it is fitted
    # The heuristic's weight, never fitted (the fit is of the LLM): its pooled view keeps the
    # weight the old linear shrinkage gave it, so paper mode and the demo still trade on it.
    heuristic_weight: Decimal = Decimal("0.75")
    default_error: Decimal = Decimal("0.02")
    min_resolved: int = 100  # resolved forecasts needed before a fit replaces the defaults

    def __post_init__(self) -> None:
        if not Decimal(0) <= self.weight <= Decimal(1):
            raise ValueError("the model's weight is in [0, 1]")
        if not Decimal(0) <= self.heuristic_weight <= Decimal(1):
            raise ValueError("the heuristic's weight is in [0, 1]")
        if self.min_resolved < 10:
            raise ValueError("min_resolved below 10 would fit noise")

    def defaults(self) -> Calibration:
        return Calibration(weight=self.weight, error=self.default_error)

    def heuristic(self) -> Calibration:
        return Calibration(weight=self.heuristic_weight, error=self.default_error)


def aggregate(values: Sequence[Decimal], config: PoolingConfig) -> Decimal:
    if config.aggregate is Aggregate.TRIMMED_MEAN:
        return trimmed_mean(values, config.trim)
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


@dataclass(frozen=True, slots=True)
class Resolved:
    """One resolved forecast: the model's aggregate, the market price, what YES paid."""

    model: float
    market: float
    outcome: float  # 1, 0, or 0.5 for a split


def fit_platt(
    model: Sequence[float], outcomes: Sequence[float], *, iterations: int = 50
) -> tuple[float, float]:
    """(a, b) maximising the likelihood of `outcomes` under `sigmoid(a * logit(q) + b)`.

    Newton's method with a small ridge on the Hessian (so separable data stays finite)."""
    xs = [logit(q) for q in model]
    a, b = 1.0, 0.0
    for _ in range(iterations):
        ga = gb = haa = hab = hbb = 0.0
        for x, y in zip(xs, outcomes, strict=True):
            p = sigmoid(a * x + b)
            r = p - y
            ga += r * x
            gb += r
            v = p * (1 - p)
            haa += v * x * x
            hab += v * x
            hbb += v
        haa += 1e-6
        hbb += 1e-6
        det = haa * hbb - hab * hab
        if det <= 0:
            break
        step_a = (hbb * ga - hab * gb) / det
        step_b = (haa * gb - hab * ga) / det
        a, b = a - step_a, b - step_b
        if abs(step_a) < 1e-9 and abs(step_b) < 1e-9:
            break
    return a, b


def log_loss(forecasts: Sequence[float], outcomes: Sequence[float]) -> float:
    total = 0.0
    for q, y in zip(forecasts, outcomes, strict=True):
        q = min(max(q, _EPSILON), 1 - _EPSILON)
        total -= y * math.log(q) + (1 - y) * math.log(1 - q)
    return total / len(forecasts)


def fit_weight(
    model: Sequence[float], market: Sequence[float], outcomes: Sequence[float]
) -> Decimal:
    """The model's weight in [0, 1] (steps of 0.01) with the lowest log loss of the blend."""
    mx = [logit(q) for q in model]
    px = [logit(p) for p in market]

    def loss(w: float) -> float:
        pooled = [sigmoid(w * x + (1 - w) * z) for x, z in zip(mx, px, strict=True)]
        return log_loss(pooled, outcomes)

    best = min(range(101), key=lambda step: (loss(step / 100), step))
    return Decimal(best) / 100


def calibration_error(
    forecasts: Sequence[float], outcomes: Sequence[float], *, bins: int = 10
) -> float:
    """Expected calibration error: bin-size-weighted |mean forecast - frequency|."""
    groups: dict[int, list[tuple[float, float]]] = {}
    for q, y in zip(forecasts, outcomes, strict=True):
        groups.setdefault(min(int(q * bins), bins - 1), []).append((q, y))
    total = 0.0
    for members in groups.values():
        mean_q = sum(q for q, _ in members) / len(members)
        mean_y = sum(y for _, y in members) / len(members)
        total += len(members) * abs(mean_q - mean_y)
    return total / len(forecasts)


def fit_calibration(
    resolved: Sequence[Resolved], config: PoolingConfig, *, at: datetime | None = None
) -> Calibration:
    """Platt on the model, then `w` on the calibrated model against the market, then the blend's
    measured error; the defaults while fewer than `config.min_resolved` have resolved."""
    if len(resolved) < config.min_resolved:
        return config.defaults()
    outcomes = [r.outcome for r in resolved]
    slope, intercept = fit_platt([r.model for r in resolved], outcomes)
    calibrated = [sigmoid(slope * logit(r.model) + intercept) for r in resolved]
    market = [r.market for r in resolved]
    weight = fit_weight(calibrated, market, outcomes)
    w = float(weight)
    pooled = [
        sigmoid(w * logit(q) + (1 - w) * logit(p)) for q, p in zip(calibrated, market, strict=True)
    ]
    error = _decimal(calibration_error(pooled, outcomes))
    return Calibration(slope, intercept, weight, error, len(resolved), at)


class CalibrationHolder:
    """The calibration in force; the daily refit job replaces it, the ensemble reads it."""

    def __init__(self, config: PoolingConfig | None = None) -> None:
        self.config = config or PoolingConfig()
        self.current = self.config.defaults()

    def refit(self, resolved: Sequence[Resolved], *, at: datetime | None = None) -> Calibration:
        self.current = fit_calibration(resolved, self.config, at=at)
        return self.current

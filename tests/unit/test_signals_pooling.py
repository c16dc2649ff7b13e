"""Pooling the samples with the market in log-odds, and Platt calibration on resolved forecasts."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest

from polysim.synthetic.signals import make_market
from trader.clock import FakeClock
from trader.signals.analysis import AnalysisService
from trader.signals.ensemble import EnsembleConfig, combine
from trader.signals.heuristic import HeuristicModel
from trader.signals.pooling import (
    Aggregate,
    Calibration,
    CalibrationHolder,
    PoolingConfig,
    Resolved,
    aggregate,
    blend,
    calibration_error,
    fit_calibration,
    fit_platt,
    logit,
    sigmoid,
    trimmed_mean,
)
from trader.signals.values import AnalysisRequest, Estimate, NewsItem, NewsMatch, Source


def test_blend_in_log_odds_with_the_issue_numbers() -> None:
    assert blend(D("0.80"), D("0.60"), D("0.15")) == D("0.6347")
    assert blend(D("0.80"), D("0.60"), D(1)) == D("0.8000")
    assert blend(D("0.80"), D("0.60"), D(0)) == D("0.6000")
    with pytest.raises(ValueError, match="weight"):
        blend(D("0.8"), D("0.6"), D("1.5"))


def test_trimmed_mean_drops_the_extremes_and_median_is_the_middle() -> None:
    values = [D(v) for v in ("0.1", "0.5", "0.6", "0.7", "0.99")]
    assert trimmed_mean(values, D("0.2")) == D("0.6")  # 0.1 and 0.99 dropped
    assert trimmed_mean(values, D(0)) == D("0.578")
    assert aggregate(values, PoolingConfig(aggregate=Aggregate.MEDIAN)) == D("0.6")
    assert aggregate([D("0.2"), D("0.4")], PoolingConfig()) == D("0.3")
    trimmed = PoolingConfig(aggregate=Aggregate.TRIMMED_MEAN, trim=D("0.2"))
    assert aggregate(values, trimmed) == D("0.6")


def test_combine_pools_the_median_with_the_market_at_the_default_weight() -> None:
    estimates = [Estimate(D(p), D("0.7")) for p in ("0.75", "0.80", "0.85")]
    forecast = combine("m", estimates, D("0.60"), EnsembleConfig(samples=3), Source.LLM)
    assert forecast.aggregate == D("0.80")
    assert forecast.model_probability == D("0.6347")
    assert forecast.weight == D("0.15")
    assert forecast.sample_probabilities == (D("0.75"), D("0.80"), D("0.85"))


def test_combine_applies_a_fitted_calibration_before_the_blend() -> None:
    fitted = Calibration(slope=2.0, intercept=0.0, weight=D("0.5"), error=D("0.03"), resolved=200)
    estimates = [Estimate(D("0.7"), D("0.7"))] * 3
    forecast = combine("m", estimates, D("0.5"), EnsembleConfig(samples=3), Source.LLM, fitted)
    # logit(0.7) * 2 -> 0.8448; half of that in log-odds with a 0.5 market -> 0.7
    assert forecast.calibrated == D("0.8448")
    assert forecast.model_probability == D("0.7000")
    assert forecast.error == D("0.03")


def _request() -> AnalysisRequest:
    now = datetime(2026, 3, 1, tzinfo=UTC)
    market = make_market("m", "Will the talks succeed?", end_date=now + timedelta(days=5))
    item = NewsItem("n1", "Talks succeed, deal agreed", "https://x.test/1", "win", now, "wire")
    return AnalysisRequest(market, D("0.40"), (NewsMatch(item, 0.9),), now)


def _synthetic(n: int, seed: int, *, slope: float, intercept: float) -> list[Resolved]:
    """Truth p uniform; the model reports sigmoid((logit(p) - intercept) / slope), i.e. it
    hedges toward 0.5 (slope > 1 recovers it); the market is the truth with log-odds noise."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        truth = rng.uniform(0.03, 0.97)
        model = sigmoid((logit(truth) - intercept) / slope)
        market = sigmoid(logit(truth) + rng.gauss(0, 0.8))
        outcome = 1.0 if rng.random() < truth else 0.0
        rows.append(Resolved(model, market, outcome))
    return rows


def test_platt_fit_recovers_a_known_hedging_bias() -> None:
    rows = _synthetic(6000, seed=11, slope=2.0, intercept=0.4)
    slope, intercept = fit_platt([r.model for r in rows], [r.outcome for r in rows])
    assert slope == pytest.approx(2.0, abs=0.15)
    assert intercept == pytest.approx(0.4, abs=0.1)


def test_fit_calibration_weights_a_sharp_model_over_a_noisy_market() -> None:
    rows = _synthetic(3000, seed=5, slope=2.0, intercept=0.0)
    fitted = fit_calibration(rows, PoolingConfig(min_resolved=100))
    assert fitted.resolved == 3000
    # the model, once calibrated, is the truth itself; the market is noisy: w near 1
    assert fitted.weight >= D("0.8")
    assert fitted.error < D("0.05")
    assert "on 3000 resolved forecasts" in fitted.describe()


def test_fit_calibration_keeps_the_defaults_until_enough_have_resolved() -> None:
    rows = _synthetic(50, seed=1, slope=2.0, intercept=0.0)
    holder = CalibrationHolder(PoolingConfig(weight=D("0.2"), min_resolved=100))
    current = holder.refit(rows)
    assert not current.fitted
    assert current.weight == D("0.2")
    assert current.calibrate(D("0.7")) == D("0.7")


def test_calibration_error_of_a_calibrated_and_an_overconfident_forecaster() -> None:
    outcomes = [1.0, 0.0] * 50  # half resolve YES
    assert calibration_error([0.5] * 100, outcomes) == pytest.approx(0.0)
    assert calibration_error([0.9] * 100, outcomes) == pytest.approx(0.4)


async def test_the_heuristic_is_blended_with_its_own_weight_not_the_models() -> None:
    ensemble = EnsembleConfig(pooling=PoolingConfig(weight=D("0.15"), heuristic_weight=D("0.5")))
    service = AnalysisService(
        heuristic=HeuristicModel(), llm=None, clock=FakeClock(), ensemble=ensemble
    )
    request = _request()
    result = await service.analyse(request)
    assert result.forecast is not None
    assert result.forecast.weight == D("0.5")
    expected = blend(result.forecast.aggregate, request.market_probability, D("0.5"))
    assert result.forecast.model_probability == expected

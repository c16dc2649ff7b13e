"""Heuristic model, ensemble arithmetic and the choice between LLM and heuristic."""

from __future__ import annotations

from collections import deque
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from polysim.synthetic.signals import make_market
from trader.clock import FakeClock
from trader.signals.analysis import AnalysisConfig, AnalysisService
from trader.signals.ensemble import (
    EnsembleConfig,
    combine,
    dispersion,
    median,
    quantile,
    run_ensemble,
)
from trader.signals.heuristic import HeuristicModel, sentiment
from trader.signals.pooling import PoolingConfig
from trader.signals.prompts import ScreenOutput
from trader.signals.values import (
    AnalysisRequest,
    Estimate,
    FailureKind,
    NewsItem,
    NewsMatch,
    SampleOutcome,
    Source,
)

NOW = datetime(2026, 3, 1, tzinfo=UTC)
MARKET = make_market("m1", "Will the Senate pass the bill?", end_date=NOW + timedelta(days=30))


def request(price: str = "0.5", titles: tuple[str, ...] = ()) -> AnalysisRequest:
    news = tuple(
        NewsMatch(NewsItem(f"n{i}", t, f"https://x.test/{i}", "", NOW, "wire"), 0.8)
        for i, t in enumerate(titles)
    )
    return AnalysisRequest(MARKET, Decimal(price), news, NOW)


def estimate(p: str, confidence: str = "0.6") -> Estimate:
    return Estimate(Decimal(p), Decimal(confidence), ("factor",), ("src",))


class ScriptedAnalyser:
    """Our own Analyser protocol, scripted: not a mock of any client library."""

    source = Source.LLM

    def __init__(self, outcomes: list[SampleOutcome]) -> None:
        self.outcomes = deque(outcomes)
        self.calls = 0

    async def estimate(self, request: AnalysisRequest, *, sample: int = 0) -> SampleOutcome:
        self.calls += 1
        return self.outcomes.popleft()


def ok(p: str) -> SampleOutcome:
    return SampleOutcome(estimate(p))


def failed(kind: FailureKind) -> SampleOutcome:
    return SampleOutcome(None, kind, str(kind))


def test_sentiment_counts_words_and_flips_after_a_negation() -> None:
    assert sentiment("Senate passes bill, deal signed") == 1.0
    assert sentiment("Talks collapse; vote delayed") == -1.0
    assert sentiment("Bill not approved") == -1.0
    assert sentiment("Weather today") == 0.0


def test_heuristic_is_deterministic_and_moves_with_the_news_tone() -> None:
    model = HeuristicModel()
    flat = model.forecast(request())
    good = model.forecast(request(titles=("Senate passes the bill", "Deal signed")))
    bad = model.forecast(request(titles=("Bill rejected", "Vote delayed again")))
    assert flat.probability == Decimal("0.5")
    assert bad.probability < flat.probability < good.probability
    assert model.forecast(request(titles=("Senate passes the bill",))) == model.forecast(
        request(titles=("Senate passes the bill",))
    )
    assert good.source is Source.HEURISTIC
    assert good.sources_used == ("https://x.test/0", "https://x.test/1")


def test_heuristic_move_is_damped_near_resolution() -> None:
    model = HeuristicModel()
    soon = make_market("m2", "q", end_date=NOW + timedelta(hours=6))
    titles = ("Senate passes the bill",)
    far = model.forecast(request(titles=titles)).probability
    near = model.forecast(
        AnalysisRequest(soon, Decimal("0.5"), request(titles=titles).news, NOW)
    ).probability
    assert Decimal("0.5") < near < far


def test_quantile_median_and_dispersion() -> None:
    values = [Decimal(v) for v in ("0.1", "0.2", "0.3", "0.4", "0.9")]
    assert median(values) == Decimal("0.3")
    assert quantile(values, Decimal("0.25")) == Decimal("0.2")
    assert dispersion(values) == Decimal("0.2")  # IQR 0.4 - 0.2
    assert dispersion([Decimal("0.4"), Decimal("0.6")]) == Decimal("0.2")  # range below 4
    assert median([Decimal("0.2"), Decimal("0.3")]) == Decimal("0.25")


def test_combine_blends_toward_the_market_and_clamps() -> None:
    config = EnsembleConfig(samples=3, min_valid=1, pooling=PoolingConfig(weight=Decimal("0.5")))
    forecast = combine("m", [estimate("0.8")] * 3, Decimal("0.4"), config, Source.LLM)
    assert forecast.aggregate == Decimal("0.8")
    assert forecast.model_probability == Decimal("0.6202")  # log-odds halfway
    assert forecast.actionable
    extreme = combine(
        "m",
        [estimate("1")] * 3,
        Decimal("1"),
        EnsembleConfig(pooling=PoolingConfig(weight=Decimal(1))),
        Source.LLM,
    )
    assert extreme.model_probability == Decimal("0.99")


def test_combine_marks_dispersed_samples_not_actionable() -> None:
    config = EnsembleConfig(max_dispersion=Decimal("0.1"))
    values = ["0.2", "0.4", "0.6", "0.8", "0.5"]
    forecast = combine("m", [estimate(v) for v in values], Decimal("0.5"), config, Source.LLM)
    assert not forecast.actionable
    assert "disagree" in forecast.note
    assert forecast.samples == 5


async def test_run_ensemble_needs_min_valid_samples() -> None:
    config = EnsembleConfig(samples=3, min_valid=2)
    good = ScriptedAnalyser([ok("0.6"), failed(FailureKind.INVALID_OUTPUT), ok("0.7")])
    result = await run_ensemble(good, request(), config)
    assert result.forecast is not None
    assert result.valid == 2
    bad = ScriptedAnalyser([ok("0.6"), failed(FailureKind.TIMEOUT), failed(FailureKind.TIMEOUT)])
    result = await run_ensemble(bad, request(), config)
    assert result.forecast is None
    assert result.failures[FailureKind.TIMEOUT] == 2


def service(llm: ScriptedAnalyser | None, **config: object) -> AnalysisService:
    return AnalysisService(
        heuristic=HeuristicModel(),
        llm=llm,
        clock=FakeClock(),
        ensemble=EnsembleConfig(samples=3, min_valid=2),
        config=AnalysisConfig(**config),  # type: ignore[arg-type]
    )


async def test_no_key_means_heuristic_and_says_so() -> None:
    result = await service(None).analyse(request())
    assert result.forecast is not None
    assert result.source is Source.HEURISTIC
    assert result.why == "heuristic: no API key"
    assert result.conclusive


async def test_llm_forecast_when_enough_samples_are_usable() -> None:
    result = await service(ScriptedAnalyser([ok("0.6"), ok("0.62"), ok("0.64")])).analyse(request())
    assert result.source is Source.LLM
    assert result.why == "LLM ensemble: 3/3 samples"


async def test_over_budget_falls_back_to_heuristic() -> None:
    llm = ScriptedAnalyser([failed(FailureKind.BUDGET)] * 3)
    result = await service(llm).analyse(request())
    assert result.source is Source.HEURISTIC
    assert result.why == "heuristic: over daily LLM budget"
    assert not result.conclusive


async def test_unusable_answers_give_no_forecast_and_no_fallback() -> None:
    llm = ScriptedAnalyser([failed(FailureKind.INVALID_OUTPUT)] * 3)
    result = await service(llm).analyse(request())
    assert result.forecast is None
    assert "unusable" in result.why


async def test_api_failures_open_the_circuit_and_skip_the_llm() -> None:
    llm = ScriptedAnalyser([failed(FailureKind.TIMEOUT)] * 6)
    svc = service(llm, breaker_threshold=2, breaker_cooldown=60.0)
    first = await svc.analyse(request())
    assert first.why.startswith("heuristic: LLM API failing (timeout x3)")
    await svc.analyse(request())
    assert svc.circuit_open()
    calls = llm.calls
    third = await svc.analyse(request())
    assert llm.calls == calls
    assert third.why == "heuristic: LLM API failing (2 markets in a row)"


async def test_fallback_can_be_disabled() -> None:
    llm = ScriptedAnalyser([failed(FailureKind.OVERLOADED)] * 3)
    result = await service(llm, fallback_to_heuristic=False).analyse(request())
    assert result.forecast is None
    assert result.why.startswith("no forecast: LLM API failing")


def test_ensemble_config_validates() -> None:
    with pytest.raises(ValueError, match="min_valid"):
        EnsembleConfig(samples=2, min_valid=3)


class Screen:
    def __init__(self, answer: ScreenOutput | SampleOutcome) -> None:
        self.answer = answer

    async def screen(self, request: AnalysisRequest) -> ScreenOutput | SampleOutcome:
        return self.answer


async def test_a_negative_screen_skips_the_ensemble_and_is_conclusive() -> None:
    llm = ScriptedAnalyser([ok("0.6")] * 3)
    svc = AnalysisService(
        heuristic=HeuristicModel(),
        llm=llm,
        clock=FakeClock(),
        screener=Screen(ScreenOutput(analyse=False, reason="old news")),
    )
    result = await svc.analyse(request())
    assert result.forecast is None
    assert result.why == "screened out: old news"
    assert result.conclusive
    assert llm.calls == 0


async def test_a_failed_screen_does_not_block_the_analysis() -> None:
    llm = ScriptedAnalyser([ok("0.6")] * 3)
    svc = AnalysisService(
        heuristic=HeuristicModel(),
        llm=llm,
        clock=FakeClock(),
        ensemble=EnsembleConfig(samples=3, min_valid=2),
        screener=Screen(SampleOutcome(None, FailureKind.TIMEOUT)),
    )
    assert (await svc.analyse(request())).source is Source.LLM


HOUR = timedelta(hours=1)


def at(base: AnalysisRequest, *, minutes: float, price: str) -> AnalysisRequest:
    return replace(
        base, now=base.now + timedelta(minutes=minutes), market_probability=Decimal(price)
    )


async def test_the_same_evidence_reuses_the_samples_at_the_new_price() -> None:
    llm = ScriptedAnalyser([ok("0.70"), ok("0.72"), ok("0.74")])
    svc = service(llm, forecast_reuse=HOUR)
    first = await svc.analyse(request("0.50", ("Senate passes bill",)))

    again = await svc.analyse(
        at(request("0.50", ("Senate passes bill",)), minutes=20, price="0.60")
    )

    assert llm.calls == 3  # no new samples
    assert first.forecast is not None
    assert again.forecast is not None
    assert again.why == "LLM ensemble: 3/3 samples, reused from 00:00 UTC (the same evidence)"
    assert again.conclusive
    assert again.llm_samples == 0
    assert again.screen == ""
    assert again.forecast.sample_probabilities == first.forecast.sample_probabilities
    assert again.forecast.aggregate == first.forecast.aggregate
    # pooled again with the new price: the blend follows the market
    assert again.forecast.model_probability > first.forecast.model_probability
    assert again.forecast.market_probability == Decimal("0.60")


@pytest.mark.parametrize(
    ("minutes", "titles", "why"),
    [
        (20, ("Senate passes bill", "Vote delayed"), "new news"),
        (61, ("Senate passes bill",), "past the window"),
        (-5, ("Senate passes bill",), "a now before the samples (another run)"),
    ],
)
async def test_new_evidence_or_stale_samples_draw_new_ones(
    minutes: float, titles: tuple[str, ...], why: str
) -> None:
    llm = ScriptedAnalyser([ok("0.70"), ok("0.72"), ok("0.74")] * 2)
    svc = service(llm, forecast_reuse=HOUR)
    await svc.analyse(request("0.50", ("Senate passes bill",)))

    again = await svc.analyse(at(request("0.50", titles), minutes=minutes, price="0.55"))

    assert llm.calls == 6, why
    assert "reused" not in again.why


async def test_a_market_near_its_end_reuses_for_a_tenth_of_the_time_left() -> None:
    closing = replace(request("0.50"), market=replace(MARKET, end_date=NOW + timedelta(hours=2)))
    llm = ScriptedAnalyser([ok("0.70"), ok("0.72"), ok("0.74")] * 3)
    svc = service(llm, forecast_reuse=HOUR)
    await svc.analyse(closing)

    soon = await svc.analyse(at(closing, minutes=10, price="0.52"))  # 10 min <= 110 min / 10
    late = await svc.analyse(at(closing, minutes=15, price="0.52"))  # 15 min > 105 min / 10

    assert "reused" in soon.why
    assert "reused" not in late.why
    assert llm.calls == 6


async def test_only_a_usable_llm_ensemble_is_kept_and_reuse_is_off_by_default() -> None:
    failing = ScriptedAnalyser([failed(FailureKind.TIMEOUT)] * 3 + [ok("0.7")] * 3)
    svc = service(failing, forecast_reuse=HOUR)
    fallback = await svc.analyse(request("0.50"))
    assert fallback.source is Source.HEURISTIC
    assert "reused" not in (await svc.analyse(at(request("0.50"), minutes=1, price="0.5"))).why
    assert failing.calls == 6

    plain = ScriptedAnalyser([ok("0.7")] * 6)
    default = service(plain)
    await default.analyse(request("0.50"))
    await default.analyse(at(request("0.50"), minutes=1, price="0.5"))
    assert default.reuse is None
    assert plain.calls == 6


class ScriptedScreen:
    def __init__(self, *answers: bool) -> None:
        self.answers = list(answers)
        self.calls = 0

    async def screen(self, request: AnalysisRequest) -> ScreenOutput | SampleOutcome:
        self.calls += 1
        go = self.answers.pop(0)
        reason = "worth a look" if go else "the price leaves nothing to find"
        return ScreenOutput(analyse=go, reason=reason)


async def test_the_screen_still_decides_before_samples_are_reused() -> None:
    llm = ScriptedAnalyser([ok("0.70"), ok("0.72"), ok("0.74")])
    screen = ScriptedScreen(True, False, True)
    svc = AnalysisService(
        heuristic=HeuristicModel(),
        llm=llm,
        clock=FakeClock(),
        ensemble=EnsembleConfig(samples=3, min_valid=2),
        screener=screen,
        config=AnalysisConfig(forecast_reuse=HOUR),
    )
    await svc.analyse(request("0.50", ("Senate passes bill",)))

    out = await svc.analyse(at(request("0.50", ("Senate passes bill",)), minutes=5, price="0.95"))
    back = await svc.analyse(at(request("0.50", ("Senate passes bill",)), minutes=9, price="0.60"))

    assert out.forecast is None  # the screen saw 0.95 and said no: nothing reused, no trade
    assert out.why == "screened out: the price leaves nothing to find"
    assert back.reused
    assert back.screen == "analyse: worth a look"
    assert (screen.calls, llm.calls) == (3, 3)

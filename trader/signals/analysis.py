"""Choosing the analysis for one market: the LLM ensemble, or the heuristic, and saying why.

- No LLM configured (no API key): the heuristic, "no API key".
- The LLM's circuit is open (`breaker_threshold` markets in a row failed on API errors, within
  the last `breaker_cooldown` seconds): the heuristic, "LLM API failing".
- The ensemble ran: enough usable samples give an LLM forecast. Otherwise, if the samples were
  refused by the budget, the heuristic, "over daily LLM budget"; if they failed on the API
  (timeouts, 429/529 after retries, connection, 5xx), the heuristic, "LLM API failing". If the
  model answered but unusably (bad JSON, probability out of range), no forecast at all: an
  unusable answer is never replaced by a weaker model's and never traded on.

- The same evidence as the market's last LLM ensemble, within `forecast_reuse` (the triage
  sends a market back when only its price moved): after the screen (which sees the price),
  that ensemble's samples, pooled again at the new price, "reused from HH:MM UTC"
  (`trader/signals/reuse.py`); no sample is drawn.

The fallback can be switched off (`fallback_to_heuristic=False`), then those cases give no
forecast. `AnalysisResult.conclusive` says whether the primary source reached a verdict, which
is when the triage may remember the market as analysed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol

from trader.clock import Clock
from trader.domain import ZERO
from trader.signals.ensemble import (
    Analyser,
    EnsembleConfig,
    EnsembleResult,
    combine,
    run_ensemble,
    shown_sources,
)
from trader.signals.heuristic import HeuristicModel
from trader.signals.pooling import CalibrationHolder
from trader.signals.values import (
    AnalysisRequest,
    FailureKind,
    Forecast,
    SampleOutcome,
    Source,
)

if TYPE_CHECKING:  # the screen's answer; the LLM path is imported only with a key
    from trader.signals.prompts import ScreenOutput
    from trader.signals.reuse import ForecastReuse, Reused


class Screener(Protocol):
    async def screen(self, request: AnalysisRequest) -> ScreenOutput | SampleOutcome: ...


@dataclass(frozen=True, slots=True)
class AnalysisConfig:
    fallback_to_heuristic: bool = True
    breaker_threshold: int = 3
    breaker_cooldown: float = 300.0  # seconds
    # an LLM ensemble's samples are reused for the same evidence this long (None: never)
    forecast_reuse: timedelta | None = None


@dataclass(frozen=True, slots=True)
class AnalysisResult:
    forecast: Forecast | None
    why: str
    conclusive: bool = False
    llm_samples: int = 0  # samples the LLM was asked for (budget refusals included)
    screen: str = ""  # the triage model's decision and reason; "" when no screen ran
    screen_cost: Decimal = ZERO
    reused: bool = False  # the samples were the last ones drawn from the same evidence

    @property
    def source(self) -> Source | None:
        return self.forecast.source if self.forecast else None


def _describe(failures: Counter[FailureKind]) -> str:
    return ", ".join(f"{kind} x{n}" for kind, n in sorted(failures.items()))


class AnalysisService:
    def __init__(
        self,
        *,
        heuristic: HeuristicModel,
        llm: Analyser | None,
        clock: Clock,
        ensemble: EnsembleConfig | None = None,
        screener: Screener | None = None,
        config: AnalysisConfig | None = None,
        calibration: CalibrationHolder | None = None,
    ) -> None:
        self._heuristic = heuristic
        self._llm = llm
        self._clock = clock
        self.ensemble = ensemble or EnsembleConfig()
        self._screener = screener
        self.config = config or AnalysisConfig()
        # the LLM's calibration, refitted daily; the heuristic always uses the defaults
        self.calibration = calibration or CalibrationHolder(self.ensemble.pooling)
        self._consecutive_api_failures = 0
        self._open_until: float | None = None
        self.reuse: ForecastReuse | None = None
        if llm is not None and self.config.forecast_reuse is not None:
            from trader.signals.reuse import ForecastReuse  # the LLM path: only with a key

            self.reuse = ForecastReuse(self.config.forecast_reuse)

    @property
    def primary(self) -> Source:
        return Source.LLM if self._llm is not None else Source.HEURISTIC

    def circuit_open(self) -> bool:
        return self._open_until is not None and self._clock.monotonic() < self._open_until

    async def analyse(self, request: AnalysisRequest) -> AnalysisResult:
        if self._llm is None:
            return await self._heuristic_result(request, "no API key", conclusive=True)
        if self.circuit_open():
            return await self._fallback(
                request,
                f"LLM API failing ({self._consecutive_api_failures} markets in a row)",
            )
        screen, cost = "", ZERO
        if self._screener is not None:
            screened = await self._screener.screen(request)
            if isinstance(screened, SampleOutcome):
                screen = f"screen failed ({screened.failure}): analysed anyway"
            else:
                cost = screened.cost
                if not screened.analyse:
                    why = f"screened out: {screened.reason}"
                    return AnalysisResult(None, why, True, screen=why, screen_cost=cost)
                screen = f"analyse: {screened.reason}"
        # after the screen, which sees the price (a move toward 0 or 1 may leave nothing to
        # find); nothing new to draw the samples from: the last ones, pooled at this price
        kept = self.reuse.find(request) if self.reuse is not None else None
        if kept is not None:
            return replace(self._reused(request, kept), screen=screen, screen_cost=cost)
        result = await run_ensemble(
            self._llm, request, self.ensemble, calibration=self.calibration.current
        )
        judged = await self._judge(request, result)
        forecast = judged.forecast
        if self.reuse is not None and forecast is not None and forecast.source is self._llm.source:
            estimates = [o.estimate for o in result.outcomes if o.estimate is not None]
            self.reuse.keep(request, estimates, len(result.outcomes))
        return replace(judged, screen=screen, screen_cost=cost)

    def _reused(self, request: AnalysisRequest, kept: Reused) -> AnalysisResult:
        assert self._llm is not None  # reuse is built only with the LLM
        forecast = combine(
            request.market.condition_id,
            kept.estimates,
            request.market_probability,
            self.ensemble,
            self._llm.source,
            self.calibration.current,
        )
        forecast = replace(forecast, retrieved=shown_sources(request))
        why = (
            f"LLM ensemble: {len(kept.estimates)}/{kept.asked} samples, reused from "
            f"{kept.made_at:%H:%M} UTC (the same evidence)"
        )
        return AnalysisResult(forecast, why, conclusive=True, reused=True)

    async def _judge(self, request: AnalysisRequest, result: EnsembleResult) -> AnalysisResult:
        asked = len(result.outcomes)
        failures = result.failures
        if result.forecast is not None:
            self._consecutive_api_failures = 0
            self._open_until = None
            why = f"LLM ensemble: {result.valid}/{asked} samples"
            if failures:
                why += f" ({_describe(failures)})"
            return AnalysisResult(result.forecast, why, conclusive=True, llm_samples=asked)
        api_failures = sum(n for kind, n in failures.items() if kind.is_api_failure)
        if failures.get(FailureKind.INVALID_OUTPUT, 0) and not api_failures:
            self._consecutive_api_failures = 0
            why = f"no forecast: LLM output unusable ({_describe(failures)})"
            return AnalysisResult(None, why, llm_samples=asked)
        if api_failures:
            self._consecutive_api_failures += 1
            if self._consecutive_api_failures >= self.config.breaker_threshold:
                self._open_until = self._clock.monotonic() + self.config.breaker_cooldown
            reason = f"LLM API failing ({_describe(failures)})"
        else:
            reason = "over daily LLM budget"
        return await self._fallback(request, reason, llm_samples=asked)

    async def _fallback(
        self, request: AnalysisRequest, reason: str, *, llm_samples: int = 0
    ) -> AnalysisResult:
        if not self.config.fallback_to_heuristic:
            return AnalysisResult(None, f"no forecast: {reason}", llm_samples=llm_samples)
        return await self._heuristic_result(request, reason, llm_samples=llm_samples)

    async def _heuristic_result(
        self,
        request: AnalysisRequest,
        reason: str,
        *,
        conclusive: bool = False,
        llm_samples: int = 0,
    ) -> AnalysisResult:
        result = await run_ensemble(
            self._heuristic,
            request,
            self.ensemble,
            samples=1,
            calibration=self.ensemble.pooling.heuristic(),
        )
        return AnalysisResult(
            result.forecast, f"heuristic: {reason}", conclusive, llm_samples=llm_samples
        )

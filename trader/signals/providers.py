"""A second LLM provider, and an ordered chain of providers per role with health and cool-down.

`OpenAIAnalyser` speaks any OpenAI-compatible Chat Completions API through the official `openai`
SDK with a base URL (OpenAI itself, or a local vLLM / llama.cpp server). It asks for the same
reasoning-then-number schema as the Anthropic analyser, as a forced function call, validates the
arguments with the same pydantic model, and records one `UsageRecord` per call with provider
"openai" (priced from `prices`; a model without a price costs 0, as a local server does).

`ProviderChain` tries its providers in order. A provider whose call fails on the API (timeout,
connection, 429/5xx, not an unusable answer and not the budget) three times in a row is marked
unhealthy for `cooldown` seconds and skipped; the next one answers. After the cool-down it is
tried first again. When every provider fails, the last failure is returned, so the analysis
service falls back to the heuristic and labels it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, TypeVar

import openai
from openai.types.chat import ChatCompletion

from trader.clock import Clock
from trader.domain import ZERO
from trader.signals.budget import ModelPrice
from trader.signals.prompts import (
    ANALYSIS_SYSTEM,
    FORECAST_TOOL,
    SCREEN_SYSTEM,
    SCREEN_TOOL,
    InvalidOutput,
    ScreenOutput,
    analysis_prompt,
    parse_analysis,
    parse_screen,
    screen_prompt,
)
from trader.signals.records import LLMStats, UsageRecord, UsageRecorder
from trader.signals.retrieval.queries import (
    QUERY_SYSTEM,
    QUERY_TOOL,
    QueryOutput,
    parse_queries,
    query_prompt,
)
from trader.signals.values import AnalysisRequest, FailureKind, SampleOutcome, Source

log = logging.getLogger(__name__)
T = TypeVar("T")


class Provider(Protocol):
    """What the chain needs of an analyser (`LLMAnalyser` and `OpenAIAnalyser` have it)."""

    @property
    def stats(self) -> LLMStats: ...

    async def estimate(self, request: AnalysisRequest, *, sample: int = 0) -> SampleOutcome: ...

    async def screen(self, request: AnalysisRequest) -> ScreenOutput | SampleOutcome: ...

    async def write_queries(
        self, request: AnalysisRequest, *, count: int = 3
    ) -> QueryOutput | SampleOutcome: ...


@dataclass(frozen=True, slots=True)
class OpenAIConfig:
    analysis_model: str = "gpt-4.1-mini"
    triage_model: str = "gpt-4.1-nano"
    prices: Mapping[str, ModelPrice] = field(default_factory=dict)
    max_tokens: int = 2000
    screen_max_tokens: int = 300
    timeout: float = 60.0
    concurrency: int = 8


def make_openai_client(
    api_key: str, *, base_url: str | None = None, timeout: float = 60.0, max_retries: int = 2
) -> openai.AsyncOpenAI:
    """The SDK client. The caller owns it and closes it (`await client.close()`)."""
    return openai.AsyncOpenAI(
        api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries
    )


def _classify(error: openai.APIError) -> tuple[FailureKind, str]:
    if isinstance(error, openai.APITimeoutError):
        return FailureKind.TIMEOUT, "request timed out"
    if isinstance(error, openai.APIConnectionError):
        return FailureKind.CONNECTION, "connection failed"
    if isinstance(error, openai.APIStatusError):
        if error.status_code == 429:
            return FailureKind.RATE_LIMITED, "HTTP 429 after retries"
        return FailureKind.API_ERROR, f"HTTP {error.status_code}"
    return FailureKind.API_ERROR, type(error).__name__


def _function(tool: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": tool["name"],
            "description": tool["description"],
            "parameters": tool["input_schema"],
        },
    }


class OpenAIAnalyser:
    source = Source.LLM
    provider = "openai"

    def __init__(
        self,
        client: openai.AsyncOpenAI,
        *,
        recorder: UsageRecorder,
        clock: Clock,
        config: OpenAIConfig | None = None,
    ) -> None:
        self.config = config or OpenAIConfig()
        self._client = client
        self._recorder = recorder
        self._clock = clock
        self._slots = asyncio.Semaphore(max(1, self.config.concurrency))
        self._stats = LLMStats()

    @property
    def stats(self) -> LLMStats:
        return self._stats

    async def estimate(self, request: AnalysisRequest, *, sample: int = 0) -> SampleOutcome:
        answer = await self._call(
            "analysis",
            self.config.analysis_model,
            ANALYSIS_SYSTEM,
            analysis_prompt(request, sample=sample),
            self.config.max_tokens,
            FORECAST_TOOL,
            request.market.condition_id,
        )
        return self._parsed(answer, lambda a: SampleOutcome(parse_analysis(a, request)))

    async def screen(self, request: AnalysisRequest) -> ScreenOutput | SampleOutcome:
        answer = await self._call(
            "triage",
            self.config.triage_model,
            SCREEN_SYSTEM,
            screen_prompt(request),
            self.config.screen_max_tokens,
            SCREEN_TOOL,
            request.market.condition_id,
        )
        return self._parsed(answer, parse_screen)

    async def write_queries(
        self, request: AnalysisRequest, *, count: int = 3
    ) -> QueryOutput | SampleOutcome:
        answer = await self._call(
            "retrieval",
            self.config.triage_model,
            QUERY_SYSTEM,
            query_prompt(request, count),
            self.config.screen_max_tokens,
            QUERY_TOOL,
            request.market.condition_id,
        )
        return self._parsed(answer, parse_queries)

    def _parsed(
        self, answer: dict[str, Any] | SampleOutcome, parse: Callable[[dict[str, Any]], T]
    ) -> T | SampleOutcome:
        """The forced call's answer read by `parse`; a failed call or an unreadable answer is
        a failed sample (never traded on)."""
        if isinstance(answer, SampleOutcome):
            return answer
        try:
            return parse(answer)
        except InvalidOutput as exc:
            return self._fail(FailureKind.INVALID_OUTPUT, str(exc))

    def _fail(self, kind: FailureKind, detail: str) -> SampleOutcome:
        self._stats = replace(self._stats, failures=self._stats.failures + 1)
        return SampleOutcome(None, kind, detail)

    async def _call(
        self,
        purpose: str,
        model: str,
        system: str,
        user: str,
        max_tokens: int,
        tool: dict[str, Any],
        market: str,
    ) -> dict[str, Any] | SampleOutcome:
        async with self._slots:
            try:
                # built as plain JSON: the SDK's typed overloads add nothing to a forced call
                params: dict[str, Any] = {
                    "model": model,
                    "max_tokens": max_tokens,
                    "messages": [
                        {"role": "system", "content": system},
                        {"role": "user", "content": user},
                    ],
                    "tools": [_function(tool)],
                    "tool_choice": {"type": "function", "function": {"name": tool["name"]}},
                }
                completion: ChatCompletion = await self._client.chat.completions.create(
                    **params, timeout=self.config.timeout
                )
            except openai.APIError as exc:
                kind, detail = _classify(exc)
                log.warning("OpenAI-compatible %s call for %s failed: %s", purpose, market, detail)
                await self._record(purpose, model, market, None, error=kind)
                return self._fail(kind, detail)
        await self._record(purpose, model, market, completion.usage, error=None)
        calls = completion.choices[0].message.tool_calls if completion.choices else None
        for call in calls or ():
            function = getattr(call, "function", None)
            if function is not None and function.name == tool["name"]:
                try:
                    value = json.loads(function.arguments)
                except json.JSONDecodeError:
                    break
                if isinstance(value, dict):
                    self._stats = replace(self._stats, ok=self._stats.ok + 1)
                    return value
        return self._fail(FailureKind.INVALID_OUTPUT, f"no {tool['name']} function call")

    async def _record(
        self, purpose: str, model: str, market: str, usage: Any, *, error: FailureKind | None
    ) -> None:
        prompt = int(getattr(usage, "prompt_tokens", 0) or 0)
        output = int(getattr(usage, "completion_tokens", 0) or 0)
        details = getattr(usage, "prompt_tokens_details", None)
        cached = int(getattr(details, "cached_tokens", 0) or 0)
        price = self.config.prices.get(model)
        cost = (
            price.cost(input_tokens=prompt - cached, output_tokens=output, cache_read_tokens=cached)
            if price is not None
            else ZERO
        )
        stats = self._stats
        self._stats = replace(
            stats,
            calls=stats.calls + 1,
            input_tokens=stats.input_tokens + prompt - cached,
            output_tokens=stats.output_tokens + output,
            cache_read_tokens=stats.cache_read_tokens + cached,
            cost=stats.cost + cost,
        )
        await self._recorder.record(
            UsageRecord(
                timestamp=self._clock.now(),
                model=model,
                purpose=purpose,
                input_tokens=prompt - cached,
                output_tokens=output,
                cache_read_tokens=cached,
                cache_write_tokens=0,
                cost=cost,
                ok=error is None,
                error=str(error or ""),
                market=market,
                provider=self.provider,
            )
        )


@dataclass(slots=True)
class _Health:
    failures: int = 0  # API failures in a row
    unhealthy_until: float | None = None


class ProviderChain:
    """Ordered providers for one role; see the module docstring."""

    source = Source.LLM

    def __init__(
        self,
        providers: Sequence[tuple[str, Provider]],
        clock: Clock,
        *,
        failures: int = 3,
        cooldown: float = 300.0,
    ) -> None:
        if not providers:
            raise ValueError("a provider chain needs at least one provider")
        self._providers = list(providers)
        self._clock = clock
        self._threshold = failures
        self._cooldown = cooldown
        self._health = {name: _Health() for name, _ in providers}

    @property
    def stats(self) -> LLMStats:
        total = LLMStats()
        for _, provider in self._providers:
            total = total.plus(provider.stats)
        return total

    def healthy(self, name: str) -> bool:
        until = self._health[name].unhealthy_until
        return until is None or self._clock.monotonic() >= until

    def _note(self, name: str, failure: FailureKind | None) -> None:
        health = self._health[name]
        if failure is None or not failure.is_api_failure:
            health.failures, health.unhealthy_until = 0, None
            return
        health.failures += 1
        if health.failures >= self._threshold:
            health.unhealthy_until = self._clock.monotonic() + self._cooldown
            health.failures = 0
            log.warning("LLM provider %s unhealthy for %g s", name, self._cooldown)

    def _order(self) -> list[tuple[str, Provider]]:
        healthy = [(n, p) for n, p in self._providers if self.healthy(n)]
        return healthy or []

    async def estimate(self, request: AnalysisRequest, *, sample: int = 0) -> SampleOutcome:
        last = SampleOutcome(None, FailureKind.API_ERROR, "every provider is cooling down")
        for name, provider in self._order():
            outcome = await provider.estimate(request, sample=sample)
            self._note(name, outcome.failure)
            if outcome.failure is None or not outcome.failure.is_api_failure:
                return outcome
            last = outcome
        return last

    async def screen(self, request: AnalysisRequest) -> ScreenOutput | SampleOutcome:
        last: ScreenOutput | SampleOutcome = SampleOutcome(
            None, FailureKind.API_ERROR, "every provider is cooling down"
        )
        for name, provider in self._order():
            outcome = await provider.screen(request)
            failure = outcome.failure if isinstance(outcome, SampleOutcome) else None
            self._note(name, failure)
            if failure is None or not failure.is_api_failure:
                return outcome
            last = outcome
        return last

    async def write_queries(
        self, request: AnalysisRequest, *, count: int = 3
    ) -> QueryOutput | SampleOutcome:
        last: QueryOutput | SampleOutcome = SampleOutcome(
            None, FailureKind.API_ERROR, "every provider is cooling down"
        )
        for name, provider in self._order():
            outcome = await provider.write_queries(request, count=count)
            failure = outcome.failure if isinstance(outcome, SampleOutcome) else None
            self._note(name, failure)
            if failure is None or not failure.is_api_failure:
                return outcome
            last = outcome
        return last

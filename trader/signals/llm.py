"""Deep analysis of one market with the Messages API (`anthropic.AsyncAnthropic`).

Each call: a budget reservation of the worst-case cost, for a direct call a concurrency slot
(semaphore) and a rate-limit token (token bucket on the injected clock), the request laid out
for prompt caching (`trader.signals.caching`: breakpoints after the shared system prompt and
after the market's context, the current time and the sample's instruction last, uncached), then
settlement of the reservation
to the actual cost and one `UsageRecord`. A batched call holds no slot and takes no token while
it waits for its batch: it is one line of one request, not a request; while the shared prefix
is cold, the first call of a kind goes alone, directly, and the others wait for it to write
the cache (`PrimingGate`).

Retries are the SDK's own (`max_retries`): it retries 408/409/429/5xx/529 and connection errors,
honouring `retry-after` / `retry-after-ms`; `deadline` bounds a whole call, retries included.
Timeouts, exhausted retries and unusable answers come back as a `SampleOutcome` with a
`FailureKind`, never as an exception.

The client is injected: build it with `make_client` (key and base URL from settings; the SDK
falls back to ANTHROPIC_BASE_URL). Nothing here logs the key or the request headers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from trader.clock import Clock
from trader.domain import ZERO
from trader.signals.batching import BATCH_DISCOUNT, BatchItemFailed, BatchSender
from trader.signals.budget import (
    DEFAULT_PRICES,
    BudgetExceeded,
    DailyBudget,
    ModelPrice,
    estimate_tokens,
)
from trader.signals.caching import (
    CacheConfig,
    PrimingGate,
    below_minimum,
    request_params,
    usage_tokens,
)
from trader.signals.prompts import (
    ANALYSIS_SYSTEM,
    FORECAST_TOOL,
    SCREEN_GROUP_SYSTEM,
    SCREEN_GROUP_TOOL,
    InvalidOutput,
    ScreenOutput,
    market_context,
    parse_analysis,
    parse_screen_group,
    sample_turn,
    screen_group_prompt,
)
from trader.signals.records import LLMStats, UsageRecord, UsageRecorder
from trader.signals.retrieval.queries import (
    QUERY_SYSTEM,
    QUERY_TOOL,
    QueryOutput,
    parse_queries,
    query_prompt,
)
from trader.signals.screening import ScreenGroupConfig, ScreenGroups, shares
from trader.signals.throttle import TokenBucket
from trader.signals.values import AnalysisRequest, Estimate, FailureKind, SampleOutcome, Source

if TYPE_CHECKING:  # the SDK is imported when a client is made (an API key is set), not before
    import anthropic

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class LLMConfig:
    analysis_model: str = "claude-sonnet-4-6"
    triage_model: str = "claude-haiku-4-5"
    prices: Mapping[str, ModelPrice] = field(default_factory=lambda: dict(DEFAULT_PRICES))
    max_tokens: int = 2000  # room to reason (outside view, inside view, against) before the number
    screen_max_tokens: int = 300
    timeout: float = 60.0  # seconds per attempt
    # Seconds for a whole call, the SDK's retries and their waits included: this SDK honours any
    # retry-after, however long, so a deadline keeps one answer from stalling a cycle.
    deadline: float = 180.0
    concurrency: int = 8
    requests_per_second: float = 5.0
    burst: float = 10.0
    # Analyses whose news is all older than this go through the Message Batches API (half
    # price) when a `BatchSender` is given; a market with fresher news is analysed at once.
    urgent_news: timedelta = timedelta(hours=1)
    batch_deadline: float = 86_400.0  # seconds a batched call may take (the API's limit: 24 h)
    batch_screen: bool = True  # a non-urgent market's screen goes in the batch too
    cache: CacheConfig = field(default_factory=CacheConfig)
    screen_groups: ScreenGroupConfig = field(default_factory=ScreenGroupConfig)


def make_client(
    api_key: str, *, base_url: str | None = None, timeout: float = 60.0, max_retries: int = 2
) -> anthropic.AsyncAnthropic:
    """The SDK client. The caller owns it and closes it (`await client.close()`)."""
    import anthropic  # imported only when an API key is configured

    return anthropic.AsyncAnthropic(
        api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries
    )


def classify(error: anthropic.APIError) -> tuple[FailureKind, str]:
    import anthropic  # loaded by make_client already

    if isinstance(error, anthropic.APITimeoutError):
        return FailureKind.TIMEOUT, "request timed out"
    if isinstance(error, anthropic.APIConnectionError):
        return FailureKind.CONNECTION, "connection failed"
    if isinstance(error, anthropic.APIStatusError):
        status = error.status_code
        if status == 429:
            return FailureKind.RATE_LIMITED, "HTTP 429 after retries"
        if status == 529:
            return FailureKind.OVERLOADED, "HTTP 529 after retries"
        return FailureKind.API_ERROR, f"HTTP {status}"
    return FailureKind.API_ERROR, type(error).__name__


class LLMAnalyser:
    source = Source.LLM

    def __init__(
        self,
        client: anthropic.AsyncAnthropic,
        *,
        recorder: UsageRecorder,
        clock: Clock,
        budget: DailyBudget | None = None,
        config: LLMConfig | None = None,
        batcher: BatchSender | None = None,
        provider: str = "anthropic",
    ) -> None:
        self.config = config or LLMConfig()
        self._batcher = batcher
        self.provider = provider
        for model in (self.config.analysis_model, self.config.triage_model):
            if model not in self.config.prices:
                raise ValueError(f"no price configured for model {model!r}")
        self._client = client
        self._recorder = recorder
        self._clock = clock
        self._budget = budget
        self._slots = asyncio.Semaphore(max(1, self.config.concurrency))
        self._bucket = TokenBucket(self.config.requests_per_second, self.config.burst, clock)
        self._stats = LLMStats()
        self.failure_counts: Counter[FailureKind] = Counter()
        self._screen_costs: dict[str, Decimal] = {}  # market -> its screen's cost, until read
        self.priming = PrimingGate(clock, self.config.cache.prefix_ttl)
        triage = self.config.triage_model
        if below_minimum(triage, SCREEN_GROUP_SYSTEM, SCREEN_GROUP_TOOL):  # Haiku 4.5: 4,096
            self.priming.never_cached((triage, "triage"))
        self._screens = ScreenGroups(self._screen_group, clock, self.config.screen_groups)

    @property
    def stats(self) -> LLMStats:
        return self._stats

    def urgent(self, request: AnalysisRequest) -> bool:
        """A market with news fresher than `urgent_news` is analysed at once, never batched."""
        fresh = request.now - self.config.urgent_news
        return any(m.item.published >= fresh for m in request.news)

    def _batchable(self, request: AnalysisRequest) -> bool:
        return self._batcher is not None and not self.urgent(request)

    async def estimate(self, request: AnalysisRequest, *, sample: int = 0) -> SampleOutcome:
        """One independent estimate with the analysis model (batched when not urgent)."""
        model, batchable = self.config.analysis_model, self._batchable(request)

        async def send(batch: bool) -> Estimate | SampleOutcome:
            return await self._call(
                batch=batch,
                purpose="analysis",
                model=model,
                system=ANALYSIS_SYSTEM,
                context=market_context(request),
                user=sample_turn(request, sample),
                max_tokens=self.config.max_tokens,
                market=request.market.condition_id,
                tool=FORECAST_TOOL,
                parse=lambda answer: parse_analysis(answer, request),
                # a batchable market's context lives as a batched one's even when this call
                # primes the prefix directly: its other samples are read from a batch
                batched_market=batchable,
            )

        outcome = await self.priming.route((model, "analysis"), batchable, send)
        if isinstance(outcome, Estimate):
            return SampleOutcome(outcome)
        return outcome

    async def screen(self, request: AnalysisRequest) -> ScreenOutput | SampleOutcome:
        """A cheap yes/no with the triage model: is the news material to this market? Screens
        asked for together share one call (`trader.signals.screening`)."""
        batch = self.config.batch_screen and self._batchable(request)
        return await self._screens.screen(request, batch)

    async def _screen_group(
        self, requests: Sequence[AnalysisRequest], batch: bool
    ) -> list[ScreenOutput | SampleOutcome]:
        model, count = self.config.triage_model, len(requests)
        markets = tuple(r.market.condition_id for r in requests)

        async def send(batched: bool) -> list[ScreenOutput | None] | SampleOutcome:
            return await self._call(
                batch=batched,
                purpose="triage",
                model=model,
                system=SCREEN_GROUP_SYSTEM,
                user=screen_group_prompt(requests),
                max_tokens=self.config.screen_max_tokens * count,
                market=markets,
                tool=SCREEN_GROUP_TOOL,
                parse=lambda answer: parse_screen_group(answer, count),
            )

        outcome = await self.priming.route((model, "triage"), batch, send)
        costs = [self._screen_costs.pop(market, ZERO) for market in markets]
        if isinstance(outcome, SampleOutcome):
            return [outcome] * count
        return [
            verdict.model_copy(update={"cost": cost})
            if verdict is not None
            else self._fail(FailureKind.INVALID_OUTPUT, "the screen gave no verdict for it")
            for verdict, cost in zip(outcome, costs, strict=True)
        ]

    async def write_queries(
        self, request: AnalysisRequest, *, count: int = 3
    ) -> QueryOutput | SampleOutcome:
        """Search queries for the retrieval stage, with the triage model (purpose "retrieval")."""
        return await self._call(
            purpose="retrieval",
            model=self.config.triage_model,
            system=QUERY_SYSTEM,
            user=query_prompt(request, count),
            max_tokens=self.config.screen_max_tokens,
            market=request.market.condition_id,
            tool=QUERY_TOOL,
            parse=parse_queries,
        )

    def _fail(self, kind: FailureKind, detail: str) -> SampleOutcome:
        self.failure_counts[kind] += 1
        stats = self._stats
        if kind is FailureKind.BUDGET:
            self._stats = replace(stats, budget_refusals=stats.budget_refusals + 1)
        else:
            self._stats = replace(stats, failures=stats.failures + 1)
        return SampleOutcome(None, kind, detail)

    async def _call(
        self,
        *,
        purpose: str,
        model: str,
        system: str,
        user: str,
        max_tokens: int,
        market: str | tuple[str, ...],
        tool: dict[str, Any],
        parse: Callable[[Mapping[str, Any]], T],
        context: str | None = None,
        batch: bool = False,
        batched_market: bool = False,
    ) -> T | SampleOutcome:
        price = self.config.prices[model]
        if batch:
            price = price.discounted(BATCH_DISCOUNT)
        params = request_params(
            model=model,
            system=system,
            user=user,
            max_tokens=max_tokens,
            tool=tool,
            config=self.config.cache,
            context=context,
            batch=batch or batched_market,
        )
        prompt = system + (context or "") + user
        worst = price.worst_case(
            prompt_tokens=estimate_tokens(prompt) + estimate_tokens(json.dumps(tool)) + _TOOL_USE,
            max_output_tokens=max_tokens,
        )
        markets = (market,) if isinstance(market, str) else market
        call = _Call(model, purpose, markets, price, tool["name"], batch)
        if self._budget is None:
            message, failure = await self._request(params, batch)
        else:
            try:
                reservation = await self._budget.reserve(worst)
            except BudgetExceeded as exc:
                return self._fail(FailureKind.BUDGET, str(exc))
            message, failure = None, None
            try:
                message, failure = await self._request(params, batch)
            finally:
                # One settlement, with the billed cost (zero when there was no answer), so
                # the reservation is never released before the real cost is counted.
                billed = price.cost(**usage_tokens(message.usage if message else None))
                await self._budget.settle(reservation, billed)
        if message is None:
            kind, detail = failure or (FailureKind.API_ERROR, "no answer")
            log.warning("LLM %s call for %s failed: %s", purpose, call.named, detail)
            await self._record(call, None, error=kind)
            return self._fail(kind, detail)
        return await self._parse(call, message, parse)

    async def _request(
        self, params: dict[str, Any], batch: bool
    ) -> tuple[anthropic.types.Message | None, tuple[FailureKind, str] | None]:
        """The message, or why there is none. A direct call takes a concurrency slot and a
        rate-limit token first; a batched one neither."""
        import anthropic  # loaded by make_client already

        deadline = self.config.batch_deadline if batch else self.config.deadline
        slot: contextlib.AbstractAsyncContextManager[Any] = (
            contextlib.nullcontext() if batch else self._slots
        )
        try:
            async with slot:
                if not batch:
                    await self._bucket.acquire()
                async with asyncio.timeout(deadline):
                    return await self._send(params, batch), None
        except anthropic.APIError as exc:
            return None, classify(exc)
        except BatchItemFailed as exc:
            return None, (FailureKind.API_ERROR, str(exc))
        except TimeoutError:
            return None, (FailureKind.TIMEOUT, f"no answer within {deadline:g} s")

    async def _parse(
        self,
        call: _Call,
        message: anthropic.types.Message,
        parse: Callable[[Mapping[str, Any]], T],
    ) -> T | SampleOutcome:
        try:
            result = parse(_tool_input(message, call.tool))
        except InvalidOutput as exc:
            log.warning("LLM %s answer for %s unusable: %s", call.purpose, call.named, exc)
            await self._record(call, message.usage, error=FailureKind.INVALID_OUTPUT)
            return self._fail(FailureKind.INVALID_OUTPUT, str(exc))
        await self._record(call, message.usage, error=None)
        self._stats = replace(self._stats, ok=self._stats.ok + 1)
        return result

    async def _send(self, params: dict[str, Any], batch: bool) -> anthropic.types.Message:
        if batch and self._batcher is not None:
            return await self._batcher.send(params)
        message: anthropic.types.Message = await self._client.messages.create(
            **params, timeout=self.config.timeout
        )
        return message

    async def _record(
        self, call: _Call, usage: anthropic.types.Usage | None, *, error: FailureKind | None
    ) -> None:
        """The call in the stats; one `UsageRecord` for each market it served, with its share
        of the tokens (the shares add up to the call)."""
        tokens = usage_tokens(usage)
        if usage is not None:
            self.priming.saw((call.model, call.purpose), tokens)
        stats = self._stats
        self._stats = replace(
            stats,
            calls=stats.calls + 1,
            input_tokens=stats.input_tokens + tokens["input_tokens"],
            output_tokens=stats.output_tokens + tokens["output_tokens"],
            cache_read_tokens=stats.cache_read_tokens + tokens["cache_read_tokens"],
            cache_write_tokens=stats.cache_write_tokens + tokens["cache_write_tokens"],
            cost=stats.cost + call.price.cost(**tokens),
        )
        for market, share in zip(call.markets, shares(tokens, len(call.markets)), strict=True):
            cost = call.price.cost(**share)
            if call.purpose == "triage":
                self._screen_costs[market] = cost
            await self._recorder.record(
                UsageRecord(
                    timestamp=self._clock.now(),
                    model=call.model,
                    purpose=call.purpose,
                    cost=cost,
                    ok=error is None,
                    error=str(error or ""),
                    market=market,
                    provider=self.provider,
                    batch=call.batch,
                    input_tokens=share["input_tokens"],
                    output_tokens=share["output_tokens"],
                    cache_read_tokens=share["cache_read_tokens"],
                    cache_write_tokens=share["cache_write_tokens"],
                )
            )


@dataclass(frozen=True, slots=True)
class _Call:
    model: str
    purpose: str
    markets: tuple[str, ...]
    price: ModelPrice
    tool: str
    batch: bool = False

    @property
    def named(self) -> str:
        return ", ".join(self.markets)


_TOOL_USE = 400  # the tool-use system prompt the API adds (313-346 tokens), with a margin


def _tool_input(message: anthropic.types.Message, name: str) -> Mapping[str, Any]:
    """The input of the forced tool call; a reply without it (say, cut off at max_tokens before
    the call) is unusable."""
    for block in message.content:
        if block.type == "tool_use" and block.name == name and isinstance(block.input, dict):
            return block.input
    raise InvalidOutput(f"no {name} tool call in the answer (stop: {message.stop_reason})")

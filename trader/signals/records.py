"""What the signal pipeline persists, as small protocols, with in-memory implementations.

The composition root wires the protocols to the database; tests and the demo use the in-memory
classes below. Every method is async so a database implementation fits without changes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from trader.domain import ZERO
from trader.signals.values import Forecast, NewsItem

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class UsageRecord:
    """One Messages API call (or one attempt that never got an answer: zero tokens, ok False)."""

    timestamp: datetime
    model: str
    purpose: str  # "analysis" or "triage"
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cost: Decimal  # USD
    ok: bool
    error: str = ""  # the failure kind when not ok
    market: str = ""
    provider: str = "anthropic"
    batch: bool = False  # sent through the Message Batches API (half price)


@dataclass(frozen=True, slots=True)
class LLMStats:
    calls: int = 0  # requests that reached the API (retries inside the SDK count once)
    ok: int = 0
    failures: int = 0
    budget_refusals: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost: Decimal = ZERO

    @property
    def tokens(self) -> int:
        return (
            self.input_tokens
            + self.output_tokens
            + self.cache_read_tokens
            + self.cache_write_tokens
        )

    def plus(self, other: LLMStats) -> LLMStats:
        return LLMStats(
            **{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        )

    def minus(self, earlier: LLMStats) -> LLMStats:
        """What happened between `earlier` and this snapshot."""
        return LLMStats(
            **{f.name: getattr(self, f.name) - getattr(earlier, f.name) for f in fields(self)}
        )


class UsageRecorder(Protocol):
    async def record(self, usage: UsageRecord) -> None: ...

    async def spent_between(self, start: datetime, end: datetime) -> Decimal:
        """Total cost of the calls recorded in [start, end): how the budget survives restarts."""
        ...


class TeeUsageRecorder:
    """A recorder that also hands each record to `sink` (the /metrics counters); a sink that
    fails never loses the record."""

    def __init__(self, inner: UsageRecorder, sink: Callable[[UsageRecord], object]) -> None:
        self._inner = inner
        self._sink = sink

    async def record(self, usage: UsageRecord) -> None:
        await self._inner.record(usage)
        try:
            self._sink(usage)
        except Exception:  # metrics are best effort
            log.exception("could not count LLM usage in the metrics")

    async def spent_between(self, start: datetime, end: datetime) -> Decimal:
        return await self._inner.spent_between(start, end)


class InMemoryUsageRecorder:
    def __init__(self) -> None:
        self.records: list[UsageRecord] = []

    async def record(self, usage: UsageRecord) -> None:
        self.records.append(usage)

    async def spent_between(self, start: datetime, end: datetime) -> Decimal:
        return sum((r.cost for r in self.records if start <= r.timestamp < end), ZERO)

    @property
    def total_cost(self) -> Decimal:
        return sum((r.cost for r in self.records), ZERO)


@dataclass(frozen=True, slots=True)
class ForecastRecord:
    timestamp: datetime
    forecast: Forecast
    decision: str  # "trade", "skip"
    reason: str


class ForecastRecorder(Protocol):
    async def record(self, record: ForecastRecord) -> None: ...


class InMemoryForecastRecorder:
    def __init__(self) -> None:
        self.records: list[ForecastRecord] = []

    async def record(self, record: ForecastRecord) -> None:
        self.records.append(record)


class RecordingTap(Protocol):
    """Where what the pipeline saw and concluded is also kept (the recorder,
    `trader.recording`): synchronous, never blocking, never failing the caller."""

    def news(self, items: Iterable[NewsItem]) -> None: ...

    def forecast(self, record: ForecastRecord) -> None: ...


class TeeForecastRecorder:
    """Records with `inner`, and hands each record to the tap."""

    def __init__(self, inner: ForecastRecorder, tap: RecordingTap) -> None:
        self._inner = inner
        self._tap = tap

    async def record(self, record: ForecastRecord) -> None:
        await self._inner.record(record)
        self._tap.forecast(record)


class TeeNewsCache:
    """A news cache that also hands each newly fetched item to the tap."""

    def __init__(self, inner: NewsCache, tap: RecordingTap) -> None:
        self._inner = inner
        self._tap = tap

    async def load_items(self, since: datetime) -> Sequence[NewsItem]:
        return await self._inner.load_items(since)

    async def save_items(self, items: Iterable[NewsItem]) -> None:
        items = list(items)
        await self._inner.save_items(items)
        self._tap.news(items)

    async def load_validators(self) -> dict[str, FeedValidators]:
        return await self._inner.load_validators()

    async def save_validators(self, url: str, validators: FeedValidators) -> None:
        await self._inner.save_validators(url, validators)


class AnalysisMemory(Protocol):
    """The fingerprint of what each market looked like when it was last analysed."""

    async def last_analysis(self, market: str) -> tuple[str, datetime] | None:
        """The fingerprint and time of the market's last conclusive analysis."""
        ...

    async def remember(self, market: str, fingerprint: str, when: datetime) -> None: ...


class InMemoryAnalysisMemory:
    def __init__(self) -> None:
        self.fingerprints: dict[str, tuple[str, datetime]] = {}

    async def last_analysis(self, market: str) -> tuple[str, datetime] | None:
        return self.fingerprints.get(market)

    async def remember(self, market: str, fingerprint: str, when: datetime) -> None:
        self.fingerprints[market] = (fingerprint, when)


@dataclass(frozen=True, slots=True)
class FeedValidators:
    """What a feed said last time, for a conditional request."""

    etag: str | None = None
    last_modified: str | None = None


class NewsCache(Protocol):
    """Items and conditional-request validators kept across restarts."""

    async def load_items(self, since: datetime) -> Sequence[NewsItem]: ...

    async def save_items(self, items: Iterable[NewsItem]) -> None: ...

    async def load_validators(self) -> dict[str, FeedValidators]: ...

    async def save_validators(self, url: str, validators: FeedValidators) -> None: ...


class InMemoryNewsCache:
    def __init__(self) -> None:
        self.items: dict[str, NewsItem] = {}
        self.validators: dict[str, FeedValidators] = {}

    async def load_items(self, since: datetime) -> Sequence[NewsItem]:
        return [i for i in self.items.values() if i.published >= since]

    async def save_items(self, items: Iterable[NewsItem]) -> None:
        for item in items:
            self.items[item.item_id] = item

    async def load_validators(self) -> dict[str, FeedValidators]:
        return dict(self.validators)

    async def save_validators(self, url: str, validators: FeedValidators) -> None:
        self.validators[url] = validators

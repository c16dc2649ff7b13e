"""Cheap routing before any model is paid: which markets deserve a deep analysis this cycle.

Per market, in order:
1. price extreme: the YES price is outside [low, high]; little edge is left to find and the
   model's errors matter most there;
2. low relevance: no matched news item scores at least `min_relevance` (unless news is not
   required, in which case the price alone drives re-analysis);
3. nothing new: the fingerprint (the price bucket and the set of relevant news ids) equals the
   one remembered at the last conclusive analysis, and that analysis is younger than
   `reanalyse_after` (time to resolution changes a forecast even when nothing else does).

Every decision carries its reason and the fingerprint, which the pipeline remembers once the
analysis concludes (`Triage.remember`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_FLOOR, Decimal

from trader.signals.records import AnalysisMemory, InMemoryAnalysisMemory
from trader.signals.values import NewsMatch


@dataclass(frozen=True, slots=True)
class TriageConfig:
    min_relevance: float = 0.15
    low: Decimal = Decimal("0.05")  # skip when the YES price is below this ...
    high: Decimal = Decimal("0.95")  # ... or above this
    price_bucket: Decimal = Decimal("0.02")  # a price move within one bucket is not news
    require_news: bool = True
    reanalyse_after: timedelta | None = timedelta(hours=24)

    def __post_init__(self) -> None:
        if not Decimal(0) <= self.low < self.high <= Decimal(1):
            raise ValueError("need 0 <= low < high <= 1")
        if self.price_bucket <= 0:
            raise ValueError("price_bucket must be positive")


@dataclass(frozen=True, slots=True)
class TriageDecision:
    market: str
    analyse: bool
    reason: str
    fingerprint: str
    relevance: float  # the best match's score, 0 without news
    news: tuple[NewsMatch, ...]  # the relevant matches, those the analysis will see


def fingerprint(price_bucket: Decimal, news_ids: Sequence[str]) -> str:
    """A content hash of what the analysis would see: the price bucket and the news ids."""
    payload = f"{price_bucket.normalize():f}|" + ",".join(sorted(set(news_ids)))
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


class Triage:
    def __init__(
        self, config: TriageConfig | None = None, memory: AnalysisMemory | None = None
    ) -> None:
        self.config = config or TriageConfig()
        self.memory: AnalysisMemory = memory or InMemoryAnalysisMemory()

    def bucket(self, price: Decimal) -> Decimal:
        step = self.config.price_bucket
        return (price / step).to_integral_value(rounding=ROUND_FLOOR) * step

    async def decide(
        self,
        market: str,
        market_probability: Decimal,
        matches: Sequence[NewsMatch],
        *,
        now: datetime,
    ) -> TriageDecision:
        config = self.config
        relevant = tuple(m for m in matches if m.relevance >= config.min_relevance)
        best = max((m.relevance for m in matches), default=0.0)
        digest = fingerprint(self.bucket(market_probability), [m.item.item_id for m in relevant])

        def decision(analyse: bool, reason: str) -> TriageDecision:
            return TriageDecision(market, analyse, reason, digest, best, relevant)

        if not config.low <= market_probability <= config.high:
            return decision(
                False, f"price extreme: {market_probability} outside [{config.low}, {config.high}]"
            )
        if config.require_news and not relevant:
            return decision(
                False, f"low relevance: best news score {best:.2f} < {config.min_relevance}"
            )
        last = await self.memory.last_analysis(market)
        if last is not None and last[0] == digest:
            age = now - last[1]
            if config.reanalyse_after is None or age < config.reanalyse_after:
                return decision(False, "nothing new since the last analysis")
            return decision(True, f"unchanged, but the last analysis is {age} old")
        return decision(True, f"{len(relevant)} relevant news item(s), best score {best:.2f}")

    async def remember(self, decision: TriageDecision, when: datetime) -> None:
        await self.memory.remember(decision.market, decision.fingerprint, when)

"""Plain values the signal pipeline passes between its stages.

News items and their matches, one model sample (`Estimate`), the ensemble's `Forecast`, and
groups of order intents a strategy proposes. Probabilities and money are `Decimal`; relevance
scores are floats (they are rankings, not money). Nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from trader.domain import Market, OrderIntent, new_correlation_id


@dataclass(frozen=True, slots=True)
class NewsItem:
    """One deduplicated feed entry. `item_id` is a stable hash of its guid, link or title."""

    item_id: str
    title: str
    link: str
    summary: str
    published: datetime  # timezone-aware UTC; the fetch time when the feed gave none
    source: str  # the feed's name


@dataclass(frozen=True, slots=True)
class NewsMatch:
    item: NewsItem
    relevance: float  # cosine similarity in [0, 1]


@dataclass(frozen=True, slots=True)
class SourceRef:
    """A retrieved article or feed item the analysis saw, with when it was published."""

    title: str
    link: str
    published: datetime | None
    via: str = ""  # "rss", or the search provider that found it ("gdelt", "exa")


@dataclass(frozen=True, slots=True)
class RetrievedArticle:
    """An article the retrieval stage found, read and summarised for one market.

    `published` is timezone-aware UTC and never after the analysis's "now"; None only where
    undated items are allowed (never in a backtest). `summary` is extractive: sentences of
    the article itself, chosen within the token budget (empty when the page could not be read,
    then the title alone is shown)."""

    title: str
    url: str
    published: datetime | None
    provider: str  # "gdelt", "exa"
    summary: str
    query: str = ""  # the search query that found it


class Source(StrEnum):
    LLM = "llm"
    HEURISTIC = "heuristic"


class FailureKind(StrEnum):
    """Why one model sample produced no estimate."""

    BUDGET = "budget_exceeded"
    TIMEOUT = "timeout"
    RATE_LIMITED = "rate_limited"
    OVERLOADED = "overloaded"
    CONNECTION = "connection"
    API_ERROR = "api_error"
    INVALID_OUTPUT = "invalid_output"

    @property
    def is_api_failure(self) -> bool:
        """The service failed (as opposed to the budget, or a well-served but unusable answer)."""
        return self not in (FailureKind.BUDGET, FailureKind.INVALID_OUTPUT)


@dataclass(frozen=True, slots=True)
class Estimate:
    """One independent probability estimate for the YES outcome."""

    probability: Decimal
    confidence: Decimal
    key_factors: tuple[str, ...] = ()
    sources_used: tuple[str, ...] = ()
    source: Source = Source.LLM
    reasoning: str = ""  # outside view, inside view, the argument against


@dataclass(frozen=True, slots=True)
class SampleOutcome:
    """An estimate, or the reason there is none. Exactly one of the two is set."""

    estimate: Estimate | None
    failure: FailureKind | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class AnalysisRequest:
    """What an analyser sees about one market."""

    market: Market
    market_probability: Decimal  # the YES book's mid
    news: tuple[NewsMatch, ...]
    now: datetime
    # what the retrieval stage found (trader.signals.retrieval); None when it did not run
    retrieved: tuple[RetrievedArticle, ...] | None = None


@dataclass(frozen=True, slots=True)
class Forecast:
    """The ensemble's view of one market: the samples, their aggregate, the calibrated model
    blended with the market in log-odds (`model_probability`, the traded view), clamped."""

    market: str  # condition id
    model_probability: Decimal  # the blend with the market: what is traded
    market_probability: Decimal
    confidence: Decimal
    dispersion: Decimal  # interquartile range of the samples (full range below 4 samples)
    source: Source
    rationale: str
    sources: tuple[str, ...]
    samples: int
    aggregate: Decimal  # the samples' median or trimmed mean, before calibration and blending
    actionable: bool = True
    note: str = ""  # why it is not actionable, when it is not
    sample_probabilities: tuple[Decimal, ...] = ()  # each usable sample's probability
    calibrated: Decimal | None = None  # the aggregate after Platt calibration
    weight: Decimal | None = None  # the model's weight in the blend
    error: Decimal = Decimal(0)  # the model's measured error: an edge must exceed it
    retrieved: tuple[SourceRef, ...] = ()  # what the model was shown, with publication times


class UnwindAction(StrEnum):
    NONE = "none"
    SELL_FILLED_LEGS = "sell_filled_legs"  # at the best bid, fill-and-kill


@dataclass(frozen=True, slots=True)
class IntentGroup:
    """Intents that belong together. `all_or_none` groups carry an unwind instruction:
    if one leg fails while another fills, the executor sells what filled.
    """

    intents: tuple[OrderIntent, ...]
    strategy: str
    reason: str
    all_or_none: bool = False
    unwind: UnwindAction = UnwindAction.NONE
    group_id: str = field(default_factory=new_correlation_id)

"""What retrieval is configured to do (RETRIEVAL_*, GDELT_*, EXA_*), apart from the code that
does it: the signal runtime reads these settings at every start, and imports the providers and
the retriever (`assembly.build_retriever`) only when retrieval is on (issue 21)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from pydantic import SecretStr

if TYPE_CHECKING:
    from trader.config import Settings

GDELT_BASE_URL = "https://api.gdeltproject.org"
EXA_BASE_URL = "https://api.exa.ai"


@dataclass(frozen=True, slots=True)
class RetrievalConfig:
    max_queries: int = 3
    results_per_query: int = 5  # asked of each provider per query
    max_articles: int = 6  # read and shown per market
    token_budget: int = 3000  # for the articles as the prompt shows them (estimate_tokens)
    lookback: timedelta = timedelta(days=7)
    # a market's clean retrieval is given again for this long while its evidence is unchanged
    # (`reuse.ReusedRetrievals`, RETRIEVAL_REUSE_S); zero searches at every analysis
    reuse: timedelta = timedelta(hours=1)
    undated: bool = True  # use hits without a publication time (off in a backtest)
    fetch_timeout: float = 10.0
    max_page_bytes: int = 3_000_000
    fetch_concurrency: int = 4
    private_hosts: bool = False  # fetch links to loopback or private addresses (tests only)
    private_origins: tuple[str, ...] = ()  # `host:port`s fetched although private (tests only)

    def __post_init__(self) -> None:
        if self.max_queries < 1 or self.results_per_query < 1 or self.max_articles < 1:
            raise ValueError("retrieval needs at least one query, result and article")
        if self.token_budget < 50:
            raise ValueError("the retrieval token budget must be at least 50 tokens")
        if self.reuse < timedelta(0):
            raise ValueError("the retrieval reuse window cannot be negative")


@dataclass(frozen=True, slots=True)
class SearchSettings:
    providers: tuple[str, ...] = ()  # in order; empty: retrieval is off
    gdelt_base_url: str = GDELT_BASE_URL
    exa_api_key: SecretStr | None = None
    exa_base_url: str = EXA_BASE_URL
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)

    @property
    def enabled(self) -> bool:
        return bool(self.providers)


def search_settings(settings: Settings) -> SearchSettings:
    """Off unless `settings.retrieval_on`; then the providers that have their key."""
    if not settings.retrieval_on:
        return SearchSettings()
    return SearchSettings(
        providers=settings.search_providers(),
        gdelt_base_url=settings.gdelt_base_url,
        exa_api_key=settings.exa_api_key,
        exa_base_url=settings.exa_base_url,
        retrieval=RetrievalConfig(
            max_queries=settings.retrieval_max_queries,
            results_per_query=settings.retrieval_results_per_query,
            max_articles=settings.retrieval_max_articles,
            token_budget=settings.retrieval_token_budget,
            lookback=timedelta(days=settings.retrieval_lookback_days),
            reuse=timedelta(seconds=settings.retrieval_reuse_s),
        ),
    )

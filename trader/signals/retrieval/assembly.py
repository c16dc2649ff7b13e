"""The retriever as the signal runtime builds it from the settings (RETRIEVAL_*, GDELT_*,
EXA_*): the providers in the configured order, the cheap model's chain as the query writer."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

import httpx
from pydantic import SecretStr

from trader.clock import Clock
from trader.signals.retrieval.base import SearchProvider
from trader.signals.retrieval.exa import EXA_BASE_URL, ExaConfig, ExaProvider
from trader.signals.retrieval.gdelt import GDELT_BASE_URL, GdeltConfig, GdeltProvider
from trader.signals.retrieval.retriever import QueryWriter, RetrievalConfig, Retriever

if TYPE_CHECKING:
    from trader.config import Settings


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
        ),
    )


def build_retriever(
    settings: SearchSettings,
    *,
    http: httpx.AsyncClient,
    clock: Clock,
    writer: QueryWriter | None,
    gdelt: GdeltConfig | None = None,
) -> Retriever | None:
    """None when retrieval is off. `gdelt` overrides GDELT's pacing (tests)."""
    providers: list[SearchProvider] = []
    for name in settings.providers:
        if name == "gdelt":
            config = gdelt or GdeltConfig()
            config = GdeltConfig(
                settings.gdelt_base_url, config.timeout, config.min_interval, config.language
            )
            providers.append(GdeltProvider(http, clock, config))
        elif name == "exa" and settings.exa_api_key is not None:
            providers.append(
                ExaProvider(http, ExaConfig(settings.exa_api_key, settings.exa_base_url))
            )
    if not providers:
        return None
    return Retriever(providers, http, writer=writer, config=settings.retrieval)

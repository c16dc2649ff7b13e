"""The retriever as the signal runtime builds it from the settings (RETRIEVAL_*, GDELT_*,
EXA_*; `settings.SearchSettings`): the providers in the configured order, the cheap model's
chain as the query writer. Imported only when retrieval is on."""

from __future__ import annotations

import httpx

from trader.clock import Clock
from trader.signals.retrieval.base import SearchProvider
from trader.signals.retrieval.exa import ExaConfig, ExaProvider
from trader.signals.retrieval.gdelt import GdeltConfig, GdeltProvider
from trader.signals.retrieval.retriever import QueryWriter, Retriever
from trader.signals.retrieval.settings import SearchSettings


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

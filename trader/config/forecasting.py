"""The settings of the forecasts: the LLM providers, the news retrieval, the pooling and
calibration of the forecasts, and which markets the signals consider."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator

from trader.config.values import RETRIEVAL_PROVIDERS, UrlList, http_url, split_list


class ForecastSettings(BaseModel):
    """Part of `Settings`: llm, retrieval, forecast pooling, signals."""

    # llm
    anthropic_api_key: SecretStr | None = None
    anthropic_base_url: str | None = None
    llm_triage_model: str = "claude-haiku-4-5"
    llm_analysis_model: str = "claude-sonnet-4-6"
    llm_daily_budget_usd: Decimal = Field(default=Decimal(5), ge=0)
    llm_concurrency: int = Field(default=8, ge=1, le=256)
    llm_ensemble_samples: int = Field(default=3, ge=1, le=15)
    llm_timeout_s: float = Field(default=60.0, gt=0)
    llm_screen: bool = True  # the triage model decides which markets get the deep analysis
    llm_batch: bool = False  # non-urgent analyses through the Message Batches API (half price)
    # a market analysed again on the same evidence (its price moved) reuses its last samples
    # this long instead of paying for new ones; 0: never
    llm_forecast_reuse_s: int = Field(default=3600, ge=0, le=86_400)
    # a second, OpenAI-compatible provider (OpenAI, vLLM, llama.cpp...) through the openai SDK
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    openai_analysis_model: str = "gpt-4.1-mini"
    openai_triage_model: str = "gpt-4.1-nano"
    # providers tried in order per role; one failing 3 times in a row cools down 5 minutes
    llm_analysis_chain: str = "anthropic,openai"
    llm_screen_chain: str = "anthropic,openai"

    # retrieval: a news search per analysed market (README "How it trades"); unset = on when
    # an LLM key is set. Providers in order; exa is used only with EXA_API_KEY
    retrieval_enabled: bool | None = None
    retrieval_providers: str = "gdelt,exa"
    gdelt_base_url: str = "https://api.gdeltproject.org"
    exa_api_key: SecretStr | None = None
    exa_base_url: str = "https://api.exa.ai"
    retrieval_max_queries: int = Field(default=3, ge=1, le=8)
    retrieval_results_per_query: int = Field(default=5, ge=1, le=50)
    retrieval_max_articles: int = Field(default=6, ge=1, le=30)
    retrieval_token_budget: int = Field(default=3000, ge=100, le=50_000)
    retrieval_lookback_days: int = Field(default=7, ge=1, le=90)
    # a market analysed again with unchanged evidence reuses its last clean search this long
    # (seconds; 0: searches at every analysis); at most a day
    retrieval_reuse_s: int = Field(default=3600, ge=0, le=86_400)

    # forecast pooling and calibration (README "How it trades")
    forecast_model_weight: Decimal = Field(default=Decimal("0.15"), ge=0, le=1)
    forecast_heuristic_weight: Decimal = Field(default=Decimal("0.75"), ge=0, le=1)
    forecast_aggregate: Literal["median", "trimmed_mean"] = "median"
    forecast_min_resolved: int = Field(default=100, ge=10)
    forecast_default_error: Decimal = Field(default=Decimal("0.02"), ge=0, lt=1)

    # signals
    news_feeds: UrlList = ()
    min_volume_usd: Decimal = Field(default=Decimal(50_000), ge=0)
    min_liquidity_usd: Decimal = Field(default=Decimal(1_000), ge=0)
    max_markets_per_cycle: int = Field(default=50, ge=1)
    kelly_fraction: Decimal = Field(default=Decimal("0.25"), gt=0, le=1)

    @field_validator("llm_analysis_chain", "llm_screen_chain", mode="before")
    @classmethod
    def _chain(cls, value: object) -> str:
        parts = [part.lower() for part in split_list(value)]
        bad = [part for part in parts if part not in ("anthropic", "openai")]
        if bad:
            raise ValueError(f"not a provider (anthropic, openai): {', '.join(bad)}")
        return ",".join(parts)

    @field_validator("retrieval_providers", mode="before")
    @classmethod
    def _search_providers(cls, value: object) -> str:
        parts = [part.lower() for part in split_list(value)]
        bad = [part for part in parts if part not in RETRIEVAL_PROVIDERS]
        if bad:
            known = ", ".join(RETRIEVAL_PROVIDERS)
            raise ValueError(f"not a search provider ({known}): {', '.join(bad)}")
        if not parts:
            raise ValueError(f"name at least one of {', '.join(RETRIEVAL_PROVIDERS)}")
        return ",".join(dict.fromkeys(parts))

    @field_validator("news_feeds", mode="before")
    @classmethod
    def _feeds(cls, value: object) -> tuple[str, ...]:
        parts = split_list(value)
        bad = [part for part in parts if not part.startswith(("http://", "https://"))]
        if bad:
            raise ValueError(f"not an http(s) URL: {', '.join(bad)}")
        return tuple(parts)

    @field_validator("gdelt_base_url", "exa_base_url")
    @classmethod
    def _search_urls(cls, value: str | None) -> str | None:
        return http_url(value)

    def search_providers(self) -> tuple[str, ...]:
        """RETRIEVAL_PROVIDERS in order, those without their key (exa) left out."""
        names = self.retrieval_providers.split(",")
        return tuple(n for n in names if n != "exa" or self.exa_api_key is not None)

    @property
    def retrieval_on(self) -> bool:
        """RETRIEVAL_ENABLED, or when unset: on when an LLM key is set (the model writes the
        queries and reads the articles; without one, nothing would read them)."""
        if self.retrieval_enabled is not None:
            return self.retrieval_enabled
        return self.anthropic_api_key is not None or self.openai_api_key is not None

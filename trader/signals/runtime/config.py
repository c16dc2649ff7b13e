"""The signal runtime's configuration: `SignalRuntimeConfig`, read from the settings by
`signal_runtime_config` (the app, the backtest and the demo read it the same way)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, timedelta, tzinfo
from decimal import Decimal

from pydantic import SecretStr

from trader.config import Settings
from trader.domain import TradingMode
from trader.signals.exits import ExitConfig
from trader.signals.passive import MakerPolicy
from trader.signals.pooling import Aggregate, PoolingConfig
from trader.signals.retrieval.settings import SearchSettings, search_settings


@dataclass(frozen=True, slots=True)
class SignalRuntimeConfig:
    mode: TradingMode = TradingMode.PAPER
    zone: tzinfo = UTC  # the operator's: the LLM budget's day
    feeds: tuple[str, ...] = ()
    news_window: timedelta = timedelta(hours=48)
    anthropic_api_key: SecretStr | None = None
    anthropic_base_url: str | None = None
    analysis_model: str = "claude-sonnet-4-6"
    triage_model: str = "claude-haiku-4-5"
    llm_daily_budget: Decimal = Decimal(5)
    llm_concurrency: int = 8
    llm_timeout_s: float = 60.0
    ensemble_samples: int = 3
    min_volume: Decimal = Decimal(50_000)
    min_liquidity: Decimal = Decimal(1_000)
    max_markets: int = 50
    kelly_fraction: Decimal = Decimal("0.25")
    max_order_notional: Decimal = Decimal(50)
    min_edge: Decimal = Decimal("0.03")
    pooling: PoolingConfig = field(default_factory=PoolingConfig)
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    openai_analysis_model: str = "gpt-4.1-mini"
    openai_triage_model: str = "gpt-4.1-nano"
    analysis_chain: tuple[str, ...] = ("anthropic", "openai")
    screen_chain: tuple[str, ...] = ("anthropic", "openai")
    screen: bool = True  # the triage model screens markets before the deep analysis
    batch: bool = False  # non-urgent analyses through the Message Batches API
    forecast_reuse_s: int = 3600  # samples reused for the same evidence (0: never)
    search: SearchSettings = field(default_factory=SearchSettings)  # retrieval; off by default
    exits: ExitConfig = field(default_factory=ExitConfig)  # EXITS_ENABLED, EXIT_*
    maker: MakerPolicy | None = None  # entries rest post-only (MAKER_ENTRY); None: they take

    @property
    def uses_llm(self) -> bool:  # a key is what turns the LLM on
        return self.anthropic_api_key is not None or self.openai_api_key is not None


def signal_runtime_config(settings: Settings) -> SignalRuntimeConfig:
    return SignalRuntimeConfig(
        mode=settings.trading_mode,
        zone=settings.zone,
        feeds=settings.news_feeds,
        anthropic_api_key=settings.anthropic_api_key,
        anthropic_base_url=settings.anthropic_base_url,
        analysis_model=settings.llm_analysis_model,
        triage_model=settings.llm_triage_model,
        llm_daily_budget=settings.llm_daily_budget_usd,
        llm_concurrency=settings.llm_concurrency,
        llm_timeout_s=settings.llm_timeout_s,
        ensemble_samples=settings.llm_ensemble_samples,
        min_volume=settings.min_volume_usd,
        min_liquidity=settings.min_liquidity_usd,
        max_markets=settings.max_markets_per_cycle,
        kelly_fraction=settings.kelly_fraction,
        max_order_notional=settings.max_order_notional_usd,
        min_edge=settings.min_edge,
        pooling=PoolingConfig(
            aggregate=Aggregate(settings.forecast_aggregate),
            weight=settings.forecast_model_weight,
            heuristic_weight=settings.forecast_heuristic_weight,
            default_error=settings.forecast_default_error,
            min_resolved=settings.forecast_min_resolved,
        ),
        screen=settings.llm_screen,
        batch=settings.llm_batch,
        forecast_reuse_s=settings.llm_forecast_reuse_s,
        openai_api_key=settings.openai_api_key,
        openai_base_url=settings.openai_base_url,
        openai_analysis_model=settings.openai_analysis_model,
        openai_triage_model=settings.openai_triage_model,
        analysis_chain=tuple(settings.llm_analysis_chain.split(",")),
        screen_chain=tuple(settings.llm_screen_chain.split(",")),
        search=search_settings(settings),
        exits=ExitConfig(
            enabled=settings.exits_enabled,
            adverse_move=settings.exit_adverse_move,
            min_edge=settings.exit_min_edge,
            close_horizon=timedelta(seconds=settings.exit_close_horizon_s),
            stop_horizon=timedelta(seconds=settings.exit_stop_horizon_s),
            slippage=settings.exit_slippage,
            max_discount=settings.exit_max_discount,
            max_spread=settings.exit_max_spread,
        ),
        maker=maker_policy(settings),
    )


def maker_policy(settings: Settings) -> MakerPolicy | None:
    """The edge strategy's passive entries, with `MAKER_ENTRY` on; None: entries take."""
    if not settings.maker_entry:
        return None
    return MakerPolicy(
        improve_ticks=settings.maker_improve_ticks,
        urgent_edge=settings.maker_urgent_edge,
        ttl=timedelta(seconds=settings.maker_ttl_s),
    )

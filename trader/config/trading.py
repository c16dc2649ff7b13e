"""The settings of the trading: the schedule, backtests and the recorder, the risk defaults,
exits and maker entries, the strategies' first stages."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from pydantic import AwareDatetime, BaseModel, Field, field_validator

from trader.stages import StageError, parse_stage_setting


class TradingSettings(BaseModel):
    """Part of `Settings`: schedule, backtest and recorder, risk, exits, maker entries."""

    # schedule (seconds)
    market_refresh_s: int = Field(default=300, ge=1)
    signal_cycle_s: int = Field(default=1800, ge=1)
    # `trader backtest --fetch`: where the venue's history is cached (refreshed incrementally)
    backtest_history_cache: Path = Path("data/history/venue.json")
    # `/backtest`: the run's wall-clock limit; past it the child is stopped and reported failed
    backtest_timeout_s: float = Field(default=3600.0, gt=0, le=21_600)
    # `trader backtest --forecasts llm`: the analysis model's training cut-off (ISO, with a
    # zone); only markets opened after it get an LLM forecast. Unset: llm mode refuses to run
    llm_training_cutoff: AwareDatetime | None = None
    # the recorder (trader/recording/): what the app saw, as Parquet by day, for backtests.
    # Off by default: pyarrow costs tens of megabytes of memory once loaded
    recorder_enabled: bool = False
    recorder_dir: Path = Path("data/recordings")
    recorder_book_interval_s: float = Field(default=60.0, gt=0)  # an unchanged book, again
    recorder_book_depth: int = Field(default=10, ge=1, le=100)  # levels kept a side
    recorder_queue_max: int = Field(default=10_000, ge=10)  # entries waiting; more are dropped
    recorder_flush_s: float = Field(default=30.0, gt=0)
    recorder_retention_days: int = Field(default=90, ge=1)
    rebalance_s: int = Field(default=21_600, ge=1)
    health_check_s: int = Field(default=900, ge=1)
    reconcile_s: int = Field(default=60, ge=1)
    equity_snapshot_s: int = Field(default=300, ge=1)
    forecast_refit_s: int = Field(default=86_400, ge=60)
    redeem_s: int = Field(default=60, ge=1)  # redeem resolved markets, merge pairs, follow txs

    # risk defaults (persisted at first start; changed at run time from the chat)
    max_order_notional_usd: Decimal = Field(default=Decimal(50), gt=0)
    max_position_usd: Decimal = Field(default=Decimal(200), gt=0)
    max_exposure_usd: Decimal = Field(default=Decimal(1000), gt=0)
    max_event_exposure_usd: Decimal = Field(default=Decimal(300), gt=0)  # per neg-risk event
    max_open_orders: int = Field(default=20, ge=1)
    max_orders_per_minute: int = Field(default=10, ge=1)
    daily_loss_limit_usd: Decimal = Field(default=Decimal(100), gt=0)
    min_edge: Decimal = Field(default=Decimal("0.03"), ge=0, lt=1)
    stale_book_s: float = Field(default=30.0, gt=0)
    approval_timeout_s: int = Field(default=600, ge=10)
    # a kill's flatten cut short by a crash: finish it at the next start (else only report it)
    kill_resume_flatten: bool = True
    # a redemption or merge whose send left no tx id: failed (and asked again) if the holdings
    # have not changed this long after it; and whether YES+NO pairs are merged by themselves
    redeem_unsent_grace_s: int = Field(default=600, ge=1)
    auto_merge: bool = True
    # the stage each strategy starts at on a fresh database (trader/stages.py); then /promote
    strategy_stages: str = ""

    # exits (trader/signals/exits.py): each signal cycle re-evaluates the open positions and
    # sells (fill-and-kill, never below best bid x (1 - EXIT_SLIPPAGE)) when the blended
    # probability fell EXIT_ADVERSE_MOVE since entry, when holding beats selling by less than
    # EXIT_MIN_EDGE within EXIT_CLOSE_HORIZON_S of the market's end, or within
    # EXIT_STOP_HORIZON_S of it (the market stops taking orders)
    exits_enabled: bool = True
    exit_adverse_move: Decimal = Field(default=Decimal("0.10"), gt=0, lt=1)
    exit_min_edge: Decimal = Field(default=Decimal("0.01"), gt=-1, lt=1)
    exit_close_horizon_s: int = Field(default=86_400, ge=0, le=365 * 86_400)
    exit_stop_horizon_s: int = Field(default=1_800, ge=0, le=365 * 86_400)
    exit_slippage: Decimal = Field(default=Decimal("0.05"), ge=0, lt=1)
    exit_max_discount: Decimal = Field(default=Decimal("0.10"), ge=0, lt=1)
    exit_max_spread: Decimal = Field(default=Decimal("0.10"), gt=0, le=1)
    # maker orders (README "How it trades"): the edge strategy's entries rest post-only at or
    # inside the touch, repriced or cancelled every MAKER_REPRICE_S, lapsing after MAKER_TTL_S;
    # an entry whose edge at the ask is at least MAKER_URGENT_EDGE takes when it cannot rest
    maker_entry: bool = False
    maker_improve_ticks: int = Field(default=1, ge=0, le=20)
    maker_urgent_edge: Decimal = Field(default=Decimal("0.10"), gt=0, lt=1)
    maker_ttl_s: int = Field(default=900, ge=1)
    maker_reprice_s: float = Field(default=30.0, gt=0)

    @field_validator("strategy_stages")
    @classmethod
    def _stages(cls, value: str) -> str:
        try:
            parse_stage_setting(value)
        except StageError as error:
            raise ValueError(str(error)) from None
        return value.strip()

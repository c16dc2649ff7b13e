"""Settings: read once from the environment and `.env`, validated before anything starts.

`load_settings()` either returns a valid, frozen `Settings` or raises `ConfigError` whose
`problems` are one line per problem, each naming the setting. Secret values never appear in
those lines. Components receive the small frozen config they need (`settings.venue()`, ...),
never the whole `Settings`.
"""

from __future__ import annotations

import ipaddress
import re
import zoneinfo
from dataclasses import dataclass, field
from datetime import time
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from trader.domain import TradingMode
from trader.envfile import ENCODING as ENV_FILE_ENCODING
from trader.envfile import env_file_problems
from trader.stages import StageError, parse_stage_setting

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./data/polyops.db"
DATA_DIRECTORY = Path("data")  # the default database's directory, created on first use
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_PHONE = re.compile(r"^\d{6,15}$")
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
# POLYMARKET_SIGNATURE_TYPE: the wallet that holds the money and makes the orders
SIGNATURE_TYPES = {
    "0": "EOA",
    "1": "Polymarket proxy",
    "2": "Gnosis Safe",
    "3": "deposit wallet, the default",
}
_TELEGRAM_TOKEN = re.compile(r"\d+:[A-Za-z0-9_-]+")
# an instance's name: short, lower case, safe in buttons' callback data and in URLs
INSTANCE_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,23}$")
MIN_CONTROL_SECRET = 32
_ROLES = ("operator", "viewer")
RETRIEVAL_PROVIDERS = ("gdelt", "exa")

IdList = Annotated[tuple[int, ...], NoDecode]
PhoneList = Annotated[tuple[str, ...], NoDecode]
UrlList = Annotated[tuple[str, ...], NoDecode]


class ConfigError(Exception):
    """Start-up configuration is invalid; `problems` has one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def _split(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list | tuple):
        return [str(part).strip() for part in value if str(part).strip()]
    raise ValueError("expected a comma-separated list")


class Settings(BaseSettings):
    """Every setting Polyops reads. The names are the public interface (see .env.example)."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding=ENV_FILE_ENCODING,
        env_ignore_empty=True,  # `KEY=` in .env or the environment means "not set"
        extra="ignore",
        frozen=True,
        case_sensitive=False,
    )

    # storage and mode
    database_url: str = DEFAULT_DATABASE_URL
    trading_mode: TradingMode = TradingMode.PAPER

    # venue
    clob_host: str = "https://clob.polymarket.com"
    gamma_host: str = "https://gamma-api.polymarket.com"
    data_api_host: str = "https://data-api.polymarket.com"
    clob_ws_url: str = "wss://ws-subscriptions-clob.polymarket.com/ws"
    polymarket_private_key: SecretStr | None = None
    polymarket_funder: str | None = None
    # 3: a deposit wallet (POLY_1271), what production accepts for accounts created since CLOB
    # V2 and the SDK's default; 0 EOA, 1 Polymarket proxy, 2 Gnosis Safe are explicit choices
    polymarket_signature_type: int = 3
    # the relayer deploys the deposit wallet, sets its approvals and sends its redemptions
    polymarket_relayer_api_key: SecretStr | None = None
    polymarket_relayer_api_key_address: str | None = None
    relayer_host: str | None = None  # unset: production's, or CLOB_HOST when that is changed
    polygon_rpc_url: str | None = None  # unset: production's, or CLOB_HOST when that is changed
    venue_heartbeat_s: float = Field(default=5.0, gt=0)
    paper_bankroll_usd: Decimal = Field(default=Decimal(1000), gt=0)
    # replaces every market's own fee schedule (Gamma's feeSchedule) when set: an assumption
    # for sizing, risk and paper fills alike, in live mode too; unset = each market's own rate
    fee_rate_override_bps: Decimal | None = Field(default=None, ge=0, le=1000)

    # telegram
    telegram_bot_token: SecretStr | None = None
    telegram_api_base: str = "https://api.telegram.org"
    telegram_operator_ids: IdList = ()
    telegram_viewer_ids: IdList = ()

    # whatsapp
    whatsapp_token: SecretStr | None = None
    whatsapp_phone_number_id: str | None = None
    whatsapp_app_secret: SecretStr | None = None
    whatsapp_verify_token: SecretStr | None = None
    whatsapp_api_base: str = "https://graph.facebook.com/v21.0"
    whatsapp_operator_numbers: PhoneList = ()
    whatsapp_viewer_numbers: PhoneList = ()
    whatsapp_template_name: str = "polyops_alert"
    whatsapp_template_language: str = "en"

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

    # operator, chat, liveness
    operator_tz: str = "UTC"
    report_time: str = "07:00"
    # a chat command that changes something and is older than this is refused (bot/access.py)
    chat_command_max_age_s: int = Field(default=300, ge=30, le=86_400)
    heartbeat_interval_s: float = Field(default=10.0, gt=0)
    watchdog_timeout_s: float = Field(default=60.0, gt=0)
    watchdog_cancel_after_s: float = Field(default=300.0, gt=0)
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8081, ge=0, le=65535)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_json: bool = False

    # mission control: this trader's name, its Control API over HTTP, the hub's instances
    trader_name: str = "main"
    control_api_enabled: bool = False  # serve the Control API on the HTTP server
    control_api_secret: SecretStr | None = None  # the HMAC key the hub signs requests with
    control_api_max_skew_s: int = Field(default=30, ge=5, le=300)
    hub_instances: Annotated[tuple[tuple[str, str], ...], NoDecode] = ()  # name=url,...
    hub_secrets: SecretStr | None = None  # name=secret,... (each instance's own secret)
    hub_poll_s: float = Field(default=10.0, gt=0)  # how often the hub asks each instance
    # the web page: name=role=hash,... (role operator or viewer; hash from `trader web-password`)
    web_users: SecretStr | None = None
    web_session_minutes: int = Field(default=30, ge=1, le=1440)

    @field_validator("polymarket_signature_type", mode="before")
    @classmethod
    def _signature_type(cls, value: object) -> int:
        text = str(value).strip()
        if text not in SIGNATURE_TYPES:
            choices = ", ".join(f"{number} ({name})" for number, name in SIGNATURE_TYPES.items())
            raise ValueError(f"expected {choices}, got {text!r}")
        return int(text)

    @field_validator("polymarket_funder", "polymarket_relayer_api_key_address")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is not None and not _ADDRESS.fullmatch(value.strip()):
            raise ValueError("expected an address: 0x and 40 hex digits")
        return None if value is None else value.strip()

    @field_validator("log_level", mode="before")
    @classmethod
    def _level(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("telegram_operator_ids", "telegram_viewer_ids", mode="before")
    @classmethod
    def _ids(cls, value: object) -> tuple[int, ...]:
        parts = _split(value)
        bad = [part for part in parts if not re.fullmatch(r"-?\d+", part)]
        if bad:
            raise ValueError(f"not a numeric Telegram user id: {', '.join(bad)}")
        return tuple(int(part) for part in parts)

    @field_validator("whatsapp_operator_numbers", "whatsapp_viewer_numbers", mode="before")
    @classmethod
    def _phones(cls, value: object) -> tuple[str, ...]:
        parts = [part.lstrip("+").replace(" ", "") for part in _split(value)]
        bad = [part for part in parts if not _PHONE.fullmatch(part)]
        if bad:
            raise ValueError(f"not a phone number in international format: {', '.join(bad)}")
        return tuple(parts)

    @field_validator("llm_analysis_chain", "llm_screen_chain", mode="before")
    @classmethod
    def _chain(cls, value: object) -> str:
        parts = [part.lower() for part in _split(value)]
        bad = [part for part in parts if part not in ("anthropic", "openai")]
        if bad:
            raise ValueError(f"not a provider (anthropic, openai): {', '.join(bad)}")
        return ",".join(parts)

    @field_validator("retrieval_providers", mode="before")
    @classmethod
    def _search_providers(cls, value: object) -> str:
        parts = [part.lower() for part in _split(value)]
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
        parts = _split(value)
        bad = [part for part in parts if not part.startswith(("http://", "https://"))]
        if bad:
            raise ValueError(f"not an http(s) URL: {', '.join(bad)}")
        return tuple(parts)

    @field_validator("strategy_stages")
    @classmethod
    def _stages(cls, value: str) -> str:
        try:
            parse_stage_setting(value)
        except StageError as error:
            raise ValueError(str(error)) from None
        return value.strip()

    @field_validator("trader_name")
    @classmethod
    def _name(cls, value: str) -> str:
        return instance_name(value)

    @field_validator("hub_instances", mode="before")
    @classmethod
    def _instances(cls, value: object) -> tuple[tuple[str, str], ...]:
        pairs = _pairs(value, "an instance")
        for _name, url in pairs:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"not an http(s) URL: {url}")
        return tuple((name, url.rstrip("/")) for name, url in pairs)

    @field_validator("operator_tz")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {value!r}") from None
        return value

    @field_validator("report_time")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        if not _HHMM.fullmatch(value.strip()):
            raise ValueError(f"expected HH:MM (24-hour), got {value!r}")
        return value.strip()

    @field_validator("database_url")
    @classmethod
    def _database(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError(
                "expected sqlite+aiosqlite:///PATH or postgresql+asyncpg://USER@HOST/DB"
            )
        return value

    @field_validator(
        "clob_host",
        "gamma_host",
        "data_api_host",
        "telegram_api_base",
        "whatsapp_api_base",
        "gdelt_base_url",
        "exa_base_url",
        "relayer_host",
        "polygon_rpc_url",
    )
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("expected an http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("clob_ws_url")
    @classmethod
    def _ws_url(cls, value: str) -> str:
        if not value.startswith(("ws://", "wss://")):
            raise ValueError("expected a ws:// or wss:// URL")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        problems = _cross_field_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    # --- per-component frozen configs -------------------------------------------------

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.operator_tz)

    @property
    def report_at(self) -> time:
        hours, minutes = self.report_time.split(":")
        return time(int(hours), int(minutes))

    def venue(self) -> VenueConfig:
        return VenueConfig(
            mode=self.trading_mode,
            clob_host=self.clob_host,
            gamma_host=self.gamma_host,
            data_api_host=self.data_api_host,
            clob_ws_url=self.clob_ws_url,
            private_key=self.polymarket_private_key,
            funder=self.polymarket_funder,
            signature_type=self.polymarket_signature_type,
            relayer_api_key=self.polymarket_relayer_api_key,
            relayer_api_key_address=self.polymarket_relayer_api_key_address,
            relayer_host=self.relayer_host,
            polygon_rpc_url=self.polygon_rpc_url,
            heartbeat_s=self.venue_heartbeat_s,
            paper_bankroll=self.paper_bankroll_usd,
            fee_rate_override_bps=self.fee_rate_override_bps,
        )

    def telegram(self) -> TelegramConfig | None:
        if self.telegram_bot_token is None:
            return None
        return TelegramConfig(
            token=self.telegram_bot_token,
            api_base=self.telegram_api_base,
            operator_ids=frozenset(self.telegram_operator_ids),
            viewer_ids=frozenset(self.telegram_viewer_ids),
        )

    @property
    def whatsapp_on(self) -> bool:
        """WHATSAPP_TOKEN and WHATSAPP_PHONE_NUMBER_ID set (`bot.whatsapp.WhatsAppConfig` is
        built then): the app imports the WhatsApp transport only when this is true."""
        return self.whatsapp_token is not None and bool(self.whatsapp_phone_number_id)

    def http(self) -> HttpConfig:
        return HttpConfig(host=self.http_host, port=self.http_port)

    def web_user_map(self) -> dict[str, tuple[str, str]]:
        """WEB_USERS as name -> (role, password hash); ValueError naming what is wrong."""
        users: dict[str, tuple[str, str]] = {}
        raw = self.web_users.get_secret_value() if self.web_users else ""
        for part in _split(raw):
            name, role, hashed = (*part.split("=", 2), "", "")[:3]
            if not re.fullmatch(r"[A-Za-z0-9_.-]{1,40}", name) or role not in _ROLES or not hashed:
                raise ValueError("expected name=operator|viewer=hash entries separated by commas")
            if not hashed.startswith("pbkdf2_sha256$"):
                raise ValueError(f"the hash of {name} is not one `trader web-password` makes")
            if name in users:
                raise ValueError(f"{name} appears twice")
            users[name] = (role, hashed)
        return users

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

    def hub_secret_map(self) -> dict[str, SecretStr]:
        """HUB_SECRETS as name -> secret (validated with the settings)."""
        if self.hub_secrets is None:
            return {}
        pairs = _pairs(self.hub_secrets.get_secret_value(), "a secret")
        return {name: SecretStr(secret) for name, secret in pairs}


# Cross-field rules: (setting named in the message, predicate over settings, message).
def _cross_field_problems(settings: Settings) -> list[str]:
    problems: list[str] = []
    if settings.trading_mode is TradingMode.LIVE and settings.polymarket_private_key is None:
        problems.append("POLYMARKET_PRIVATE_KEY: required when TRADING_MODE=live")
    if settings.polymarket_private_key is not None:
        raw = settings.polymarket_private_key.get_secret_value().removeprefix("0x")
        if not re.fullmatch(r"[0-9a-fA-F]{64}", raw):
            problems.append("POLYMARKET_PRIVATE_KEY: expected 64 hex digits (value not shown)")
    problems += _wallet_problems(settings)
    if settings.telegram_bot_token is not None and not _TELEGRAM_TOKEN.fullmatch(
        settings.telegram_bot_token.get_secret_value()
    ):
        problems.append(
            "TELEGRAM_BOT_TOKEN: expected the form 123456789:AAE... from @BotFather "
            "(value not shown)"
        )
    whatsapp = (settings.whatsapp_token, settings.whatsapp_phone_number_id)
    if any(whatsapp) and not all(whatsapp):
        problems.append("WHATSAPP_PHONE_NUMBER_ID: WHATSAPP_TOKEN and it go together")
    if settings.whatsapp_token is not None and settings.whatsapp_app_secret is None:
        problems.append("WHATSAPP_APP_SECRET: required to verify webhook signatures")
    if settings.watchdog_timeout_s <= settings.heartbeat_interval_s:
        problems.append("WATCHDOG_TIMEOUT_S: must be longer than HEARTBEAT_INTERVAL_S")
    return (
        problems
        + _order_rule_problems(settings)
        + _retrieval_problems(settings)
        + _mission_control_problems(settings)
    )


MAKER_GTD_LEAD_S = 185  # trader.execution.maker: GTD_MIN_LEAD + GTD_MARGIN


def _order_rule_problems(settings: Settings) -> list[str]:
    """Exits and maker entries: settings that only make sense against each other."""
    problems: list[str] = []
    if settings.exit_stop_horizon_s > settings.exit_close_horizon_s:
        problems.append("EXIT_STOP_HORIZON_S: must not be longer than EXIT_CLOSE_HORIZON_S")
    if settings.maker_entry and settings.maker_ttl_s < settings.maker_reprice_s:
        problems.append(
            "MAKER_TTL_S: must be at least MAKER_REPRICE_S (a maker entry would lapse before "
            "its first reprice)"
        )
    elif settings.maker_entry and settings.maker_ttl_s <= MAKER_GTD_LEAD_S:
        problems.append(
            f"MAKER_TTL_S: must be more than {MAKER_GTD_LEAD_S} (the venue's 180 s GTD lead and "
            "5 s of margin: a maker order rests GTD, expiring with its entry, or not at all)"
        )
    return problems


def _retrieval_problems(settings: Settings) -> list[str]:
    if settings.retrieval_enabled and not settings.search_providers():
        return [
            "RETRIEVAL_PROVIDERS: no usable search provider with RETRIEVAL_ENABLED on "
            "(exa needs EXA_API_KEY)"
        ]
    return []


def _wallet_problems(settings: Settings) -> list[str]:
    problems: list[str] = []
    kind = settings.polymarket_signature_type
    if kind in (1, 2) and not settings.polymarket_funder:
        problems.append(
            "POLYMARKET_FUNDER: required when POLYMARKET_SIGNATURE_TYPE is 1 or 2 (the proxy or "
            "Safe address shown on polymarket.com)"
        )
    key, address = settings.polymarket_relayer_api_key, settings.polymarket_relayer_api_key_address
    if key is not None and address is None:
        problems.append(
            "POLYMARKET_RELAYER_API_KEY_ADDRESS: required with POLYMARKET_RELAYER_API_KEY (the "
            "address the key was issued to)"
        )
    if address is not None and key is None:
        problems.append(
            "POLYMARKET_RELAYER_API_KEY: required with POLYMARKET_RELAYER_API_KEY_ADDRESS"
        )
    if key is not None and kind == 0:
        problems.append(
            "POLYMARKET_RELAYER_API_KEY: not used with POLYMARKET_SIGNATURE_TYPE=0 (an EOA sends "
            "its own transactions): unset it, or trade through a deposit wallet (3)"
        )
    return problems


def _mission_control_problems(settings: Settings) -> list[str]:
    problems: list[str] = []
    if settings.control_api_enabled:
        secret = settings.control_api_secret
        if secret is None or len(secret.get_secret_value()) < MIN_CONTROL_SECRET:
            problems.append(
                f"CONTROL_API_SECRET: required when CONTROL_API_ENABLED is on, at least "
                f"{MIN_CONTROL_SECRET} characters (value not shown)"
            )
        if not _loopback(settings.http_host):
            problems.append(
                f"HTTP_HOST: the Control API is plain HTTP and may not be served on "
                f"{settings.http_host}: bind 127.0.0.1 (reach it through an SSH tunnel or a "
                "TLS-terminating proxy on the same machine)"
            )
    problems += _web_problems(settings)
    try:
        secrets = settings.hub_secret_map()
    except ValueError as error:
        return [*problems, f"HUB_SECRETS: {error} (values not shown)"]
    names = [name for name, _url in settings.hub_instances]
    missing = [name for name in names if name not in secrets]
    if missing:
        problems.append(f"HUB_SECRETS: no secret for {', '.join(missing)}")
    short = [n for n in names if n in secrets and len(secrets[n].get_secret_value()) < 32]
    if short:
        problems.append(f"HUB_SECRETS: shorter than 32 characters for {', '.join(short)}")
    return problems


def _web_problems(settings: Settings) -> list[str]:
    if settings.web_users is None:
        return []
    problems: list[str] = []
    try:
        settings.web_user_map()
    except ValueError as error:
        problems.append(f"WEB_USERS: {error} (values not shown)")
    if not _loopback(settings.http_host):
        problems.append(
            f"HTTP_HOST: the web page's logins are plain HTTP and may not be served on "
            f"{settings.http_host}: bind 127.0.0.1 (behind a TLS-terminating proxy on this machine)"
        )
    return problems


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def instance_name(value: str) -> str:
    """A valid instance name or ValueError (`all` addresses every instance in the hub)."""
    name = value.strip()
    if not INSTANCE_NAME.fullmatch(name) or name == "all":
        raise ValueError(
            f"expected a short lower-case name (a-z, 0-9, - and _, not 'all'), got {value!r}"
        )
    return name


def _pairs(value: object, what: str) -> list[tuple[str, str]]:
    """'alpha=x,beta=y' -> [('alpha', 'x'), ('beta', 'y')]: names valid and unique."""
    pairs: list[tuple[str, str]] = []
    for part in _split(value):
        name, sep, rest = part.partition("=")
        if not sep or not rest.strip():
            raise ValueError(f"expected name=value pairs separated by commas, for {what}")
        pairs.append((instance_name(name), rest.strip()))
    names = [name for name, _ in pairs]
    if len(set(names)) != len(names):
        raise ValueError("an instance name appears twice")
    return pairs


@dataclass(frozen=True, slots=True)
class VenueConfig:
    mode: TradingMode
    clob_host: str
    gamma_host: str
    data_api_host: str
    clob_ws_url: str
    private_key: SecretStr | None
    funder: str | None
    signature_type: int
    heartbeat_s: float
    paper_bankroll: Decimal
    fee_rate_override_bps: Decimal | None
    relayer_api_key: SecretStr | None = field(default=None, repr=False)
    relayer_api_key_address: str | None = None
    relayer_host: str | None = field(default=None, repr=False)  # may carry a provider key
    polygon_rpc_url: str | None = field(default=None, repr=False)  # Alchemy /v2/KEY, ...


@dataclass(frozen=True, slots=True)
class TelegramConfig:
    token: SecretStr
    api_base: str
    operator_ids: frozenset[int]
    viewer_ids: frozenset[int]


@dataclass(frozen=True, slots=True)
class HttpConfig:
    host: str
    port: int


def _problem_lines(error: ValidationError) -> list[str]:
    lines: list[str] = []
    for item in error.errors(include_input=False, include_url=False):
        message = str(item["msg"]).removeprefix("Value error, ")
        if item["loc"]:
            lines.append(f"{str(item['loc'][0]).upper()}: {message}")
        else:  # model-level: the cross-field messages already name their settings
            lines.extend(part.strip() for part in message.split("; "))
    return lines


def load_settings(env_file: str | None = ".env", **overrides: Any) -> Settings:
    """Read and validate the settings, or raise `ConfigError` with one line per problem.

    A `.env` that cannot be read or parsed is refused before any value is taken from it."""
    if env_file is not None:
        file_problems = env_file_problems(env_file)
        if file_problems:
            raise ConfigError(file_problems)
    try:
        settings = Settings(_env_file=env_file, **overrides)
    except ValidationError as error:
        problems = _problem_lines(error)
        bad = {str(item["loc"][0]) for item in error.errors() if item["loc"]}
    else:
        problem = database_directory_problem(settings.database_url)
        if problem is None:
            return settings
        raise ConfigError([problem])
    if bad:
        # Re-check with the broken fields at their defaults, so cross-field problems show too.
        defaults = {name: Settings.model_fields[name].get_default() for name in bad}
        try:
            Settings(_env_file=env_file, **{**overrides, **defaults})
        except ValidationError as again:
            named = {name.upper() for name in bad}  # each already has its line
            problems += [
                line
                for line in _problem_lines(again)
                if line not in problems and line.split(":", 1)[0] not in named
            ]
    raise ConfigError(problems)


def database_directory_problem(url: str) -> str | None:
    """A SQLite file must go into an existing directory: a typo in DATABASE_URL must not
    quietly create a second, empty database elsewhere. Only ./data is created on first use."""
    prefix = "sqlite+aiosqlite:///"
    if not url.startswith(prefix):
        return None
    database = url.removeprefix(prefix).split("?", 1)[0]
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    directory = Path(database).parent
    if directory.is_dir() or directory.resolve() == DATA_DIRECTORY.resolve():
        return None
    return (
        f"DATABASE_URL: the directory {directory} does not exist "
        "(create it first; only ./data is created on first use)"
    )

"""The settings of the storage, the trading mode and the venue: hosts, wallet, relayer, chain."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, Field, SecretStr, field_validator

from trader.config.components import VenueConfig
from trader.config.values import ADDRESS, DEFAULT_DATABASE_URL, SIGNATURE_TYPES, http_url
from trader.domain import TradingMode


class VenueSettings(BaseModel):
    """Part of `Settings`: storage and mode, the venue."""

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
        if value is not None and not ADDRESS.fullmatch(value.strip()):
            raise ValueError("expected an address: 0x and 40 hex digits")
        return None if value is None else value.strip()

    @field_validator("database_url")
    @classmethod
    def _database(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError(
                "expected sqlite+aiosqlite:///PATH or postgresql+asyncpg://USER@HOST/DB"
            )
        return value

    @field_validator("clob_host", "gamma_host", "data_api_host", "relayer_host", "polygon_rpc_url")
    @classmethod
    def _venue_urls(cls, value: str | None) -> str | None:
        return http_url(value)

    @field_validator("clob_ws_url")
    @classmethod
    def _ws_url(cls, value: str) -> str:
        if not value.startswith(("ws://", "wss://")):
            raise ValueError("expected a ws:// or wss:// URL")
        return value.rstrip("/")

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

"""The small frozen configs the components receive (`settings.venue()`, ...), never the whole
`Settings`."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from pydantic import SecretStr

from trader.domain import TradingMode


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

"""Point the official Polymarket SDK at other hosts (the local simulator, a staging proxy).

`polymarket-client` 0.14.0 takes its service URLs from an `Environment`, which it only builds
from a private frozen `_EnvironmentConfig`. This module is the one place that touches those
private names of the pinned SDK: it copies the production config and swaps the URLs.

Every other service the SDK could reach (relayer, JSON-RPC, RFQ, perps, live-data sockets)
is pointed at the given CLOB host or market socket too (the relayer and the JSON-RPC unless
given), so a client built from this environment can never leak a request to production. The
simulator serves the relayer (`/deployed`, `/submit`, transactions) and the JSON-RPC the SDK
uses for the deposit-wallet flow; the other services simply fail there, loudly.
"""

from __future__ import annotations

import dataclasses

from polymarket.environments import (
    PRODUCTION,
    Environment,
    _create_environment,
    _EnvironmentConfig,
)

ENVIRONMENT_NAME = "custom"
PRODUCTION_RELAYER_URL: str = PRODUCTION._config.relayer_url
PRODUCTION_RPC_URL: str = PRODUCTION._config.rpc_url


RELAYER_POLL_MS = 200


def build_environment(
    *,
    clob_url: str,
    gamma_url: str,
    data_url: str,
    market_ws_url: str,
    user_ws_url: str,
    relayer_url: str | None = None,
    rpc_url: str | None = None,
    name: str = ENVIRONMENT_NAME,
) -> Environment:
    """An SDK environment with production's chain ids and contracts and these service URLs
    (the relayer and the JSON-RPC default to the CLOB host, where the simulator serves them)."""
    production: _EnvironmentConfig = PRODUCTION._config
    clob = clob_url.rstrip("/")
    config = dataclasses.replace(
        production,
        clob_url=clob,
        gamma_url=gamma_url.rstrip("/"),
        data_url=data_url.rstrip("/"),
        clob_market_ws_url=market_ws_url,
        clob_user_ws_url=user_ws_url,
        relayer_url=(relayer_url or clob).rstrip("/"),
        rpc_url=(rpc_url or clob).rstrip("/"),
        rfq_url=clob,
        builder_gateway_url=clob,
        collateral_return_url=clob,
        perps_url=clob,
        rtds_ws_url=market_ws_url,
        sports_ws_url=market_ws_url,
        rfq_quoter_ws_url=market_ws_url,
        perps_ws_url=market_ws_url,
        realtime_ws_url=market_ws_url,
        # a local relayer answers in milliseconds: the SDK's own waits (a deposit wallet's
        # deployment, approvals) poll it this often instead of production's every two seconds
        relayer_poll_frequency_ms=RELAYER_POLL_MS,
    )
    return _create_environment(name=name, config=config)


def exchange_addresses(environment: Environment = PRODUCTION) -> dict[str, str]:
    """The contracts an order's EIP-712 domain names, keyed as the simulator expects them."""
    config: _EnvironmentConfig = environment._config
    return {
        "chain_id": str(config.chain_id),
        "exchange": config.standard_exchange,
        "neg_risk_exchange": config.neg_risk_exchange,
        "exchange_v3": config.exchange_v3,
        "neg_risk_adapter": config.neg_risk_adapter,
        "collateral_token": config.collateral_token,
        "conditional_tokens": config.conditional_tokens,
    }


__all__ = [
    "ENVIRONMENT_NAME",
    "PRODUCTION_RELAYER_URL",
    "PRODUCTION_RPC_URL",
    "build_environment",
    "exchange_addresses",
]

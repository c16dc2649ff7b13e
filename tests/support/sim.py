"""Helpers for tests that run the CLOB simulator on loopback and drive it with the real SDK."""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
from eth_account import Account
from eth_account.signers.local import LocalAccount
from polymarket import AsyncSecureClient
from polymarket._internal.actions.orders.typed_data import build_order_typed_data
from polymarket._internal.actions.orders.types import UnsignedOrder
from polymarket._internal.wallet import (
    derive_beacon_deposit_wallet_address,
    derive_proxy_wallet_address,
    derive_safe_wallet_address,
)
from polymarket.environments import PRODUCTION
from polymarket.models.clob.orders import SignedOrder
from polymarket.types import EvmAddress, HexString

from polysim.clob.app import SimServer, serve
from polysim.clob.auth import hmac_signature
from trader.venue.polymarket.sdk_env import build_environment

T = TypeVar("T")

# Two small markets: quick ticks, short heartbeat timeout, small pages.
TEST_SCENARIO: dict[str, Any] = {
    "seed": 11,
    "tick_interval_s": 0.05,
    "heartbeat_timeout_s": 10.0,
    "settlement_delay_s": 0.1,
    "chain_confirm_s": 0.1,
    "initial_collateral": "1000",
    "page_size": 4,
    "markets": [
        {
            "question": "Will the simulator pass its tests?",
            "slug": "sim-tests",
            "fair_price": "0.60",
            "volatility": 0.0,
            "depth": 3,
            "level_size": "50",
            "flow_rate": 0.0,
        },
        {
            "question": "Will the thin market trade?",
            "slug": "thin-market",
            "fair_price": "0.30",
            "volatility": 0.0,
            "tick_size": "0.001",
            "depth": 2,
            "level_size": "20",
            "flow_rate": 0.0,
            "fee_rate_bps": 200,
        },
    ],
}


async def eventually(
    predicate: Callable[[], Any], *, within: float = 5.0, interval: float = 0.02
) -> Any:
    """Poll until `predicate()` (sync or async) is truthy; return its value or fail."""
    deadline = time.monotonic() + within
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"condition not met within {within}s")
        await asyncio.sleep(interval)


async def next_matching(
    stream: AsyncIterator[T], predicate: Callable[[T], bool], *, within: float = 5.0
) -> T:
    """The first item of `stream` that satisfies `predicate`, within `within` seconds."""

    async def find() -> T:
        async for item in stream:
            if predicate(item):
                return item
        raise AssertionError("stream ended")

    return await asyncio.wait_for(find(), within)


def avoid_ca_bundle(monkeypatch: Any, directory: Path) -> None:
    """Every SDK client builds about ten httpx transports, each loading the CA bundle
    (~80 ms apiece). The simulator is plain HTTP on loopback, so point httpx at an empty
    CA directory instead; use with pytest's `monkeypatch`."""
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.setenv("SSL_CERT_DIR", str(directory))


def scenario(**changes: Any) -> dict[str, Any]:
    """The test scenario with top-level keys replaced."""
    return {**json.loads(json.dumps(TEST_SCENARIO)), **changes}


@asynccontextmanager
async def running_sim(
    source: Mapping[str, Any] | None = None, **overrides: Any
) -> AsyncIterator[SimServer]:
    sim = await serve("127.0.0.1", 0, dict(source or TEST_SCENARIO), **overrides)
    try:
        yield sim
    finally:
        await sim.close()


@asynccontextmanager
async def sdk_client(
    sim: SimServer, account: LocalAccount | None = None
) -> AsyncIterator[AsyncSecureClient]:
    """The official async secure client for a fresh (or given) EOA, against the simulator."""
    signer = account or Account.create()
    client = await AsyncSecureClient.create(
        private_key=signer.key.hex(),
        wallet=signer.address,
        environment=build_environment(**sim.sdk_urls),
    )
    try:
        yield client
    finally:
        await client.close()


async def user_channel_ready(sim: SimServer, count: int = 1) -> None:
    """The user channel has no acknowledgement: wait until the simulator has authenticated
    `count` user sockets, so events that follow are not raced past the subscription."""
    hub = sim.context.hub
    assert hub is not None
    await eventually(lambda: hub.authenticated_users() >= count)


def tokens(sim: SimServer, index: int = 0) -> tuple[str, str]:
    market = list(sim.exchange.markets.values())[index]
    return market.spec.token_ids


def condition_id(sim: SimServer, index: int = 0) -> str:
    return list(sim.exchange.markets.values())[index].condition_id


def deposit_wallet(signer: str) -> str:
    """The deposit wallet a new account's signer trades through, as the official SDK derives
    it (beacon factory, production's derivation config): the `funder` of other clients."""
    return derive_beacon_deposit_wallet_address(signer, PRODUCTION._config.wallet_derivation)


def legacy_wallet(signer: str, signature_type: int) -> str:
    """The wallet polymarket.com made for a legacy account's signer, as the SDK (and the
    exchange) derive it: its Polymarket proxy (signature type 1) or its Gnosis Safe (2)."""
    derive = {1: derive_proxy_wallet_address, 2: derive_safe_wallet_address}[signature_type]
    return derive(signer, PRODUCTION._config.wallet_derivation)


def resign_order(
    signed: SignedOrder,
    key: LocalAccount,
    *,
    maker: str,
    exchange: str = PRODUCTION._config.standard_exchange,
) -> SignedOrder:
    """The same order with another maker, signed by `key` over the SDK's own typed data (the
    standard exchange's domain): a valid signature for a maker the signer does not own."""
    unsigned = UnsignedOrder(
        chain_id=PRODUCTION._config.chain_id,
        builder=signed.builder,
        exchange_address=EvmAddress(exchange),
        expiration=signed.expiration,
        maker=EvmAddress(maker),
        maker_amount=signed.maker_amount,
        metadata=signed.metadata,
        order_type=signed.order_type,
        salt=signed.salt,
        side=signed.side,
        signature_type=signed.signature_type,
        signer=signed.signer,
        taker_amount=signed.taker_amount,
        timestamp=signed.timestamp,
        token_id=signed.token_id,
    )
    signature = key.sign_typed_data(full_message=build_order_typed_data(unsigned)).signature
    return dataclasses.replace(
        signed, maker=EvmAddress(maker), signature=HexString("0x" + bytes(signature).hex())
    )


def l2_headers(
    client: AsyncSecureClient, method: str, path: str, body: str = "", *, secret: str | None = None
) -> dict[str, str]:
    """L2 headers as the SDK computes them (optionally with a wrong secret)."""
    creds = client.credentials
    stamp = str(int(time.time()))
    message = f"{stamp}{method}{path}{body}"
    return {
        "POLY_ADDRESS": str(client.signer),
        "POLY_API_KEY": creds.key,
        "POLY_PASSPHRASE": creds.passphrase,
        "POLY_TIMESTAMP": stamp,
        "POLY_SIGNATURE": hmac_signature(secret or creds.secret, message),
        "Content-Type": "application/json",
    }


def order_payload(client: AsyncSecureClient, signed: Any, order_type: str = "GTC") -> str:
    """The `POST /order` body the SDK sends for a signed order, compact as it signs it."""
    payload = {
        "deferExec": False,
        "order": {
            "builder": signed.builder,
            "expiration": str(signed.expiration),
            "maker": signed.maker,
            "makerAmount": str(signed.maker_amount),
            "metadata": signed.metadata,
            "salt": signed.salt,
            "side": signed.side,
            "signature": signed.signature,
            "signatureType": signed.signature_type,
            "signer": signed.signer,
            "takerAmount": str(signed.taker_amount),
            "timestamp": str(signed.timestamp),
            "tokenId": signed.token_id,
        },
        "orderType": order_type,
        "owner": client.credentials.key,
    }
    return json.dumps(payload, separators=(",", ":"))


async def admin(sim: SimServer, method: str, path: str, body: Any = None) -> Any:
    async with httpx.AsyncClient(base_url=sim.url, timeout=5.0) as http:
        response = await http.request(method, f"/_admin/{path}", json=body)
        response.raise_for_status()
        return response.json()


async def deposit_wallet_account(sim: SimServer, key: str) -> dict[str, Any]:
    """The venue options of an account trading through its deployed deposit wallet: a relayer
    key minted for the signer (as polymarket.com's settings page does) and the wallet marked
    deployed (what `trader setup` does through the relayer)."""
    signer = Account.from_key(key).address
    minted = await admin(sim, "POST", "relayer-api-key", {"address": signer})
    await admin(sim, "POST", "deploy", {"address": deposit_wallet(signer)})
    return {
        "signature_type": 3,
        "relayer_api_key": minted["key"],
        "relayer_api_key_address": signer,
    }


async def wait_for(awaitable: Awaitable[T], within: float = 5.0) -> T:
    return await asyncio.wait_for(awaitable, within)


__all__ = [
    "TEST_SCENARIO",
    "admin",
    "avoid_ca_bundle",
    "condition_id",
    "deposit_wallet",
    "deposit_wallet_account",
    "eventually",
    "l2_headers",
    "legacy_wallet",
    "next_matching",
    "order_payload",
    "resign_order",
    "running_sim",
    "scenario",
    "sdk_client",
    "tokens",
    "user_channel_ready",
    "wait_for",
]

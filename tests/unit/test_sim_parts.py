"""Simulator pieces: signing, auth, heartbeats, fault rules, paging, scenario loading."""

from __future__ import annotations

import base64
import dataclasses
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from eth_abi.abi import encode as abi_encode
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils.crypto import keccak

from polysim.clob.auth import (
    ApiKeyStore,
    AuthError,
    HeartbeatRegistry,
    check_l1,
    check_l2,
    check_ws_auth,
    hmac_signature,
)
from polysim.clob.context import END_CURSOR, FIRST_CURSOR, page
from polysim.clob.faults import FaultError, FaultInjector
from polysim.clob.scenario import (
    COLLATERAL_ADDRESS,
    NEG_RISK_EXCHANGE,
    STANDARD_EXCHANGE,
    ScenarioError,
    load_scenario,
)
from polysim.clob.signing import (
    CLOB_AUTH_MESSAGE,
    Domain,
    is_v2_position_id,
    order_hash,
    order_typed_data,
    parse_signed_order,
    recover_order_signer,
)
from trader.domain import Side
from trader.venue.polymarket import sdk_env

NOW = datetime(2026, 6, 1, tzinfo=UTC)
TOKEN = "71321045679252212594626385532706912750332728571942532289631379312455583992563"


def signed_order(account: Any, domain: Domain, **changes: Any) -> dict[str, Any]:
    wire: dict[str, Any] = {
        "salt": 123456789,
        "maker": account.address,
        "signer": account.address,
        "tokenId": TOKEN,
        "makerAmount": "5000000",
        "takerAmount": "10000000",
        "side": "BUY",
        "signatureType": 0,
        "expiration": "0",
        "timestamp": "1713398400000",
        "metadata": "0x" + "00" * 32,
        "builder": "0x" + "00" * 32,
        "signature": "0x",
        **changes,
    }
    typed = order_typed_data(parse_signed_order({**wire, "signature": "0x00"}), domain)
    wire["signature"] = "0x" + account.sign_typed_data(full_message=typed).signature.hex()
    return wire


def test_order_hash_is_the_eip712_digest_of_the_order_struct() -> None:
    account = Account.create()
    domain = Domain(137, STANDARD_EXCHANGE)
    order = parse_signed_order(signed_order(account, domain))
    type_hash = keccak(
        text="Order(uint256 salt,address maker,address signer,uint256 tokenId,"
        "uint256 makerAmount,uint256 takerAmount,uint8 side,uint8 signatureType,"
        "uint256 timestamp,bytes32 metadata,bytes32 builder)"
    )
    struct = keccak(
        abi_encode(
            [
                "bytes32",
                "uint256",
                "address",
                "address",
                "uint256",
                "uint256",
                "uint256",
                "uint8",
                "uint8",
                "uint256",
                "bytes32",
                "bytes32",
            ],
            [
                type_hash,
                order.salt,
                order.maker,
                order.signer,
                int(order.token_id),
                order.maker_amount,
                order.taker_amount,
                0,
                0,
                order.timestamp,
                bytes(32),
                bytes(32),
            ],
        )
    )
    separator = encode_typed_data(full_message=order_typed_data(order, domain)).header

    assert order_hash(order, domain) == "0x" + keccak(b"\x19\x01" + separator + struct).hex()
    assert (order.price, order.size) == (Decimal("0.5"), Decimal(10))


def test_signature_recovers_only_under_the_domain_it_was_signed_for() -> None:
    account = Account.create()
    standard = Domain(137, STANDARD_EXCHANGE)
    order = parse_signed_order(signed_order(account, standard))

    assert recover_order_signer(order, standard) == account.address
    assert recover_order_signer(order, Domain(137, NEG_RISK_EXCHANGE)) != account.address


def test_sell_amounts_read_as_shares_for_collateral() -> None:
    account = Account.create()
    order = parse_signed_order(
        signed_order(
            account,
            Domain(137, STANDARD_EXCHANGE),
            side="SELL",
            makerAmount="10000000",
            takerAmount="6500000",
        )
    )

    assert (order.side, order.price, order.size, order.collateral) == (
        Side.SELL,
        Decimal("0.65"),
        Decimal(10),
        Decimal("6.5"),
    )


def test_small_token_ids_are_protocol_v2_positions() -> None:
    assert is_v2_position_id("1234")
    assert not is_v2_position_id(TOKEN)


def test_sim_contract_addresses_match_the_pinned_sdk() -> None:
    contracts = sdk_env.exchange_addresses()

    assert contracts["exchange"] == STANDARD_EXCHANGE
    assert contracts["neg_risk_exchange"] == NEG_RISK_EXCHANGE
    assert contracts["collateral_token"] == COLLATERAL_ADDRESS
    assert contracts["chain_id"] == "137"


def test_scenario_rewards_are_read_and_bad_ones_refused() -> None:
    now = datetime(2026, 6, 1, tzinfo=UTC)

    def rewards(value: Any) -> Any:
        market = {"question": "Rewarded?", "rewards": value}
        return load_scenario({"markets": [market]}, now=now).markets[0].rewards

    paid = rewards({"daily_rate": 30, "min_size": 200, "max_spread": 3.5})
    assert (paid.daily_rate, paid.min_size, paid.max_spread) == (30, 200, Decimal("3.5"))
    assert rewards({"daily_rate": 0, "min_size": 5}) is None  # no pool: not a sampling market
    for bad in ({"daily_rate": "lots"}, {"daily_rate": -1}, [30]):
        with pytest.raises(ScenarioError, match="rewards"):
            rewards(bad)


def test_build_environment_points_every_service_at_the_given_hosts() -> None:
    environment = sdk_env.build_environment(
        clob_url="http://127.0.0.1:1/",
        gamma_url="http://127.0.0.1:1/gamma",
        data_url="http://127.0.0.1:1/data-api",
        market_ws_url="ws://127.0.0.1:1/ws/market",
        user_ws_url="ws://127.0.0.1:1/ws/user",
    )
    config = environment._config
    urls = [getattr(config, f.name) for f in dataclasses.fields(config) if f.name.endswith("_url")]

    assert len(urls) > 10
    assert all(url.startswith(("http://127.0.0.1:1", "ws://127.0.0.1:1")) for url in urls)
    assert config.clob_url == "http://127.0.0.1:1"
    assert config.chain_id == 137


def _l1_headers(account: Any, stamp: int, nonce: int = 0) -> dict[str, str]:
    typed = {
        "domain": {"name": "ClobAuthDomain", "version": "1", "chainId": 137},
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
            ],
            "ClobAuth": [
                {"name": "address", "type": "address"},
                {"name": "timestamp", "type": "string"},
                {"name": "nonce", "type": "uint256"},
                {"name": "message", "type": "string"},
            ],
        },
        "primaryType": "ClobAuth",
        "message": {
            "address": account.address,
            "timestamp": str(stamp),
            "nonce": nonce,
            "message": CLOB_AUTH_MESSAGE,
        },
    }
    signature = "0x" + account.sign_typed_data(full_message=typed).signature.hex()
    return {
        "POLY_ADDRESS": account.address,
        "POLY_SIGNATURE": signature,
        "POLY_TIMESTAMP": str(stamp),
        "POLY_NONCE": str(nonce),
    }


def test_l1_accepts_a_fresh_clob_auth_signature_and_refuses_stale_or_foreign() -> None:
    account, other = Account.create(), Account.create()
    now = time.time()

    address, nonce = check_l1(
        _l1_headers(account, int(now), 2), chain_id=137, now=now, max_skew_s=300
    )
    forged = {**_l1_headers(other, int(now)), "POLY_ADDRESS": account.address}

    assert (address, nonce) == (account.address, 2)
    with pytest.raises(AuthError):
        check_l1(_l1_headers(account, int(now) - 900), chain_id=137, now=now, max_skew_s=300)
    with pytest.raises(AuthError):
        check_l1(forged, chain_id=137, now=now, max_skew_s=300)


def test_l2_checks_key_address_passphrase_and_hmac() -> None:
    store = ApiKeyStore()
    key = store.create("0xAbC", 0)
    assert key is not None
    now = time.time()
    stamp = str(int(now))
    body = '{"orderID":"0x1"}'
    headers = {
        "POLY_ADDRESS": "0xabc",
        "POLY_API_KEY": key.key,
        "POLY_PASSPHRASE": key.passphrase,
        "POLY_TIMESTAMP": stamp,
        "POLY_SIGNATURE": hmac_signature(key.secret, f"{stamp}DELETE/order{body}"),
    }

    def check(**changes: str) -> Any:
        return check_l2(
            store,
            method="DELETE",
            path="/order",
            body=body,
            headers={**headers, **changes},
            now=now,
            max_skew_s=300,
        )

    assert check() == key
    for bad in ({"POLY_PASSPHRASE": "x"}, {"POLY_ADDRESS": "0xdef"}, {"POLY_SIGNATURE": "x"}):
        with pytest.raises(AuthError):
            check(**bad)
    assert store.create("0xabc", 0) is None
    assert store.derive("0xABC", 0) == key
    assert (
        check_ws_auth(
            store, {"apiKey": key.key, "secret": key.secret, "passphrase": key.passphrase}
        )
        == key
    )
    assert check_ws_auth(store, {"apiKey": key.key, "secret": "no", "passphrase": "no"}) is None


def test_heartbeat_registry_chains_ids_and_expires() -> None:
    registry = HeartbeatRegistry(timeout_s=10)

    ok, first = registry.beat("k", "", now=0)
    refused, expected = registry.beat("k", "wrong", now=1)
    ok_again, _ = registry.beat("k", first, now=2)
    early = registry.expired(now=11)
    late = registry.expired(now=12.5)
    rearmed, _ = registry.beat("k", "anything", now=13)

    assert ok
    assert ok_again
    assert rearmed
    assert (refused, expected) == (False, first)
    assert (early, late) == ([], ["k"])


def test_fault_rules_match_method_and_path_and_are_used_up() -> None:
    faults = FaultInjector()
    faults.add({"kind": "rate_limit", "method": "post", "path": "/order*", "count": 2}, now=0)

    hits = [
        faults.take("rate_limit", m, p)
        for m, p in [("GET", "/order"), ("POST", "/orders"), ("POST", "/order"), ("POST", "/order")]
    ]

    assert [h is not None for h in hits] == [False, True, True, False]
    assert faults.rules() == []


def test_timed_modes_lapse_and_bad_rules_are_refused() -> None:
    faults = FaultInjector()
    faults.add({"kind": "post_only_mode", "seconds": 5}, now=100)

    assert faults.active("post_only_mode", now=104) is not None
    assert faults.active("post_only_mode", now=105) is None
    with pytest.raises(FaultError):
        faults.add({"kind": "gremlins"}, now=0)
    with pytest.raises(FaultError):
        faults.add({"kind": "latency", "count": 0}, now=0)


def test_pages_walk_with_base64_offsets_to_lte() -> None:
    items = list(range(10))

    first, cursor = page(items, FIRST_CURSOR, 4)
    second, cursor2 = page(items, cursor, 4)
    third, cursor3 = page(items, cursor2, 4)

    assert (first, second, third) == ([0, 1, 2, 3], [4, 5, 6, 7], [8, 9])
    assert base64.b64decode(cursor) == b"4"
    assert cursor3 == END_CURSOR
    assert page(items, END_CURSOR, 4) == ([], END_CURSOR)


def test_scenario_derives_ids_and_resolves_relative_times() -> None:
    loaded = load_scenario(
        {"seed": 5, "markets": [{"question": "Q?", "resolves_in_s": 300, "outcome": "No"}]},
        now=NOW,
    )
    market = loaded.markets[0]

    assert loaded.seed == 5
    assert market.condition_id.startswith("0x")
    assert len(market.condition_id) == 66
    assert all(len(t) > 70 for t in market.token_ids)
    assert market.resolves_at == NOW + timedelta(seconds=300)
    assert market.slug == "q"


@pytest.mark.parametrize(
    "bad",
    [
        {"markets": []},
        {"markets": [{"slug": "no-question"}]},
        {"markets": [{"question": "Q?", "tick_size": "0.02"}]},
        {"markets": [{"question": "Q?", "outcome": "Maybe"}]},
        {"markets": [{"question": "Q?"}, {"question": "Q?"}]},
    ],
)
def test_bad_scenarios_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ScenarioError):
        load_scenario(bad, now=NOW)


def test_the_demo_scenario_loads_with_one_market_resolving_soon() -> None:
    from polysim.clob.app import DEFAULT_SCENARIO

    loaded = load_scenario(DEFAULT_SCENARIO, now=NOW)
    soon = [m for m in loaded.markets if m.resolves_at is not None]

    assert len(loaded.markets) == 6
    assert [m.resolves_at for m in soon] == [NOW + timedelta(seconds=300)]

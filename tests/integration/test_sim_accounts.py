"""Production's account rules in the simulator, through the real SDK: a new account's EOA
orders are refused with production's words, legacy EOA accounts still trade, deposit wallets
do once deployed, and a V1-signed order is answered `order_version_mismatch`. The V1 order is
crafted with eth-account's EIP-712 primitives from V1's typed data (`tests/support/v1_order.py`)
and posted with L2 headers: through raw httpx, and through the SDK's own signed transport.
The adapter words both refusals for the operator, with the fix."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest
from eth_account import Account
from polymarket import AsyncSecureClient
from polymarket.errors import RequestRejectedError

from polysim.clob.scenario import ScenarioError, load_scenario
from tests.support.sim import l2_headers, running_sim, scenario, sdk_client, tokens
from tests.support.v1_order import v1_order_body, v1_signed_buy
from trader.clock import SystemClock
from trader.venue.base import OrderRejected
from trader.venue.polymarket.errors import map_submit_error
from trader.venue.polymarket.sdk_env import build_environment

pytestmark = pytest.mark.usefixtures("plain_http_only")

MAKER_NOT_ALLOWED = "maker address not allowed, please use the deposit wallet flow"


async def test_a_new_accounts_eoa_order_is_refused_with_productions_error() -> None:
    newcomer = Account.create()
    async with (
        running_sim(scenario(new_accounts=[newcomer.address.lower()])) as sim,
        sdk_client(sim, newcomer) as client,
    ):
        yes, _ = tokens(sim)
        with pytest.raises(RequestRejectedError) as refused:
            await client.place_limit_order(token_id=yes, price="0.50", size="5", side="BUY")
        open_orders = (await client.list_open_orders().first_page()).items

    assert refused.value.status == 400
    assert MAKER_NOT_ALLOWED in str(refused.value)
    assert open_orders == ()


async def test_a_legacy_eoa_account_still_trades_beside_new_ones() -> None:
    legacy = Account.create()
    async with (
        running_sim(scenario(new_accounts=[Account.create().address])) as sim,
        sdk_client(sim, legacy) as client,
    ):
        yes, _ = tokens(sim)
        placed = await client.place_limit_order(token_id=yes, price="0.50", size="5", side="BUY")

    assert placed.ok


async def test_a_new_account_trades_through_its_deposit_wallet() -> None:
    newcomer = Account.create()
    async with running_sim(scenario(new_accounts="all")) as sim:
        async with sdk_client(sim, newcomer) as eoa:
            builder_key = await eoa.create_builder_api_key()  # the SDK deploys the wallet
        client = await AsyncSecureClient.create(
            private_key=newcomer.key.hex(),
            environment=build_environment(**sim.sdk_urls),
            api_key=builder_key,
        )
        try:
            yes, _ = tokens(sim)
            placed = await client.place_limit_order(
                token_id=yes, price="0.50", size="5", side="BUY"
            )
        finally:
            await client.close()

    assert client.wallet_type == "DEPOSIT_WALLET"
    assert placed.ok


async def test_an_order_from_an_undeployed_deposit_wallet_fails_its_signature_check() -> None:
    signer = Account.create()
    async with running_sim() as sim:
        environment = build_environment(**sim.sdk_urls)
        # the SDK's client without its wallet step (which would deploy the wallet)
        client = await AsyncSecureClient._create(
            private_key=signer.key.hex(), environment=environment
        )
        try:
            yes, _ = tokens(sim)
            with pytest.raises(RequestRejectedError) as refused:
                await client.place_limit_order(token_id=yes, price="0.50", size="5", side="BUY")
        finally:
            await client.close()

    assert client.wallet_type == "DEPOSIT_WALLET"
    assert f"the deposit wallet {client.wallet} is not deployed" in str(refused.value)


async def test_a_v1_signed_order_gets_order_version_mismatch() -> None:
    account = Account.create()
    async with running_sim() as sim, sdk_client(sim, account) as client:
        yes, _ = tokens(sim)
        order = v1_signed_buy(account.key.hex(), yes, price=Decimal("0.5"), size=Decimal(5))
        body = v1_order_body(order, client.credentials.key)
        async with httpx.AsyncClient(base_url=sim.url) as http:
            single = await http.post(
                "/order", content=body, headers=l2_headers(client, "POST", "/order", body)
            )
            batch_body = f"[{body}]"
            batch = await http.post(
                "/orders",
                content=batch_body,
                headers=l2_headers(client, "POST", "/orders", batch_body),
            )
        open_orders = (await client.list_open_orders().first_page()).items

    assert (single.status_code, single.json()) == (400, {"error": "order_version_mismatch"})
    assert (batch.status_code, batch.json()) == (400, {"error": "order_version_mismatch"})
    assert open_orders == ()


def test_new_accounts_must_be_all_or_a_list_of_addresses() -> None:
    now = SystemClock().now()
    with pytest.raises(ScenarioError, match="new_accounts"):
        load_scenario(scenario(new_accounts=["not-an-address"]), now=now)
    listed = load_scenario(scenario(new_accounts=["0x" + "AB" * 20]), now=now).new_accounts
    assert "0x" + "ab" * 20 in listed
    assert "0x" + "cd" * 20 not in listed
    assert "0x" + "cd" * 20 in load_scenario(scenario(new_accounts="all"), now=now).new_accounts


async def test_the_trader_words_both_account_refusals_with_their_fix() -> None:
    """The venue's answers, read by the SDK's own transport (as a submit would read them),
    mapped by the adapter to the operator's words."""
    newcomer = Account.create()
    async with (
        running_sim(scenario(new_accounts=[newcomer.address])) as sim,
        sdk_client(sim, newcomer) as client,
    ):
        yes, _ = tokens(sim)
        with pytest.raises(RequestRejectedError) as eoa:
            await client.place_limit_order(token_id=yes, price="0.50", size="5", side="BUY")
        order = v1_signed_buy(newcomer.key.hex(), yes, price=Decimal("0.5"), size=Decimal(5))
        body = {"order": order, "owner": client.credentials.key, "orderType": "GTC"}
        with pytest.raises(RequestRejectedError) as v1:
            await client._ctx.secure_clob.post_json("/order", json=body)

    maker = map_submit_error(eoa.value, order_id="0x01")
    version = map_submit_error(v1.value, order_id="0x02")
    assert isinstance(maker, OrderRejected)
    assert isinstance(version, OrderRejected)
    assert maker.code == "maker_not_allowed"
    assert "POLYMARKET_SIGNATURE_TYPE=3" in str(maker)
    assert "run `trader setup`" in str(maker)
    assert version.code == "order_version_mismatch"
    assert "V1" in str(version)
    assert "pip install -e ." in str(version)

"""The simulator's relayer and JSON-RPC, driven by the official SDK: a new account's deposit
wallet is not deployed until the relayer deploys it, relayed transactions are tracked until they
confirm (after the scenario's `chain_confirm_s`), and approvals land on the simulated chain."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from eth_account import Account
from polymarket import AsyncSecureClient, BuilderApiKey
from polymarket._internal.actions.relayer.auth import build_builder_key_headers
from polymarket._internal.actions.relayer.calls import erc20_approval_call
from polymarket._internal.actions.relayer.gasless import build_deposit_wallet_payload
from polymarket._internal.actions.relayer.signing.deposit_wallet import (
    sign_deposit_wallet_batch,
)
from polymarket.errors import UserInputError

from polysim.clob.chain import DEPOSIT_WALLET_FACTORY
from polysim.clob.relayer import SIM_RELAYER
from polysim.clob.scenario import COLLATERAL_ADDRESS, STANDARD_EXCHANGE
from tests.support.sim import deposit_wallet, running_sim, scenario, sdk_client
from trader.venue.polymarket.sdk_env import build_environment

pytestmark = pytest.mark.usefixtures("no_ca_bundle")


@pytest.fixture
def no_ca_bundle(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    from tests.support.sim import avoid_ca_bundle

    avoid_ca_bundle(monkeypatch, tmp_path)


async def _deployed(sim, address: str) -> bool:
    async with httpx.AsyncClient(base_url=sim.url) as http:
        answer = await http.get("/deployed", params={"address": address, "type": "WALLET"})
        answer.raise_for_status()
        return bool(answer.json()["deployed"])


async def _builder_key(sim, signer) -> BuilderApiKey:
    async with sdk_client(sim, signer) as eoa:
        return await eoa.create_builder_api_key()


async def test_deposit_wallet_is_not_deployed_until_the_relayer_deploys_it() -> None:
    signer = Account.create()
    async with running_sim(scenario(chain_confirm_s=0)) as sim:
        wallet = deposit_wallet(signer.address)
        assert await _deployed(sim, wallet) is False
        key = await _builder_key(sim, signer)

        client = await AsyncSecureClient.create(
            private_key=signer.key.hex(),
            environment=build_environment(**sim.sdk_urls),
            api_key=key,
        )
        try:
            assert client.wallet_type == "DEPOSIT_WALLET"
            assert str(client.wallet).lower() == wallet.lower()
        finally:
            await client.close()

        assert await _deployed(sim, wallet) is True
        relayer = sim.runner.app[SIM_RELAYER]
        kinds = [tx.kind for tx in relayer.transactions.values()]
        assert kinds == ["WALLET-CREATE"]


async def test_an_undeployed_deposit_wallet_without_a_relayer_key_is_refused() -> None:
    signer = Account.create()
    async with running_sim(scenario(chain_confirm_s=0)) as sim:
        with pytest.raises(UserInputError, match="API Key"):
            await AsyncSecureClient.create(
                private_key=signer.key.hex(), environment=build_environment(**sim.sdk_urls)
            )
        assert await _deployed(sim, deposit_wallet(signer.address)) is False


async def test_a_relayed_transaction_stays_new_until_the_confirmation_delay_passed() -> None:
    signer = Account.create()
    wallet = deposit_wallet(signer.address)
    async with running_sim(scenario(chain_confirm_s=30, deployed_wallets=[wallet])) as sim:
        key = await _builder_key(sim, signer)
        client = await AsyncSecureClient.create(
            private_key=signer.key.hex(), environment=build_environment(**sim.sdk_urls), api_key=key
        )
        try:
            handle = await client.approve_erc20(
                token_address=COLLATERAL_ADDRESS,
                spender_address=STANDARD_EXCHANGE,
                amount=5_000_000,
            )
            relayer = sim.runner.app[SIM_RELAYER]
            tx = relayer.transactions[handle.transaction_id]
            assert tx.state == "STATE_NEW"
            tx.due = 0.0  # the confirmation delay has passed
            outcome = await handle.wait()
            assert outcome.transaction_hash == tx.transaction_hash
            assert tx.state == "STATE_CONFIRMED"
            chain = relayer.chain
            spender = "0xe111180000d2663c0091e4f400237545b87b996b"
            assert chain.allowances[(wallet.lower(), spender)] == 5_000_000
        finally:
            await client.close()


async def test_trading_approvals_are_set_through_the_relayer_and_read_back_over_rpc() -> None:
    signer = Account.create()
    async with running_sim(scenario(chain_confirm_s=0)) as sim:
        key = await _builder_key(sim, signer)
        client = await AsyncSecureClient.create(
            private_key=signer.key.hex(), environment=build_environment(**sim.sdk_urls), api_key=key
        )
        try:
            await client.setup_trading_approvals()
            relayer = sim.runner.app[SIM_RELAYER]
            batches = [tx for tx in relayer.transactions.values() if tx.kind == "WALLET"]
            assert len(batches) == 1
            assert len(batches[0].calls) == 17
            assert batches[0].state == "STATE_CONFIRMED"

            await client.setup_trading_approvals()  # everything approved: nothing is sent
            assert len([tx for tx in relayer.transactions.values() if tx.kind == "WALLET"]) == 1
        finally:
            await client.close()


async def test_the_batch_nonce_advances_and_an_unauthenticated_submit_is_refused() -> None:
    signer = Account.create()
    wallet = deposit_wallet(signer.address)
    async with running_sim(scenario(chain_confirm_s=0, deployed_wallets=[wallet])) as sim:
        relayer = sim.runner.app[SIM_RELAYER]
        relayer.nonces[signer.address.lower()] = 3
        key = await _builder_key(sim, signer)
        client = await AsyncSecureClient.create(
            private_key=signer.key.hex(), environment=build_environment(**sim.sdk_urls), api_key=key
        )
        try:
            handle = await client.approve_erc20(
                token_address=COLLATERAL_ADDRESS, spender_address=STANDARD_EXCHANGE, amount="max"
            )
            await handle.wait()
            assert relayer.nonce(signer.address) == 4
        finally:
            await client.close()
        async with httpx.AsyncClient(base_url=sim.url) as http:
            refused = await http.post("/submit", json={"type": "WALLET", "from": signer.address})
        assert refused.status_code == 401


def _batch(owner, signer, wallet: str, nonce: str, deadline: str) -> dict:
    calls = [
        erc20_approval_call(token_address=COLLATERAL_ADDRESS, spender=STANDARD_EXCHANGE, amount=1)
    ]
    signature = sign_deposit_wallet_batch(
        signer, wallet=wallet, calls=calls, nonce=nonce, deadline=deadline, chain_id=137
    )
    return build_deposit_wallet_payload(
        signer_address=owner.address,
        deposit_wallet_factory=DEPOSIT_WALLET_FACTORY,
        wallet=wallet,
        calls=calls,
        nonce=nonce,
        deadline=deadline,
        signature=signature,
        metadata="test",
    )


@pytest.mark.parametrize(
    ("who", "nonce", "ahead", "refusal"),
    [
        ("intruder", "0", 600, "not signed by its owner"),
        ("owner", "2", 600, "batch nonce 2 does not match on-chain nonce 0"),
        ("owner", "0", -10, "deadline expired"),
    ],
)
async def test_a_forged_stale_or_expired_batch_is_refused_and_runs_nothing(
    who: str, nonce: str, ahead: int, refusal: str
) -> None:
    owner, intruder = Account.create(), Account.create()
    wallet = deposit_wallet(owner.address)
    async with running_sim(scenario(chain_confirm_s=0, deployed_wallets=[wallet])) as sim:
        key = await _builder_key(sim, owner)
        deadline = str(int(time.time()) + ahead)
        payload = _batch(owner, intruder if who == "intruder" else owner, wallet, nonce, deadline)
        body = json.dumps(payload, separators=(",", ":"))
        headers = build_builder_key_headers(creds=key, method="POST", path="/submit", body=body)
        async with httpx.AsyncClient(base_url=sim.url) as http:
            answer = await http.post(
                "/submit", content=body, headers={**headers, "Content-Type": "application/json"}
            )

        assert answer.status_code == 400
        assert refusal in answer.json()["error"]
        assert sim.runner.app[SIM_RELAYER].transactions == {}

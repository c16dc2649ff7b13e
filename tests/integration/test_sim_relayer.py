"""The simulator's relayer and JSON-RPC, driven by the official SDK: a new account's deposit
wallet is not deployed until the relayer deploys it, relayed transactions are tracked until they
confirm (after the scenario's `chain_confirm_s`), and approvals land on the simulated chain."""

from __future__ import annotations

import httpx
import pytest
from eth_account import Account
from polymarket import AsyncSecureClient, BuilderApiKey
from polymarket.errors import UserInputError

from polysim.clob.relayer import SIM_RELAYER
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
                token_address="0xC011a7E12a19f7B1f670d46F03B03f3342E82DFB",
                spender_address="0xE111180000d2663C0091e4f400237545B87B996B",
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


async def test_a_batch_with_a_stale_nonce_is_refused_with_the_on_chain_nonce() -> None:
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
                token_address="0xC011a7E12a19f7B1f670d46F03B03f3342E82DFB",
                spender_address="0xE111180000d2663C0091e4f400237545B87B996B",
                amount="max",
            )
            await handle.wait()
            assert relayer.nonce(signer.address) == 4
        finally:
            await client.close()
        async with httpx.AsyncClient(base_url=sim.url) as http:
            refused = await http.post("/submit", json={"type": "WALLET", "from": signer.address})
        assert refused.status_code == 401

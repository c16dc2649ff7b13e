"""Redeem, merge and split through the official SDK against the simulator: the calls go through
the relayer for a deposit wallet, run on the simulated chain and move the ledger's pUSD and
shares; resolved markets pay by their payouts, 50/50 included."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import pytest
from eth_abi.abi import encode as abi_encode
from eth_account import Account
from polymarket import AsyncSecureClient
from polymarket.errors import TransactionFailedError, UserInputError

from polysim.clob.app import SimServer
from polysim.clob.chain import (
    COLLATERAL_ADAPTER,
    CONDITIONAL_TOKENS,
    REDEEM_POSITIONS,
    selector,
)
from polysim.clob.relayer import SIM_RELAYER
from polysim.clob.scenario import COLLATERAL_ADDRESS as COLLATERAL
from tests.support.sim import (
    admin,
    avoid_ca_bundle,
    condition_id,
    deposit_wallet,
    running_sim,
    scenario,
    sdk_client,
    tokens,
)
from trader.venue.polymarket.sdk_env import build_environment


@pytest.fixture
async def sim(monkeypatch: pytest.MonkeyPatch, tmp_path) -> AsyncIterator[SimServer]:
    avoid_ca_bundle(monkeypatch, tmp_path)
    async with running_sim(scenario(chain_confirm_s=0)) as server:
        yield server


@pytest.fixture
async def client(sim: SimServer) -> AsyncIterator[AsyncSecureClient]:
    signer = Account.create()
    async with sdk_client(sim, signer) as eoa:
        key = await eoa.create_builder_api_key()
    secure = await AsyncSecureClient.create(
        private_key=signer.key.hex(), environment=build_environment(**sim.sdk_urls), api_key=key
    )
    try:
        yield secure
    finally:
        await secure.close()


def _cash(sim: SimServer, client: AsyncSecureClient) -> Decimal:
    return sim.exchange.ledger.account(str(client.wallet)).collateral


def _shares(sim: SimServer, client: AsyncSecureClient, token: str) -> Decimal:
    return sim.exchange.ledger.account(str(client.wallet)).tokens(token)


async def _buy(client: AsyncSecureClient, token: str, size: str = "10") -> None:
    placed = await client.place_limit_order(token_id=token, price="0.90", size=size, side="BUY")
    assert placed.ok


async def test_redeeming_yes_after_a_yes_resolution_pays_a_dollar_a_share(
    sim: SimServer, client: AsyncSecureClient
) -> None:
    yes, _ = tokens(sim)
    await _buy(client, yes)
    await admin(
        sim,
        "POST",
        "resolve",
        {"condition_id": condition_id(sim), "outcome": "Yes", "redeem": False},
    )
    before = _cash(sim, client)

    handle = await client.redeem_positions(condition_id=condition_id(sim))
    outcome = await handle.wait()

    assert _cash(sim, client) == before + Decimal(10)
    assert _shares(sim, client, yes) == 0
    receipt = sim.runner.app[SIM_RELAYER].chain.receipts[outcome.transaction_hash.lower()]
    assert receipt.success


async def test_redeeming_no_after_a_50_50_resolution_pays_half_a_dollar_a_share(
    sim: SimServer, client: AsyncSecureClient
) -> None:
    _, no = tokens(sim, 1)
    await _buy(client, no)
    await admin(
        sim,
        "POST",
        "resolve",
        {"condition_id": condition_id(sim, 1), "outcome": "50/50", "redeem": False},
    )
    before = _cash(sim, client)

    await (await client.redeem_positions(condition_id=condition_id(sim, 1))).wait()

    assert _cash(sim, client) == before + Decimal(5)
    assert _shares(sim, client, no) == 0


async def test_redeem_before_resolution_reverts_and_moves_nothing(
    sim: SimServer, client: AsyncSecureClient
) -> None:
    yes, _ = tokens(sim)
    await _buy(client, yes)
    before = _cash(sim, client)
    with pytest.raises(UserInputError, match="No market found"):
        await client.redeem_positions(condition_id=condition_id(sim))  # Gamma: not closed

    # the call itself, sent anyway, reverts on chain
    from polymarket._internal.actions.relayer.calls import ctf_redeem_positions_call

    call = ctf_redeem_positions_call(
        ctf=COLLATERAL_ADAPTER,  # type: ignore[arg-type]
        collateral=COLLATERAL,  # type: ignore[arg-type]
        condition_id=condition_id(sim),
    )
    assert call.data.startswith("0x" + REDEEM_POSITIONS.hex())
    handle = await client.execute_transaction(calls=[call])
    with pytest.raises(TransactionFailedError, match="not received yet"):
        await handle.wait()
    assert _cash(sim, client) == before
    assert _shares(sim, client, yes) == Decimal(10)


async def test_merging_a_pair_returns_a_dollar_a_pair_and_split_makes_pairs(
    sim: SimServer, client: AsyncSecureClient
) -> None:
    yes, no = tokens(sim)
    await _buy(client, yes)
    await _buy(client, no, "6")
    before = _cash(sim, client)

    await (await client.merge_positions(condition_id=condition_id(sim), amount="max")).wait()

    assert _cash(sim, client) == before + Decimal(6)
    assert (_shares(sim, client, yes), _shares(sim, client, no)) == (Decimal(4), Decimal(0))

    await (await client.split_position(condition_id=condition_id(sim), amount=2_000_000)).wait()

    assert _cash(sim, client) == before + Decimal(4)
    assert (_shares(sim, client, yes), _shares(sim, client, no)) == (Decimal(6), Decimal(2))


async def test_balances_read_over_json_rpc_match_the_ledger(
    sim: SimServer, client: AsyncSecureClient
) -> None:
    yes, no = tokens(sim)
    await _buy(client, yes)
    wallet = str(client.wallet)
    calls = [
        (COLLATERAL, "balanceOf(address)", ["address"], [wallet]),
        (
            CONDITIONAL_TOKENS,
            "balanceOf(address,uint256)",
            ["address", "uint256"],
            [wallet, int(yes)],
        ),
        (
            CONDITIONAL_TOKENS,
            "balanceOf(address,uint256)",
            ["address", "uint256"],
            [wallet, int(no)],
        ),
    ]
    batch = [
        {
            "jsonrpc": "2.0",
            "id": n,
            "method": "eth_call",
            "params": [
                {"to": to, "data": "0x" + (selector(sig) + abi_encode(types, args)).hex()},
                "latest",
            ],
        }
        for n, (to, sig, types, args) in enumerate(calls)
    ]
    async with httpx.AsyncClient(base_url=sim.url) as http:
        answers = (await http.post("/rpc", json=batch)).json()
        chain_id = (
            await http.post("/rpc", json={"jsonrpc": "2.0", "id": 9, "method": "eth_chainId"})
        ).json()

    values = [int(a["result"], 16) for a in answers]
    assert values == [int(_cash(sim, client) * 1_000_000), 10_000_000, 0]
    assert wallet == deposit_wallet(str(client.signer))
    assert chain_id["result"] == "0x89"

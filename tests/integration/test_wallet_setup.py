"""The wallet production accepts, end to end against the simulator through the real SDK.

A new account (the scenario's `new_accounts`) on the default settings cannot start before
`trader setup`; setup derives its deposit wallet, deploys it through the simulator's relayer,
grants the approvals and shows the balance; then the venue the app builds trades through the
wallet. An EOA on a new account gets production's refusal, told to the operator in plain words
with the fix. `trader doctor` shows the wallet's type, deployment and balance.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from eth_account import Account
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from polysim.clob.app import SimServer
from tests.support.execution_rig import SIM_SCENARIO, live_rig, sim_intent, sim_market
from tests.support.setup_output import rows
from tests.support.sim import admin, avoid_ca_bundle, deposit_wallet, running_sim, scenario
from trader.clock import SystemClock
from trader.config import Settings, load_settings
from trader.domain import Alert, OrderRequest, OrderStatus, OrderType, Side
from trader.execution.trade_alerts import TradeAlerts
from trader.ops.doctor import collect
from trader.ops.setup import run_setup
from trader.venue.base import WalletNotReady
from trader.wiring import build_venue


@pytest.fixture(autouse=True)
def _plain_http_only(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    avoid_ca_bundle(monkeypatch, tmp_path)


def live_settings(sim: SimServer, key: str, **overrides: Any) -> Settings:
    """The settings an operator of a new account writes: the key and, for setup, the relayer
    key; POLYMARKET_SIGNATURE_TYPE left at its default."""
    return load_settings(
        None,
        trading_mode="live",
        polymarket_private_key=key,
        clob_host=sim.url,
        gamma_host=sim.gamma_url,
        data_api_host=sim.data_url,
        clob_ws_url=sim.market_ws_url.removesuffix("/market"),
        **overrides,
    )


async def relayer_settings(sim: SimServer, signer: Any) -> dict[str, str]:
    minted = await admin(sim, "POST", "relayer-api-key", {"address": signer.address})
    return {
        "polymarket_relayer_api_key": minted["key"],
        "polymarket_relayer_api_key_address": minted["address"],
    }


async def test_a_new_account_on_default_settings_trades_through_the_wallet_setup_deployed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    signer = Account.create()
    wallet = deposit_wallet(signer.address)
    async with running_sim(scenario(new_accounts="all")) as sim:
        settings = live_settings(sim, signer.key.hex(), **await relayer_settings(sim, signer))
        assert settings.polymarket_signature_type == 3  # the default
        before = build_venue(settings.venue(), clock=SystemClock(), sessions=cast(Any, None))
        with pytest.raises(WalletNotReady) as refused:
            await before.start()
        await before.close()

        first = await run_setup(settings)
        shown = capsys.readouterr().out
        again = await run_setup(settings)
        rerun = capsys.readouterr().out

        venue = build_venue(settings.venue(), clock=SystemClock(), sessions=cast(Any, None))
        await venue.start()
        try:
            market = (await venue.list_markets())[0]
            ask = (await venue.get_book(market.tokens[0].token_id)).best_ask
            assert ask is not None
            request = OrderRequest(
                token_id=market.tokens[0].token_id,
                side=Side.BUY,
                price=ask,
                size=Decimal(10),
                client_order_id="setup-1",
                order_type=OrderType.FOK,
                market=market.condition_id,
            )
            result = await venue.submit(await venue.prepare(request))
        finally:
            await venue.close()
        state = await admin(sim, "GET", "state")

    assert "run `trader setup`" in str(refused.value)
    assert wallet.lower() in str(refused.value).lower()
    assert first == 0, shown
    assert rows(shown)["wallet"].lower().startswith(wallet.lower())
    assert rows(shown)["deployed"] == "yes (deployed now through the relayer)"
    assert rows(shown)["approvals"] == "17 of 17 set (17 now)"
    assert rows(shown)["balance"] == "1000 pUSD"
    assert rows(shown)["fund"].lower().startswith(wallet.lower())
    assert shown.rstrip().endswith("ready to trade")
    assert settings.polymarket_relayer_api_key is not None
    assert settings.polymarket_relayer_api_key.get_secret_value() not in shown
    assert (again, rows(rerun)["deployed"], rows(rerun)["approvals"]) == (0, "yes", "all 17 set")
    assert result.status is OrderStatus.MATCHED
    makers = {str(order["maker_address"]).lower() for order in state["orders"]}
    assert makers == {wallet.lower()}  # the order was the deposit wallet's, not the EOA's


async def test_setup_without_a_relayer_key_says_what_is_missing_one_line_each(
    capsys: pytest.CaptureFixture[str],
) -> None:
    signer = Account.create()
    async with running_sim(scenario(new_accounts="all")) as sim:
        code = await run_setup(live_settings(sim, signer.key.hex()))
    shown = capsys.readouterr().out

    assert code == 1
    assert rows(shown)["wallet"].lower().startswith(deposit_wallet(signer.address).lower())
    assert rows(shown)["deployed"] == "no"
    missing = shown.split("missing:\n", 1)[1].splitlines()
    assert [line.split(":")[0] for line in missing] == ["POLYMARKET_RELAYER_API_KEY"]
    assert "deploy the deposit wallet through the relayer" in missing[0]


async def test_doctor_shows_wallet_type_deployment_and_balance(tmp_path: Path) -> None:
    signer = Account.create()
    async with running_sim() as sim:
        settings = live_settings(
            sim,
            signer.key.hex(),
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'doctor.db'}",
            **await relayer_settings(sim, signer),
        )
        async with httpx.AsyncClient(timeout=5) as client:
            before = {c.service: c for c in await collect(settings, client)}["wallet"]
            assert await run_setup(settings) == 0
            after = {c.service: c for c in await collect(settings, client)}["wallet"]

    wallet = deposit_wallet(signer.address)
    assert before.ok is False
    assert "not deployed: run `trader setup`" in before.detail
    assert after.ok is True
    assert after.detail.startswith(
        f"deposit wallet {wallet} (signature type 3), deployed, 1000 pUSD"
    )


async def test_an_eoa_on_a_new_account_is_told_in_plain_words_how_to_fix_it(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with (
        running_sim({**SIM_SCENARIO, "new_accounts": "all"}) as sim,
        live_rig(engine, sessions, sim) as rig,  # signature type 0: the key's own address
    ):
        alerts = TradeAlerts(rig.bus, lambda token: "Will the kill switch work? — Yes")
        seen: list[Alert] = []
        subscription = rig.bus.alerts.subscribe()
        task = asyncio.create_task(alerts.run_orders())
        try:
            result = await rig.runtime.handle(sim_intent(sim_market(rig), "0.62", "10"))
            envelope = await asyncio.wait_for(subscription.__anext__(), 5)
            seen.append(envelope.payload)
        finally:
            task.cancel()
            alerts.close()

    assert (result.outcome.value, result.rule) == ("rejected", "maker_not_allowed")
    for text in (result.message, seen[0].body):
        assert "deposit wallet" in text
        assert "POLYMARKET_SIGNATURE_TYPE=3" in text
        assert "`trader setup`" in text
        assert "maker address not allowed" in text  # what Polymarket said, for reference
    assert seen[0].title.startswith("Order rejected: BUY 10")


async def test_setup_with_a_relayer_key_the_relayer_refuses_names_the_key(
    capsys: pytest.CaptureFixture[str],
) -> None:
    signer = Account.create()
    async with running_sim(scenario(new_accounts="all")) as sim:
        settings = live_settings(
            sim,
            signer.key.hex(),
            polymarket_relayer_api_key="not-a-key-the-relayer-issued",
            polymarket_relayer_api_key_address=signer.address,
        )
        code = await run_setup(settings)
    shown = capsys.readouterr().out

    assert code == 1
    assert rows(shown)["deployed"] == "no"
    missing = shown.split("missing:\n", 1)[1].splitlines()
    assert [line.split(":")[0] for line in missing] == ["POLYMARKET_RELAYER_API_KEY"]
    assert "the relayer did not deploy the wallet" in missing[0]
    assert "not-a-key-the-relayer-issued" not in shown

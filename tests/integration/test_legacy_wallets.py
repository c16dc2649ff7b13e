"""Legacy wallets end to end: a Polymarket proxy (signature type 1, email/magic accounts) and a
Gnosis Safe (2, browser wallets), each with POLYMARKET_FUNDER, against the simulator through
the real SDK.

polymarket.com made these wallets; the simulator's scenario lists them (`legacy_wallets`: they
exist, with their trading approvals set). `trader setup` only checks such a wallet: known, it is
shown deployed with its approvals and balance; unknown, one line says polymarket.com makes it
and nothing is sent to the relayer. Live orders through the venue the app builds carry
maker = the funder and signer = the key's address, as the SDK signs them; the simulator refuses
what the exchange refuses: a maker that is not the signer's proxy or Safe (the exchange derives
it from the signer), and any non-deposit-wallet order of an account opened after CLOB V2.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from polymarket import AsyncSecureClient

from polysim.clob.app import SimServer
from tests.support.setup_output import missing_lines, rows
from tests.support.sim import (
    admin,
    avoid_ca_bundle,
    l2_headers,
    legacy_wallet,
    order_payload,
    resign_order,
    running_sim,
    scenario,
)
from trader.clock import SystemClock
from trader.config import Settings, load_settings
from trader.domain import OrderRequest, OrderStatus, OrderType, Side
from trader.ops.doctor import collect
from trader.ops.setup import run_setup
from trader.venue.base import OrderRejected, Venue, WalletNotReady
from trader.venue.polymarket.adapter import PolymarketVenue
from trader.venue.polymarket.convert import signed_from_json
from trader.wiring import build_venue

LEGACY = pytest.mark.parametrize(
    ("kind", "name"), [(1, "Polymarket proxy"), (2, "Gnosis Safe")], ids=["proxy", "safe"]
)


@pytest.fixture(autouse=True)
def _plain_http_only(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    avoid_ca_bundle(monkeypatch, tmp_path)


def legacy_settings(
    sim: SimServer, signer: LocalAccount, kind: int, funder: str, **overrides: Any
) -> Settings:
    """What a legacy account's operator writes: the key, the signature type and the funder
    (the address polymarket.com shows); no relayer key."""
    return load_settings(
        None,
        trading_mode="live",
        polymarket_private_key=signer.key.hex(),
        polymarket_signature_type=kind,
        polymarket_funder=funder,
        clob_host=sim.url,
        gamma_host=sim.gamma_url,
        data_api_host=sim.data_url,
        clob_ws_url=sim.market_ws_url.removesuffix("/market"),
        **overrides,
    )


# a rule that changes nothing but counts every relayer submit (in `fault_hits`)
WATCH_RELAYER = {"kind": "latency", "ms": 0, "path": "/submit"}


async def setup_against(
    source: dict[str, Any],
    signer: LocalAccount,
    kind: int,
    funder: str,
    *,
    relayer_key: bool = False,
) -> tuple[int, int]:
    """`trader setup` against a simulator running `source`: its exit status, and how many
    requests it sent to the relayer's `/submit` (a deployment or an approval)."""
    async with running_sim({**source, "faults": [WATCH_RELAYER]}) as sim:
        extra: dict[str, str] = {}
        if relayer_key:
            minted = await admin(sim, "POST", "relayer-api-key", {"address": signer.address})
            extra = {
                "polymarket_relayer_api_key": minted["key"],
                "polymarket_relayer_api_key_address": minted["address"],
            }
        code = await run_setup(legacy_settings(sim, signer, kind, funder, **extra))
        state = await admin(sim, "GET", "state")
    return code, sum(1 for hit in state["fault_hits"] if hit["path"] == "/submit")


async def post_order(sim: SimServer, client: AsyncSecureClient, body: str) -> httpx.Response:
    headers = l2_headers(client, "POST", "/order", body)
    async with httpx.AsyncClient(base_url=sim.url, timeout=5) as http:
        return await http.post("/order", content=body, headers=headers)


def venue_of(settings: Settings) -> Venue:
    return build_venue(settings.venue(), clock=SystemClock(), sessions=cast(Any, None))


@asynccontextmanager
async def started(settings: Settings) -> AsyncIterator[Venue]:
    """The venue the app builds for these settings, started (and closed after)."""
    venue = venue_of(settings)
    await venue.start()
    try:
        yield venue
    finally:
        await venue.close()


async def marketable_buy(venue: Venue, client_order_id: str) -> OrderRequest:
    market = (await venue.list_markets())[0]
    ask = (await venue.get_book(market.tokens[0].token_id)).best_ask
    assert ask is not None
    return OrderRequest(
        token_id=market.tokens[0].token_id,
        side=Side.BUY,
        price=ask,
        size=Decimal(10),
        client_order_id=client_order_id,
        order_type=OrderType.FOK,
        market=market.condition_id,
    )


# --- trader setup -------------------------------------------------------------------------


@LEGACY
async def test_setup_shows_a_known_legacy_wallet_deployed_with_approvals_and_balance(
    kind: int, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    signer = Account.create()
    wallet = legacy_wallet(signer.address, kind)
    code, relayed = await setup_against(scenario(legacy_wallets=[wallet]), signer, kind, wallet)
    shown = capsys.readouterr().out

    assert code == 0, shown
    assert rows(shown)["signer"].startswith(signer.address)
    assert rows(shown)["wallet"] == f"{wallet} {name}"
    assert rows(shown)["deployed"] == "yes"
    assert rows(shown)["approvals"] == "all 17 set"
    assert rows(shown)["balance"] == "1000 pUSD"
    assert rows(shown)["fund"].startswith(wallet)
    assert shown.rstrip().endswith("ready to trade")
    assert relayed == 0


@LEGACY
async def test_setup_for_a_legacy_wallet_the_chain_does_not_know_says_polymarket_makes_it(
    kind: int, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    signer = Account.create()
    wallet = legacy_wallet(signer.address, kind)
    # even with a relayer key, nothing is deployed for it
    code, relayed = await setup_against(scenario(), signer, kind, wallet, relayer_key=True)
    shown = capsys.readouterr().out

    assert code == 1
    assert rows(shown)["wallet"] == f"{wallet} {name}"
    assert rows(shown)["deployed"] == "no"
    missing = missing_lines(shown)
    assert len(missing) == 1, shown
    assert missing[0].startswith("POLYMARKET_FUNDER: ")
    assert wallet in missing[0]
    assert "polymarket.com" in missing[0]
    assert "only polymarket.com makes one" in missing[0]  # no deploy was tried
    assert relayed == 0


@LEGACY
async def test_setup_names_a_funder_that_is_not_the_keys_wallet(
    kind: int, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    signer = Account.create()
    stranger = legacy_wallet(Account.create().address, kind)  # someone else's wallet
    code, relayed = await setup_against(scenario(legacy_wallets=[stranger]), signer, kind, stranger)
    shown = capsys.readouterr().out

    assert code == 1
    missing = missing_lines(shown)
    assert len(missing) == 1, shown
    assert missing[0].startswith(f"POLYMARKET_FUNDER: {stranger} is not this key's {name}")
    assert legacy_wallet(signer.address, kind) in missing[0]  # the one the key does own
    assert relayed == 0


# --- live orders --------------------------------------------------------------------------


@LEGACY
async def test_a_legacy_wallet_trades_with_the_funder_as_maker_and_the_key_as_signer(
    kind: int, name: str
) -> None:
    signer = Account.create()
    wallet = legacy_wallet(signer.address, kind)
    async with running_sim(scenario(legacy_wallets=[wallet])) as sim:
        async with started(legacy_settings(sim, signer, kind, wallet)) as venue:
            prepared = await venue.prepare(await marketable_buy(venue, f"legacy-{kind}"))
            result = await venue.submit(prepared)
            balance = (await venue.balance()).cash
        state = await admin(sim, "GET", "state")

    signed = signed_from_json(prepared.payload)
    assert (signed.maker, signed.signer) == (wallet, signer.address)
    assert signed.signature_type == kind
    assert result.status is OrderStatus.MATCHED
    assert {str(o["maker_address"]) for o in state["orders"]} == {wallet}
    held = {a["address"].lower(): a["holdings"] for a in state["accounts"]}
    assert held[wallet.lower()]  # the wallet bought the shares
    assert not held.get(signer.address.lower())  # the key's own address holds none
    assert balance < Decimal(1000)  # the venue reads the wallet's balance, which paid


@LEGACY
async def test_an_order_whose_maker_is_not_the_signers_wallet_is_refused_as_the_exchange_does(
    kind: int, name: str
) -> None:
    signer = Account.create()
    wallet = legacy_wallet(signer.address, kind)
    stranger = legacy_wallet(Account.create().address, kind)
    async with running_sim(scenario(legacy_wallets=[wallet, stranger])) as sim:
        async with started(legacy_settings(sim, signer, kind, wallet)) as venue:
            prepared = await venue.prepare(await marketable_buy(venue, f"forged-{kind}"))
            assert isinstance(venue, PolymarketVenue)
            client = venue.account.client
            forged = resign_order(signed_from_json(prepared.payload), signer, maker=stranger)
            body = order_payload(client, forged, "FOK")
            answer = await post_order(sim, client, body)
        state = await admin(sim, "GET", "state")

    assert answer.status_code == 400, answer.text
    # the signature recovers to the key (so it is no plain bad signature): the maker is refused
    assert f"invalid signature: {stranger} is not the signer's" in answer.text
    assert state["orders"] == []


@LEGACY
async def test_a_legacy_wallet_on_an_account_opened_after_clob_v2_is_refused(
    kind: int, name: str
) -> None:
    signer = Account.create()
    wallet = legacy_wallet(signer.address, kind)
    new_account = scenario(new_accounts="all", legacy_wallets=[wallet])
    async with (
        running_sim(new_account) as sim,
        started(legacy_settings(sim, signer, kind, wallet)) as venue,
    ):
        prepared = await venue.prepare(await marketable_buy(venue, f"new-{kind}"))
        with pytest.raises(OrderRejected) as refused:
            await venue.submit(prepared)

    assert refused.value.code == "maker_not_allowed"
    assert "Gnosis Safe" in str(refused.value)  # not only "the key's own address"
    assert "POLYMARKET_SIGNATURE_TYPE=3" in str(refused.value)
    assert "maker address not allowed" in str(refused.value)  # what Polymarket said


@LEGACY
async def test_the_live_venue_refuses_to_start_on_an_unknown_or_foreign_legacy_wallet(
    kind: int, name: str
) -> None:
    signer = Account.create()
    wallet = legacy_wallet(signer.address, kind)
    stranger = legacy_wallet(Account.create().address, kind)
    refusals: list[WalletNotReady] = []
    async with running_sim(scenario(legacy_wallets=[stranger])) as sim:
        for funder in (wallet, stranger):  # not on chain; someone else's
            venue = venue_of(legacy_settings(sim, signer, kind, funder))
            with pytest.raises(WalletNotReady) as refused:
                await venue.start()
            await venue.close()
            refusals.append(refused.value)

    unknown, foreign = refusals
    assert unknown.setting == foreign.setting == "POLYMARKET_FUNDER"
    assert f"the {name} {wallet} does not exist on chain" in str(unknown)
    assert f"{stranger} is not this key's {name} (the key's would be {wallet})" in str(foreign)


# --- trader doctor ------------------------------------------------------------------------


@LEGACY
async def test_doctor_shows_a_legacy_wallets_type_deployment_and_balance(
    kind: int, name: str, tmp_path: Path
) -> None:
    signer, lost = Account.create(), Account.create()
    wallet = legacy_wallet(signer.address, kind)
    database = {"database_url": f"sqlite+aiosqlite:///{tmp_path / 'doctor.db'}"}
    async with running_sim(scenario(legacy_wallets=[wallet])) as sim:
        known = legacy_settings(sim, signer, kind, wallet, **database)
        unknown = legacy_settings(sim, lost, kind, legacy_wallet(lost.address, kind), **database)
        async with httpx.AsyncClient(timeout=5) as http:
            found = {c.service: c for c in await collect(known, http)}["wallet"]
            absent = {c.service: c for c in await collect(unknown, http)}["wallet"]

    assert found.ok is True
    assert found.detail.startswith(f"{name} {wallet} (signature type {kind}), deployed, 1000 pUSD")
    assert absent.ok is False
    assert "does not exist on chain" in absent.detail
    assert "polymarket.com" in absent.detail
    assert "trader setup" not in absent.detail

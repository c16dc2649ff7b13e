"""Polymarket's relayer (gasless transactions) as `polymarket-client` 0.14.0 uses it.

Read from the SDK's `_internal/actions/relayer/{deployed,nonce,submit,poll,gasless}.py`,
`signing/deposit_wallet.py` and `clients/async_secure.py` (`_ensure_wallet_ready`). Served at the
CLOB's own host (the SDK environment of `sdk_env.build_environment` points its relayer there):

- `GET /deployed?address&type` -> `{deployed}`. A deposit wallet (`type=WALLET`) is deployed
  only once a `WALLET-CREATE` for its owner ran (or the scenario's `deployed_wallets` lists it,
  or `POST /_admin/deploy {"address"}` said so). A proxy or Safe (`PROXY`, `SAFE`) exists only
  if the scenario's `legacy_wallets` lists it (polymarket.com made it: it starts with the
  trading approvals set) or `/_admin/deploy` said so; the relayer never makes one here.
- `GET /v1/account/transactions/params?address=<signer>&type=WALLET` -> `{address, nonce}`,
  the owner's next batch nonce (other types: 400); `GET /relay-payload` (proxy wallets) is not
  served.
- `POST /submit` (authenticated) `{type: "WALLET-CREATE", from: signer, to: factory}` deploys
  the signer's deposit wallet; `{type: "WALLET", from, to: factory, nonce, signature,
  depositWalletParams: {depositWallet, deadline, calls: [{target, value, data}]}}` runs a batch
  of calls for the wallet on the simulated chain (`chain.py`). The batch's EIP-712 signature
  (domain "DepositWallet" v1, the wallet as verifying contract) must recover to `from`, the wallet
  must be deployed and belong to `from`, the deadline in the future and the nonce the next one:
  else 400, a stale nonce as `batch nonce N does not match on-chain nonce M` (the SDK re-signs).
  -> `{transactionID, transactionHash, state: "STATE_NEW"}`.
- `GET /v1/account/transactions/{id}` -> `{transaction_id, transaction_hash, state,
  error_msg?}`: `STATE_NEW` until the scenario's `chain_confirm_s` of simulated time passed,
  then the calls run all or nothing: `STATE_CONFIRMED`, or `STATE_FAILED` with the revert reason
  (nothing moved). A receipt appears at `eth_getTransactionReceipt` then.

Auth on `/submit`: a builder key (`POLY_BUILDER_API_KEY, _PASSPHRASE, _TIMESTAMP, _SIGNATURE`,
HMAC as L2; minted by `POST /auth/builder-api-key`, listed by `GET`, L2-authenticated) or a relayer
key (`RELAYER_API_KEY`, `RELAYER_API_KEY_ADDRESS`, minted by `POST /_admin/relayer-api-key
{"address"}`, as production's settings page does). Anything else: 401. `POST
/_admin/relayer/confirm` mines every waiting transaction at once.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils.crypto import keccak
from polymarket._internal.actions.relayer.calls import TransactionCall
from polymarket._internal.actions.relayer.signing.deposit_wallet import (
    build_deposit_wallet_typed_data,
)
from polymarket._internal.wallet import (
    derive_beacon_deposit_wallet_address,
    derive_uups_deposit_wallet_address,
)
from polymarket.environments import PRODUCTION
from polymarket.types import EvmAddress, HexString

from polysim.clob.auth import AuthError, check_l2, hmac_signature
from polysim.clob.chain import DEPOSIT_WALLET_FACTORY, Call, Reverted, SimChain
from polysim.clob.context import ApiError, SimContext, context

DERIVATION = PRODUCTION._config.wallet_derivation  # the SDK's own (as sdk_env keeps it)
NEW, CONFIRMED, FAILED = "STATE_NEW", "STATE_CONFIRMED", "STATE_FAILED"


@dataclass(slots=True)
class RelayedTx:
    transaction_id: str
    transaction_hash: str
    kind: str  # WALLET-CREATE | WALLET
    signer: str
    wallet: str
    calls: list[Call]
    due: float  # simulated unix time at which it runs
    state: str = NEW
    error: str = ""
    metadata: str = ""

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "transaction_id": self.transaction_id,
            "transaction_hash": self.transaction_hash,
            "state": self.state,
            "type": self.kind,
            "from": self.signer,
            "proxyAddress": self.wallet,
            "metadata": self.metadata,
        }
        if self.error:
            body["error_msg"] = self.error
        return body


@dataclass(frozen=True, slots=True)
class BuilderKey:
    key: str
    secret: str
    passphrase: str
    address: str


@dataclass(slots=True)
class SimRelayer:
    ctx: SimContext
    chain: SimChain
    deployed: set[str] = field(default_factory=set)
    nonces: dict[str, int] = field(default_factory=dict)  # signer -> next batch nonce
    transactions: dict[str, RelayedTx] = field(default_factory=dict)
    builder_keys: dict[str, BuilderKey] = field(default_factory=dict)
    relayer_keys: dict[str, str] = field(default_factory=dict)  # key -> address

    @property
    def confirm_s(self) -> float:
        return self.ctx.scenario.chain_confirm_s

    def is_deployed(self, address: str, kind: str | None) -> bool:
        return address.lower() in self.deployed

    def nonce(self, signer: str) -> int:
        return self.nonces.get(signer.lower(), 0)

    def run_due(self) -> None:
        """Run every relayed transaction whose confirmation time has come."""
        now = self.ctx.now()
        for tx in self.transactions.values():
            if tx.state == NEW and tx.due <= now:
                self._run(tx)

    def _run(self, tx: RelayedTx) -> None:
        try:
            if tx.kind == "WALLET-CREATE":
                self.deployed.add(tx.wallet.lower())
            else:
                self.chain.execute(tx.wallet, tx.calls)
            tx.state = CONFIRMED
        except Reverted as reverted:
            tx.state, tx.error = FAILED, str(reverted)
        target = DEPOSIT_WALLET_FACTORY if tx.kind == "WALLET-CREATE" else tx.wallet
        self.chain.record(
            tx.transaction_hash, success=tx.state == CONFIRMED, sender=tx.signer, to=target
        )

    def accept(
        self, kind: str, signer: str, wallet: str, calls: list[Call], meta: str
    ) -> RelayedTx:
        transaction_id = str(uuid.uuid4())
        tx = RelayedTx(
            transaction_id=transaction_id,
            transaction_hash="0x" + keccak(text=transaction_id).hex(),
            kind=kind,
            signer=signer,
            wallet=wallet,
            calls=calls,
            due=self.ctx.now() + self.confirm_s,
            metadata=meta,
        )
        self.transactions[transaction_id] = tx
        if self.confirm_s <= 0:
            self._run(tx)
        return tx

    # --- authentication -----------------------------------------------------------------

    def authenticate(self, request: web.Request, body: str) -> str:
        """The address a `/submit` is authorised for; ApiError 401 otherwise."""
        headers = request.headers
        relayer_key = headers.get("RELAYER_API_KEY")
        if relayer_key:
            owner = self.relayer_keys.get(relayer_key)
            if owner is None or owner.lower() != headers.get("RELAYER_API_KEY_ADDRESS", "").lower():
                raise ApiError(401, "invalid relayer api key")
            return owner
        key = self.builder_keys.get(headers.get("POLY_BUILDER_API_KEY", ""))
        if key is None or headers.get("POLY_BUILDER_PASSPHRASE") != key.passphrase:
            raise ApiError(401, "invalid authorization: a builder or relayer api key is required")
        stamp = headers.get("POLY_BUILDER_TIMESTAMP", "")
        expected = hmac_signature(key.secret, f"{stamp}{request.method}{request.path}{body}")
        if headers.get("POLY_BUILDER_SIGNATURE") != expected:
            raise ApiError(401, "invalid builder signature")
        skew = self.ctx.scenario.auth_max_skew_s
        if skew is not None and (not stamp.isdigit() or abs(int(stamp) - self.ctx.now()) > skew):
            raise ApiError(401, "builder timestamp out of range")
        return key.address

    def mint_builder_key(self, address: str) -> BuilderKey:
        key = BuilderKey(
            key=str(uuid.uuid4()),
            secret=secrets.token_urlsafe(32),
            passphrase=secrets.token_hex(16),
            address=address,
        )
        self.builder_keys[key.key] = key
        return key


def beacon_wallet(signer: str) -> str:
    """The deposit wallet the SDK derives for a new signer (the beacon factory's)."""
    return derive_beacon_deposit_wallet_address(signer, DERIVATION).lower()


def owned_wallets(signer: str) -> set[str]:
    """The deposit wallets a signer owns: the beacon factory's, and the legacy UUPS one."""
    return {
        derive_beacon_deposit_wallet_address(signer, DERIVATION).lower(),
        derive_uups_deposit_wallet_address(signer, DERIVATION).lower(),
    }


def check_batch(relayer: SimRelayer, body: dict[str, Any]) -> tuple[str, str, list[Call]]:
    """(signer, wallet, calls) of a signed deposit-wallet batch; ApiError 400 when refused."""
    signer = str(body.get("from", ""))
    params = body.get("depositWalletParams")
    if not isinstance(params, dict) or not isinstance(params.get("calls"), list):
        raise ApiError(400, "depositWalletParams with calls is required")
    wallet, deadline = str(params.get("depositWallet", "")), str(params.get("deadline", ""))
    nonce = str(body.get("nonce", ""))
    if wallet.lower() not in owned_wallets(signer):
        raise ApiError(400, f"deposit wallet {wallet} is not owned by {signer}")
    if not relayer.is_deployed(wallet, "WALLET"):
        raise ApiError(400, f"deposit wallet {wallet} is not deployed")
    if not nonce.isdigit() or int(nonce) != relayer.nonce(signer):
        raise ApiError(
            400, f"batch nonce {nonce} does not match on-chain nonce {relayer.nonce(signer)}"
        )
    if not deadline.isdigit() or int(deadline) <= relayer.ctx.now():
        raise ApiError(400, "deadline expired")
    try:
        calls = [
            Call(str(c["target"]), bytes.fromhex(str(c["data"])[2:]), int(c["value"]))
            for c in params["calls"]
        ]
        typed = build_deposit_wallet_typed_data(
            wallet=EvmAddress(wallet),
            calls=[
                TransactionCall(EvmAddress(c.target), HexString("0x" + c.data.hex()), c.value)
                for c in calls
            ],
            nonce=nonce,
            deadline=deadline,
            chain_id=relayer.ctx.scenario.chain_id,
        )
        recovered = Account.recover_message(
            encode_typed_data(full_message=typed), signature=str(body.get("signature", ""))
        )
    except (KeyError, TypeError, ValueError) as error:
        raise ApiError(400, f"invalid batch: {error}") from error
    if recovered.lower() != signer.lower():
        raise ApiError(400, "invalid signature: the batch is not signed by its owner")
    return signer, wallet, calls


def relayer_of(request: web.Request) -> SimRelayer:
    return request.app[SIM_RELAYER]


async def deployed(request: web.Request) -> web.Response:
    relayer = relayer_of(request)
    relayer.run_due()
    address = request.query.get("address", "")
    return web.json_response({"deployed": relayer.is_deployed(address, request.query.get("type"))})


async def transaction_params(request: web.Request) -> web.Response:
    relayer = relayer_of(request)
    address = request.query.get("address", "")
    if request.query.get("type") != "WALLET":
        raise ApiError(400, "the simulator relays deposit-wallet (WALLET) transactions only")
    return web.json_response({"address": address, "nonce": str(relayer.nonce(address))})


async def submit(request: web.Request) -> web.Response:
    relayer = relayer_of(request)
    text = await request.text()
    relayer.authenticate(request, text)  # a builder key relays for any user, as production's
    try:
        body = await request.json()
    except ValueError as error:
        raise ApiError(400, "invalid payload: not JSON") from error
    if not isinstance(body, dict):
        raise ApiError(400, "invalid payload")
    kind, signer, meta = str(body.get("type")), str(body.get("from", "")), str(body.get("metadata"))
    if kind == "WALLET-CREATE":
        if str(body.get("to", "")).lower() != DEPOSIT_WALLET_FACTORY.lower():
            raise ApiError(400, "WALLET-CREATE must go to the deposit wallet factory")
        wallet = derive_beacon_deposit_wallet_address(signer, DERIVATION)
        tx = relayer.accept(kind, signer, wallet, [], meta)
    elif kind == "WALLET":
        signer, wallet, calls = check_batch(relayer, body)
        relayer.nonces[signer.lower()] = relayer.nonce(signer) + 1
        tx = relayer.accept(kind, signer, wallet, calls, meta)
    else:
        raise ApiError(400, f"the simulator does not relay {kind} transactions")
    return web.json_response(
        {"transactionID": tx.transaction_id, "transactionHash": tx.transaction_hash, "state": NEW}
    )


async def transaction(request: web.Request) -> web.Response:
    relayer = relayer_of(request)
    relayer.run_due()
    tx = relayer.transactions.get(request.match_info["transaction_id"])
    if tx is None:
        raise ApiError(404, "transaction not found")
    return web.json_response(tx.as_json())


async def builder_api_key(request: web.Request) -> web.Response:
    ctx = context(request)
    relayer = relayer_of(request)
    body = await request.text()
    try:
        key = check_l2(
            ctx.keys,
            method=request.method,
            path=request.rel_url.raw_path,
            body=body,
            headers=request.headers,
            now=ctx.now(),
            max_skew_s=ctx.scenario.auth_max_skew_s,
        )
    except AuthError as error:
        raise ApiError(error.status, str(error)) from error
    if request.method == "GET":
        owner = key.address.lower()
        mine = [k.key for k in relayer.builder_keys.values() if k.address.lower() == owner]
        return web.json_response([{"key": k, "createdAt": None, "revokedAt": None} for k in mine])
    minted = relayer.mint_builder_key(key.address)
    return web.json_response(
        {"key": minted.key, "secret": minted.secret, "passphrase": minted.passphrase}
    )


async def admin_deploy(request: web.Request) -> web.Response:
    relayer = relayer_of(request)
    body = await request.json()
    address = str(body.get("address", "")) if isinstance(body, dict) else ""
    if not address:
        raise ApiError(400, "address is required")
    relayer.deployed.add(address.lower())
    return web.json_response({"address": address, "deployed": True})


async def admin_confirm(request: web.Request) -> web.Response:
    """Mine every relayed transaction still waiting for its confirmation delay, now."""
    relayer = relayer_of(request)
    waiting = [tx for tx in relayer.transactions.values() if tx.state == NEW]
    for tx in waiting:
        tx.due = relayer.ctx.now()
    relayer.run_due()
    return web.json_response({"mined": [tx.transaction_id for tx in waiting]})


async def admin_relayer_key(request: web.Request) -> web.Response:
    relayer = relayer_of(request)
    body = await request.json()
    address = str(body.get("address", "")) if isinstance(body, dict) else ""
    if not address:
        raise ApiError(400, "address is required")
    key = str(uuid.uuid4())
    relayer.relayer_keys[key] = address
    return web.json_response({"key": key, "address": address})


SIM_RELAYER = web.AppKey("sim_relayer", SimRelayer)


def add_routes(app: web.Application, ctx: SimContext, chain: SimChain) -> SimRelayer:
    made = (*ctx.scenario.deployed_wallets, *ctx.scenario.legacy_wallets)
    relayer = SimRelayer(ctx, chain, deployed={a.lower() for a in made})
    for wallet in ctx.scenario.legacy_wallets:
        chain.grant_trading_approvals(wallet)
    app[SIM_RELAYER] = relayer
    chain.before_read.append(relayer.run_due)
    ctx.after_step.append(relayer.run_due)
    app.router.add_get("/deployed", deployed)
    app.router.add_get("/v1/account/transactions/params", transaction_params)
    app.router.add_post("/submit", submit)
    app.router.add_get("/v1/account/transactions/{transaction_id}", transaction)
    app.router.add_post("/auth/builder-api-key", builder_api_key)
    app.router.add_get("/auth/builder-api-key", builder_api_key)
    app.router.add_post("/_admin/deploy", admin_deploy)
    app.router.add_post("/_admin/relayer-api-key", admin_relayer_key)
    app.router.add_post("/_admin/relayer/confirm", admin_confirm)
    return relayer


__all__ = [
    "SIM_RELAYER",
    "RelayedTx",
    "SimRelayer",
    "add_routes",
    "beacon_wallet",
    "owned_wallets",
    "relayer_of",
]

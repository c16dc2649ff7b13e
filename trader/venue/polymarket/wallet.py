"""The wallet the account trades from, through the SDK: which one, whether it exists on chain,
deploying a deposit wallet, its trading approvals.

`polymarket-client` 0.14.0 sets a wallet up inside `AsyncSecureClient.create`: a deposit wallet
the relayer reports as not deployed is deployed there and then (with a relayer key), and
without a key creation fails with a message about gasless transactions. The trader wants the
steps apart: start-up must refuse an undeployed wallet with "run `trader setup`" rather than
deploy it as a side effect, and `trader setup` shows the address before it deploys. So this
module, like `sdk_env`, is the one place that uses the pinned SDK's private names for it:

- `AsyncSecureClient._create`: `create` without the wallet step (credentials, wallet type);
- `fetch_deployed` on the client's relayer transport (`GET /deployed?address&type`);
- `AsyncSecureClient._ensure_wallet_ready`: the SDK's own deploy (`WALLET-CREATE` through the
  relayer, waited for until the relayer confirms it);
- `get_trading_approvals_state` over the client's JSON-RPC (`eth_call` allowance reads): what
  `setup_trading_approvals` (public) is about to set;
- the client's `signer_type` and the SDK's `derive_proxy_wallet_address` /
  `derive_safe_wallet_address`: the SDK takes a wallet it cannot derive from the key for a
  deposit wallet the key holds a session for, so a proxy or Safe funder that is not the key's
  is told apart here, with the address the key's own would have.
"""

from __future__ import annotations

from dataclasses import dataclass

from polymarket import AsyncSecureClient, Environment, RelayerApiKey
from polymarket._internal.actions.relayer.approvals import get_trading_approvals_state
from polymarket._internal.actions.relayer.deployed import fetch_deployed
from polymarket._internal.wallet import derive_proxy_wallet_address, derive_safe_wallet_address
from polymarket.models.clob.relayer import RelayerTransactionType

from trader.venue.base import WalletNotReady

RELAYER_TYPES = {
    "DEPOSIT_WALLET": RelayerTransactionType.WALLET,
    "POLY_PROXY": RelayerTransactionType.PROXY,
    "GNOSIS_SAFE": RelayerTransactionType.SAFE,
}
WALLET_NAMES = {
    "EOA": "EOA (the key's own address)",
    "POLY_PROXY": "Polymarket proxy",
    "GNOSIS_SAFE": "Gnosis Safe",
    "DEPOSIT_WALLET": "deposit wallet",
}
SIGNATURE_TYPES = {"EOA": 0, "POLY_PROXY": 1, "GNOSIS_SAFE": 2, "DEPOSIT_WALLET": 3}
LEGACY_DERIVATIONS = {1: derive_proxy_wallet_address, 2: derive_safe_wallet_address}
LEGACY_NAMES = {1: "POLY_PROXY", 2: "GNOSIS_SAFE"}
REQUIRED_APPROVALS = 17  # 7 pUSD allowances and 10 operator approvals (the SDK's list)


@dataclass(frozen=True, slots=True)
class Approvals:
    missing: int
    required: int = REQUIRED_APPROVALS

    @property
    def complete(self) -> bool:
        return self.missing == 0


def relayer_key(key: str | None, address: str | None) -> RelayerApiKey | None:
    if not key or not address:
        return None
    return RelayerApiKey(key=key, address=address)


async def open_client(
    *,
    private_key: str,
    wallet: str | None,
    environment: Environment,
    api_key: RelayerApiKey | None,
) -> AsyncSecureClient:
    """The SDK client for this key and wallet (None: the key's deposit wallet), credentials
    derived, the wallet neither checked nor deployed."""
    return await AsyncSecureClient._create(
        private_key=private_key, wallet=wallet, environment=environment, api_key=api_key
    )


async def is_deployed(client: AsyncSecureClient) -> bool:
    """Whether the wallet exists on chain (an EOA always does), as the relayer says."""
    kind = RELAYER_TYPES.get(client.wallet_type)
    if kind is None:
        return True
    return await fetch_deployed(client._ctx.relayer, address=str(client.wallet), type=kind)


async def deploy(client: AsyncSecureClient) -> None:
    """Deploy the key's deposit wallet through the relayer and wait until it is confirmed
    (the SDK's own step; it needs the relayer key). Proxy and Safe wallets cannot be made
    here: polymarket.com made them."""
    await client._ensure_wallet_ready()


async def approvals(client: AsyncSecureClient) -> Approvals:
    """How many of the trading approvals the wallet still lacks (on-chain reads)."""
    ctx = client._ctx
    state = await get_trading_approvals_state(
        ctx.rpc, wallet=str(client.wallet), config=ctx.environment_config
    )
    return Approvals(len(state.missing.erc20) + len(state.missing.erc1155))


async def set_approvals(client: AsyncSecureClient) -> None:
    """Grant the missing ones (one relayed transaction for a deposit wallet; an EOA sends and
    pays gas for each), waiting until they are mined."""
    handle = await client.setup_trading_approvals()
    await handle.wait()


def wallet_problem(client: AsyncSecureClient, signature_type: int) -> WalletNotReady | None:
    """Why the SDK's wallet is not the configured kind of wallet for this key, or None: a
    proxy or Safe funder the key does not own names POLYMARKET_FUNDER (with the key's own
    address of that kind); another kind of the key's wallet names POLYMARKET_SIGNATURE_TYPE."""
    derive = LEGACY_DERIVATIONS.get(signature_type)
    if derive is not None and client._ctx.signer_type == "SESSION_KEY":
        name = WALLET_NAMES[LEGACY_NAMES[signature_type]]
        owned = derive(str(client.signer), client._ctx.environment_config.wallet_derivation)
        return WalletNotReady(
            f"{client.wallet} is not this key's {name} (the key's would be {owned}): set the "
            "address polymarket.com shows for this account, or that account's key",
            setting="POLYMARKET_FUNDER",
        )
    if SIGNATURE_TYPES[client.wallet_type] != signature_type:
        return WalletNotReady(
            f"{signature_type} is set, but {client.wallet} is this key's "
            f"{WALLET_NAMES[client.wallet_type]} (signature type "
            f"{SIGNATURE_TYPES[client.wallet_type]})"
        )
    return None


def not_deployed(client: AsyncSecureClient) -> WalletNotReady:
    if client.wallet_type == "DEPOSIT_WALLET":
        return WalletNotReady(
            f"the deposit wallet {client.wallet} is not deployed yet: run `trader setup` "
            "(it deploys the wallet through the relayer and sets its approvals)"
        )
    return WalletNotReady(
        f"the {WALLET_NAMES[client.wallet_type]} {client.wallet} does not exist on chain, and "
        "only polymarket.com makes one (not `trader setup`): set the address polymarket.com "
        "shows for this account",
        setting="POLYMARKET_FUNDER",
    )


__all__ = [
    "REQUIRED_APPROVALS",
    "WALLET_NAMES",
    "Approvals",
    "approvals",
    "deploy",
    "is_deployed",
    "not_deployed",
    "open_client",
    "relayer_key",
    "set_approvals",
    "wallet_problem",
]

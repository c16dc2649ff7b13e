"""Production's account rules since CLOB V2, checked on every posted order before its
signature is (`orders.py`).

- V1 orders: the wire form of an order signed by the old `py-clob-client` carries `taker`,
  `nonce` and `feeRateBps` and no `timestamp`; production answers such an order (or a batch
  holding one, `orders.py` raises it as an `ApiError`) `400 {"error": "order_version_mismatch"}`.
- New accounts: an account created after the migration must trade through a deposit wallet
  (signature type 3). Its EOA, proxy and Safe orders (types 0, 1, 2) are refused with
  production's words: `400 {"error": "maker address not allowed, please use the deposit wallet
  flow"}` (reported for all three: py-clob-client-v2 issues #52, #56, #61, #116). Which
  accounts are "new" is the scenario's `new_accounts`: a list of signer addresses, or `"all"`;
  absent or empty, every account is a legacy one and its EOA, proxy or Safe orders still work.
- Legacy wallets: a proxy (type 1) or Safe (type 2) order is the signer's only if its maker is
  the wallet the exchange derives from the signer (CREATE2 from the proxy or Safe factory:
  the V2 exchange's `verifyPolyProxySignature` / `verifyPolySafeSignature`; the SDK's
  `derive_proxy_wallet_address` / `derive_safe_wallet_address` compute the same address). The
  exchange does not ask whether the wallet is deployed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from polymarket._internal.wallet import derive_proxy_wallet_address, derive_safe_wallet_address
from polymarket.environments import PRODUCTION

ORDER_VERSION_MISMATCH = "order_version_mismatch"
MAKER_NOT_ALLOWED = "maker address not allowed, please use the deposit wallet flow"
V1_ONLY_FIELDS = ("taker", "nonce", "feeRateBps")
V2_FIELDS = ("timestamp", "metadata", "builder")
EOA, POLY_PROXY, POLY_GNOSIS_SAFE, POLY_1271 = 0, 1, 2, 3
DERIVATION = PRODUCTION._config.wallet_derivation  # the SDK's (production's factories)


@dataclass(frozen=True, slots=True)
class NewAccounts:
    """The scenario's `new_accounts`: which signers opened their account after CLOB V2."""

    addresses: frozenset[str] = frozenset()
    everyone: bool = False

    @classmethod
    def parse(cls, raw: Any) -> NewAccounts:
        if raw in (None, False, "", []):
            return cls()
        if raw is True or raw == "all":
            return cls(everyone=True)
        if isinstance(raw, list | tuple) and all(_is_address(a) for a in raw):
            return cls(addresses=frozenset(str(a).lower() for a in raw))
        raise ValueError("'new_accounts' is \"all\" or a list of 0x addresses")

    def __contains__(self, address: object) -> bool:
        return self.everyone or str(address).lower() in self.addresses


def version_problem(order: Any) -> str | None:
    """Production's error for a V1-signed order (it refuses the whole request), or None."""
    if not isinstance(order, Mapping):
        return None  # the payload checks answer a malformed order
    v1 = any(name in order for name in V1_ONLY_FIELDS)
    if v1 or not all(name in order for name in V2_FIELDS):
        return ORDER_VERSION_MISMATCH
    return None


def maker_problem(new_accounts: NewAccounts, *, signer: str, signature_type: int) -> str | None:
    """A new account's EOA, proxy or Safe order is refused (it must use its deposit wallet),
    or None."""
    if signature_type != POLY_1271 and signer in new_accounts:
        return MAKER_NOT_ALLOWED
    return None


def legacy_wallet(signer: str, signature_type: int) -> str | None:
    """The proxy (type 1) or Safe (type 2) the exchange derives for `signer`; None for the
    other types."""
    if signature_type == POLY_PROXY:
        return derive_proxy_wallet_address(signer, DERIVATION)
    if signature_type == POLY_GNOSIS_SAFE:
        return derive_safe_wallet_address(signer, DERIVATION)
    return None


def legacy_maker_problem(*, signer: str, maker: str, signature_type: int) -> str | None:
    """Why a proxy or Safe order's maker is not the signer's wallet (the exchange's signature
    check fails), or None."""
    owned = legacy_wallet(signer, signature_type)
    if owned is None or owned.lower() == maker.lower():
        return None
    kind = "proxy" if signature_type == POLY_PROXY else "Safe"
    return f"invalid signature: {maker} is not the signer's {kind} wallet"


def _is_address(value: object) -> bool:
    text = str(value)
    if len(text) != 42 or not text.startswith("0x"):
        return False
    try:
        int(text[2:], 16)
    except ValueError:
        return False
    return True


__all__ = [
    "MAKER_NOT_ALLOWED",
    "ORDER_VERSION_MISMATCH",
    "NewAccounts",
    "legacy_maker_problem",
    "legacy_wallet",
    "maker_problem",
    "version_problem",
]

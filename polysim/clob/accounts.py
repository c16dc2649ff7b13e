"""Production's account rules since CLOB V2, checked on every posted order before its
signature is (`orders.py`).

- V1 orders: the wire form of an order signed by the old `py-clob-client` carries `taker`,
  `nonce` and `feeRateBps` and no `timestamp`; production answers such an order (or a batch
  holding one, `orders.py` raises it as an `ApiError`) `400 {"error": "order_version_mismatch"}`.
- New accounts: an account created after the migration must trade through a deposit wallet
  (signature type 3). Its EOA orders (type 0, maker = signer) are refused with production's
  words: `400 {"error": "maker address not allowed, please use the deposit wallet flow"}`.
  Which accounts are "new" is the scenario's `new_accounts`: a list of signer addresses, or
  `"all"`; absent or empty, every account is a legacy one and EOA orders still work.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ORDER_VERSION_MISMATCH = "order_version_mismatch"
MAKER_NOT_ALLOWED = "maker address not allowed, please use the deposit wallet flow"
V1_ONLY_FIELDS = ("taker", "nonce", "feeRateBps")
V2_FIELDS = ("timestamp", "metadata", "builder")
EOA = 0


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
    """A new account's EOA order is refused (it must use its deposit wallet), or None."""
    if signature_type == EOA and signer in new_accounts:
        return MAKER_NOT_ALLOWED
    return None


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
    "maker_problem",
    "version_problem",
]

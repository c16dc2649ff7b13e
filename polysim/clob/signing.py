"""EIP-712 on the venue side: parse a signed order, hash it, check who signed it.

The order id is the EIP-712 digest of the order struct under the exchange's domain
("Polymarket CTF Exchange", version "2", chain 137, the standard or neg-risk exchange), the
same typed data the SDK signs. Deposit-wallet orders (signature type 3) are signed as an
ERC-7739 `TypedDataSign` wrapping the order, with a trailer after the 65-byte signature; the
order id is still the plain order digest. L1 API-key requests sign a `ClobAuth` message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from eth_account import Account
from eth_account.messages import SignableMessage, encode_typed_data
from eth_utils.crypto import keccak

from trader.domain import Side

SCALE = Decimal(1_000_000)  # amounts are integers with six implied decimals
ZERO_BYTES32 = "0x" + "00" * 32
CLOB_AUTH_MESSAGE = "This message attests that I control the given wallet"
POLY_1271 = 3
_V2_RESERVED_BITS = ((1 << 64) - 1) << 40

_DOMAIN_FIELDS = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]
_ORDER_FIELDS = [
    {"name": "salt", "type": "uint256"},
    {"name": "maker", "type": "address"},
    {"name": "signer", "type": "address"},
    {"name": "tokenId", "type": "uint256"},
    {"name": "makerAmount", "type": "uint256"},
    {"name": "takerAmount", "type": "uint256"},
    {"name": "side", "type": "uint8"},
    {"name": "signatureType", "type": "uint8"},
    {"name": "timestamp", "type": "uint256"},
    {"name": "metadata", "type": "bytes32"},
    {"name": "builder", "type": "bytes32"},
]
_TYPED_DATA_SIGN_FIELDS = [
    {"name": "contents", "type": "Order"},
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
    {"name": "salt", "type": "bytes32"},
]


class OrderPayloadError(ValueError):
    """The signed order is malformed (missing field, bad number, bad address)."""


@dataclass(frozen=True, slots=True)
class SignedOrder:
    salt: int
    maker: str
    signer: str
    token_id: str
    maker_amount: int
    taker_amount: int
    side: Side
    expiration: int
    signature_type: int
    timestamp: int
    metadata: str
    builder: str
    signature: str

    @property
    def price(self) -> Decimal:
        """USDC per share implied by the amounts (exact, possibly off the tick grid)."""
        if self.side is Side.BUY:
            return Decimal(self.maker_amount) / Decimal(self.taker_amount)
        return Decimal(self.taker_amount) / Decimal(self.maker_amount)

    @property
    def size(self) -> Decimal:
        """Shares."""
        shares = self.taker_amount if self.side is Side.BUY else self.maker_amount
        return Decimal(shares) / SCALE

    @property
    def collateral(self) -> Decimal:
        usdc = self.maker_amount if self.side is Side.BUY else self.taker_amount
        return Decimal(usdc) / SCALE


@dataclass(frozen=True, slots=True)
class Domain:
    chain_id: int
    exchange: str
    version: str = "2"


def parse_signed_order(raw: Any) -> SignedOrder:
    if not isinstance(raw, Mapping):
        raise OrderPayloadError("order must be an object")
    try:
        side = Side(str(raw["side"]).upper())
        order = SignedOrder(
            salt=int(raw["salt"]),
            maker=_address(raw["maker"]),
            signer=_address(raw["signer"]),
            token_id=str(int(str(raw["tokenId"]))),
            maker_amount=int(str(raw["makerAmount"])),
            taker_amount=int(str(raw["takerAmount"])),
            side=side,
            expiration=int(str(raw.get("expiration", "0"))),
            signature_type=int(raw.get("signatureType", 0)),
            timestamp=int(str(raw.get("timestamp", "0"))),
            metadata=_bytes32(raw.get("metadata", ZERO_BYTES32)),
            builder=_bytes32(raw.get("builder", ZERO_BYTES32)),
            signature=str(raw["signature"]),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise OrderPayloadError(f"invalid order payload: {error}") from error
    if order.maker_amount <= 0 or order.taker_amount <= 0:
        raise OrderPayloadError("invalid order payload: amounts must be positive")
    return order


def is_v2_position_id(token_id: str) -> bool:
    """Protocol v2 position ids leave bits 40..103 clear; they trade on the v3 exchange."""
    return (int(token_id) & _V2_RESERVED_BITS) == 0


def order_typed_data(order: SignedOrder, domain: Domain) -> dict[str, Any]:
    return {
        "types": {"EIP712Domain": _DOMAIN_FIELDS, "Order": _ORDER_FIELDS},
        "primaryType": "Order",
        "domain": _domain(domain),
        "message": _order_message(order),
    }


def order_hash(order: SignedOrder, domain: Domain) -> str:
    """The order id: the EIP-712 digest of the order struct."""
    return "0x" + _digest(encode_typed_data(full_message=order_typed_data(order, domain))).hex()


def recover_order_signer(order: SignedOrder, domain: Domain) -> str | None:
    """The address whose key produced the order's signature, or None if it cannot be read."""
    return hash_and_recover(order, domain)[1]


def hash_and_recover(order: SignedOrder, domain: Domain) -> tuple[str, str | None]:
    """(order id, recovered signer or None), encoding the typed data once where possible."""
    plain = encode_typed_data(full_message=order_typed_data(order, domain))
    order_id = "0x" + _digest(plain).hex()
    try:
        raw = bytes.fromhex(_strip(order.signature))
        signable = plain
        if order.signature_type == POLY_1271:
            signable = encode_typed_data(full_message=_typed_data_sign(order, domain))
            raw = raw[:65]
        return order_id, str(Account.recover_message(signable, signature=raw))
    except (ValueError, TypeError):
        return order_id, None


def recover_clob_auth_signer(
    *, address: str, signature: str, timestamp: str, nonce: int, chain_id: int
) -> str | None:
    typed = {
        "domain": {"name": "ClobAuthDomain", "version": "1", "chainId": chain_id},
        "types": {
            "EIP712Domain": _DOMAIN_FIELDS[:3],
            "ClobAuth": [
                {"name": "address", "type": "address"},
                {"name": "timestamp", "type": "string"},
                {"name": "nonce", "type": "uint256"},
                {"name": "message", "type": "string"},
            ],
        },
        "primaryType": "ClobAuth",
        "message": {
            "address": address,
            "timestamp": timestamp,
            "nonce": nonce,
            "message": CLOB_AUTH_MESSAGE,
        },
    }
    try:
        signable = encode_typed_data(full_message=typed)
        return str(Account.recover_message(signable, signature=bytes.fromhex(_strip(signature))))
    except (ValueError, TypeError):
        return None


def _typed_data_sign(order: SignedOrder, domain: Domain) -> dict[str, Any]:
    return {
        "types": {
            "EIP712Domain": _DOMAIN_FIELDS,
            "Order": _ORDER_FIELDS,
            "TypedDataSign": _TYPED_DATA_SIGN_FIELDS,
        },
        "primaryType": "TypedDataSign",
        "domain": _domain(domain),
        "message": {
            "contents": _order_message(order),
            "name": "DepositWallet",
            "version": "1",
            "chainId": domain.chain_id,
            "verifyingContract": order.signer,
            "salt": ZERO_BYTES32,
        },
    }


def _domain(domain: Domain) -> dict[str, Any]:
    return {
        "name": "Polymarket CTF Exchange",
        "version": domain.version,
        "chainId": domain.chain_id,
        "verifyingContract": domain.exchange,
    }


def _order_message(order: SignedOrder) -> dict[str, Any]:
    return {
        "salt": order.salt,
        "maker": order.maker,
        "signer": order.signer,
        "tokenId": int(order.token_id),
        "makerAmount": order.maker_amount,
        "takerAmount": order.taker_amount,
        "side": 0 if order.side is Side.BUY else 1,
        "signatureType": order.signature_type,
        "timestamp": order.timestamp,
        "metadata": order.metadata,
        "builder": order.builder,
    }


def _digest(message: SignableMessage) -> bytes:
    return keccak(b"\x19" + message.version + message.header + message.body)


def _address(value: Any) -> str:
    text = str(value)
    if len(text) != 42 or not text.startswith("0x"):
        raise ValueError(f"bad address {text!r}")
    int(text[2:], 16)
    return text


def _bytes32(value: Any) -> str:
    text = str(value)
    if len(text) != 66 or not text.startswith("0x"):
        raise ValueError(f"bad bytes32 {text!r}")
    int(text[2:], 16)
    return text


def _strip(value: str) -> str:
    return value[2:] if value.startswith(("0x", "0X")) else value


__all__ = [
    "POLY_1271",
    "SCALE",
    "Domain",
    "OrderPayloadError",
    "SignedOrder",
    "hash_and_recover",
    "is_v2_position_id",
    "order_hash",
    "order_typed_data",
    "parse_signed_order",
    "recover_clob_auth_signer",
    "recover_order_signer",
]

"""A V1-signed order, as the retired `py-clob-client` made it (not installed here).

Built from its published typed data with eth-account's primitives: the V1 `Order` struct
(`salt, maker, signer, taker, tokenId, makerAmount, takerAmount, expiration, nonce, feeRateBps,
side, signatureType`) under the V1 domain ("Polymarket CTF Exchange", version "1", chain 137,
the V1 exchange contract), and the wire body that client posted to `POST /order`. Production
answers it `400 {"error": "order_version_mismatch"}` since CLOB V2.
"""

from __future__ import annotations

import json
import secrets
from decimal import Decimal

from eth_account import Account
from eth_account.messages import encode_typed_data

V1_EXCHANGE = "0x4bFb41d5B3570DeFd03C39a9A4D8dE6Bd8B8982E"
ZERO_ADDRESS = "0x" + "00" * 20
_ORDER_V1 = [
    {"name": "salt", "type": "uint256"},
    {"name": "maker", "type": "address"},
    {"name": "signer", "type": "address"},
    {"name": "taker", "type": "address"},
    {"name": "tokenId", "type": "uint256"},
    {"name": "makerAmount", "type": "uint256"},
    {"name": "takerAmount", "type": "uint256"},
    {"name": "expiration", "type": "uint256"},
    {"name": "nonce", "type": "uint256"},
    {"name": "feeRateBps", "type": "uint256"},
    {"name": "side", "type": "uint8"},
    {"name": "signatureType", "type": "uint8"},
]
_DOMAIN = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]


def v1_signed_buy(
    private_key: str, token_id: str, *, price: Decimal, size: Decimal, chain_id: int = 137
) -> dict[str, object]:
    """A V1 limit BUY signed by an EOA (signature type 0), in py-clob-client's wire form."""
    signer = Account.from_key(private_key)
    maker_amount = int(price * size * 1_000_000)
    taker_amount = int(size * 1_000_000)
    message = {
        "salt": secrets.randbelow(2**32),
        "maker": signer.address,
        "signer": signer.address,
        "taker": ZERO_ADDRESS,
        "tokenId": int(token_id),
        "makerAmount": maker_amount,
        "takerAmount": taker_amount,
        "expiration": 0,
        "nonce": 0,
        "feeRateBps": 0,
        "side": 0,
        "signatureType": 0,
    }
    typed = {
        "types": {"EIP712Domain": _DOMAIN, "Order": _ORDER_V1},
        "primaryType": "Order",
        "domain": {
            "name": "Polymarket CTF Exchange",
            "version": "1",
            "chainId": chain_id,
            "verifyingContract": V1_EXCHANGE,
        },
        "message": message,
    }
    signed = Account.sign_message(encode_typed_data(full_message=typed), private_key)
    return {
        **{name: str(value) for name, value in message.items() if name != "side"},
        "salt": message["salt"],
        "side": "BUY",
        "signatureType": 0,
        "signature": "0x" + signed.signature.hex().removeprefix("0x"),
    }


def v1_order_body(order: dict[str, object], owner: str, order_type: str = "GTC") -> str:
    """The `POST /order` body py-clob-client sent (compact, as it was signed for L2)."""
    return json.dumps(
        {"order": order, "owner": owner, "orderType": order_type}, separators=(",", ":")
    )


__all__ = ["V1_EXCHANGE", "v1_order_body", "v1_signed_buy"]

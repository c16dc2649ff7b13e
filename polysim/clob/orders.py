"""Turn a posted order (`{order, owner, orderType, postOnly}`) into a checked PlaceRequest.

As the venue does: the owner must be the API key that signed the request; the order id is
its EIP-712 hash under the exchange the market trades on; the signature must recover to the
order's signer, which must be the API key's address (for deposit wallets, signature type 3,
the ECDSA part of the ERC-7739 signature must); an EOA order's maker is its signer, a proxy or
Safe order's (types 1, 2) the signer's proxy or Safe as the exchange derives it (`accounts.py`);
the same signed order is accepted once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from polysim.clob.accounts import legacy_maker_problem, maker_problem, version_problem
from polysim.clob.auth import ApiKey
from polysim.clob.context import ApiError, SimContext
from polysim.clob.model import OrderRejected, PlaceRequest, SimMarket
from polysim.clob.signing import (
    POLY_1271,
    Domain,
    OrderPayloadError,
    SignedOrder,
    hash_and_recover,
    is_v2_position_id,
    parse_signed_order,
)
from trader.domain import OrderType

EOA = 0


def decode_order(
    ctx: SimContext, key: ApiKey, item: Any, *, deployed: Callable[[str], bool] | None = None
) -> PlaceRequest:
    """`deployed(wallet)`: whether a deposit wallet exists on chain (the relayer knows); an
    order made by one that does not cannot pass its ERC-1271 signature check."""
    if not isinstance(item, dict):
        raise OrderRejected("INVALID_ORDER_PAYLOAD", "invalid payload: an order object is required")
    if item.get("owner") != key.key:
        raise OrderRejected(
            "INVALID_ORDER_PAYLOAD", "the order owner has to be the same as the API KEY"
        )
    refused = version_problem(item.get("order"))
    if refused is not None:
        raise ApiError(400, refused)
    try:
        signed = parse_signed_order(item.get("order"))
        order_type = OrderType(str(item.get("orderType", "GTC")).upper())
    except (OrderPayloadError, ValueError) as error:
        raise OrderRejected("INVALID_ORDER_PAYLOAD", str(error)) from error
    market = ctx.exchange.market_for_token(signed.token_id)
    if market is None:
        raise OrderRejected("MARKET_NOT_FOUND", f"market for token {signed.token_id} not found")
    order_id, recovered = hash_and_recover(signed, order_domain(ctx, market, signed.token_id))
    if order_id in ctx.exchange.orders:
        raise OrderRejected("INVALID_ORDER_DUPLICATED", f"order {order_id} is invalid. Duplicated.")
    _check_signature(signed, recovered, key)
    refused = maker_problem(
        ctx.scenario.new_accounts, signer=key.address, signature_type=signed.signature_type
    )
    if refused is not None:
        raise ApiError(400, refused)
    refused = legacy_maker_problem(
        signer=signed.signer, maker=signed.maker, signature_type=signed.signature_type
    )
    if refused is not None:
        raise OrderRejected("INVALID_ORDER_SIGNATURE", refused)
    if signed.signature_type == POLY_1271 and deployed is not None and not deployed(signed.maker):
        raise OrderRejected(
            "INVALID_ORDER_SIGNATURE",
            f"invalid signature: the deposit wallet {signed.maker} is not deployed",
        )
    ctx.funders[key.address.lower()] = signed.maker
    return PlaceRequest(
        order_id=order_id,
        token_id=signed.token_id,
        side=signed.side,
        price=signed.price,
        size=signed.size,
        order_type=order_type,
        owner=key.key,
        address=signed.maker,
        collateral=signed.collateral,
        expiration=signed.expiration,
        post_only=bool(item.get("postOnly", False)),
    )


def order_domain(ctx: SimContext, market: SimMarket, token_id: str) -> Domain:
    scenario = ctx.scenario
    if is_v2_position_id(token_id):
        return Domain(scenario.chain_id, scenario.exchange_v3, version="3")
    exchange = scenario.neg_risk_exchange if market.spec.neg_risk else scenario.exchange
    return Domain(scenario.chain_id, exchange)


def _check_signature(signed: SignedOrder, recovered: str | None, key: ApiKey) -> None:
    if recovered is None or recovered.lower() != key.address.lower():
        raise OrderRejected(
            "INVALID_ORDER_SIGNATURE",
            "invalid signature: the order is not signed by the API key's address",
        )
    if signed.signature_type != POLY_1271 and signed.signer.lower() != recovered.lower():
        raise OrderRejected("INVALID_ORDER_SIGNATURE", "invalid signature: signer mismatch")
    if signed.signature_type == EOA and signed.maker.lower() != signed.signer.lower():
        raise OrderRejected(
            "INVALID_ORDER_PAYLOAD", "invalid order: an EOA order's maker must be its signer"
        )


__all__ = ["decode_order", "order_domain"]

"""SDK values to domain values, and the signed order's id and wire form.

The SDK (`polymarket-client` 0.14.0) returns typed pydantic models. Orders and trades are put
back into their wire shape and read by the same pure functions the recorded fixtures test
(`trader.venue.parsing.rest`), so "which fills are ours" and "which status is this" have one
definition. Books and Gamma markets map directly.

The order id is the EIP-712 digest of the order struct under the exchange's domain
("Polymarket CTF Exchange", version "2"): the venue's orderID. The SDK signs it but does not
expose the digest, so it is recomputed here from the signed order and the exchange the SDK
chose (neg-risk markets and protocol-v2 position ids trade on other exchange contracts).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from eth_account.messages import encode_typed_data
from eth_utils.crypto import keccak
from polymarket import ClobTrade, OpenOrder, OrderBook, SignedOrder
from polymarket import Market as GammaMarket
from polymarket.models.data.portfolio import Position as DataPosition

from trader.domain import (
    NO_FEES,
    UNSTATED_FEES,
    ZERO,
    Book,
    BookLevel,
    FeeSchedule,
    Fill,
    Market,
    Order,
    OutcomeToken,
    Position,
)
from trader.venue.parsing.rest import (
    AccountIdentity,
    parse_order,
    parse_seconds_delay,
    parse_trade,
)

COLLATERAL_SCALE = Decimal(1_000_000)  # pUSD and share amounts have six implied decimals
_V2_RESERVED_BITS = ((1 << 64) - 1) << 40
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
_DOMAIN_FIELDS = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]


# --- books and markets ---------------------------------------------------------------------


def book_from_sdk(book: OrderBook, *, received_at: datetime) -> Book:
    """SDK levels are best-last (as on the wire); the domain's are best-first."""
    return Book(
        token_id=book.asset_id,
        bids=tuple(
            BookLevel(lvl.price, lvl.size)
            for lvl in sorted(book.bids, key=lambda lvl: lvl.price, reverse=True)
            if lvl.size > ZERO
        ),
        asks=tuple(
            BookLevel(lvl.price, lvl.size)
            for lvl in sorted(book.asks, key=lambda lvl: lvl.price)
            if lvl.size > ZERO
        ),
        timestamp=book.timestamp or received_at,
        tick_size=book.tick_size,
        min_order_size=book.min_order_size,
        market=book.market,
        hash=book.hash,
    )


def market_from_gamma(market: GammaMarket) -> Market | None:
    """A tradable binary market, or None when Gamma lacks its condition id or token ids."""
    yes, no = market.outcomes.yes, market.outcomes.no
    if not market.condition_id or not yes.token_id or not no.token_id:
        return None
    state, trading, metrics = market.state, market.trading, market.metrics
    return Market(
        condition_id=market.condition_id,
        question=market.question or "",
        tokens=(OutcomeToken(yes.token_id, yes.label), OutcomeToken(no.token_id, no.label)),
        end_date=state.end_date,
        active=state.active if state.active is not None else True,
        closed=bool(state.closed),
        accepting_orders=state.accepting_orders if state.accepting_orders is not None else True,
        tick_size=trading.minimum_tick_size or Decimal("0.01"),
        min_order_size=trading.minimum_order_size or Decimal(5),
        neg_risk=bool(state.neg_risk),
        event_id=str(market.events[0].id) if state.neg_risk and market.events else "",
        volume=metrics.volume_num or metrics.volume or ZERO,
        liquidity=metrics.liquidity_num or metrics.liquidity or ZERO,
        slug=market.slug or "",
        description=market.description or "",
        fees=fees_from_gamma(trading),
        seconds_delay=parse_seconds_delay(trading.seconds_delay),
    )


def fees_from_gamma(trading: Any) -> FeeSchedule:
    """Gamma's `feesEnabled` and `feeSchedule` (the SDK's `MarketTrading`) as our schedule.
    A market that says fees are off charges nothing; one that states no schedule (fees enabled
    or not said) is `UNSTATED_FEES`, which sizing refuses rather than guess a rate."""
    schedule = trading.fee_schedule
    if trading.fees_enabled is False:
        return NO_FEES
    if schedule is None:
        return UNSTATED_FEES
    return FeeSchedule(
        rate=Decimal(schedule.rate),
        exponent=int(schedule.exponent),
        taker_only=bool(schedule.taker_only),
        rebate_rate=Decimal(schedule.rebate_rate),
    )


# --- orders, trades, positions -------------------------------------------------------------


def order_from_sdk(order: OpenOrder, *, client_order_id: str | None = None) -> Order:
    payload = {
        "id": order.id,
        "status": order.status,
        "market": order.market,
        "asset_id": order.asset_id,
        "side": order.side,
        "price": order.price,
        "original_size": order.original_size,
        "size_matched": order.size_matched,
        "outcome": order.outcome,
        "order_type": order.order_type,
        "created_at": order.created_at,
    }
    return parse_order(payload, client_order_id=client_order_id)


def fills_from_sdk(
    trade: ClobTrade, identity: AccountIdentity, *, fee_exponent: int = 1
) -> tuple[Fill, ...]:
    payload: dict[str, Any] = {
        "id": trade.id,
        "taker_order_id": trade.taker_order_id,
        "market": trade.market,
        "asset_id": trade.asset_id,
        "side": trade.side,
        "size": trade.size,
        "price": trade.price,
        "fee_rate_bps": trade.fee_rate_bps,
        "status": trade.status,
        "match_time": trade.matched_at,
        "trader_side": trade.trader_side,
        "maker_orders": [
            {
                "order_id": m.order_id,
                "owner": m.owner,
                "maker_address": m.maker_address,
                "asset_id": m.asset_id,
                "side": m.side,
                "price": m.price,
                "matched_amount": m.matched_amount,
                "fee_rate_bps": m.fee_rate_bps,
            }
            for m in trade.maker_orders
        ],
    }
    return parse_trade(payload, identity, fee_exponent=fee_exponent)


def position_from_sdk(position: DataPosition) -> Position:
    return Position(
        token_id=position.asset_id,
        size=position.current_size,
        average_price=position.avg_price,
        market=position.condition_id,
        outcome=position.outcome or "",
        realized_pnl=position.realized_pnl,
    )


# --- signed orders -------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class ExchangeDomain:
    chain_id: int
    exchange: str
    neg_risk_exchange: str
    exchange_v3: str

    @classmethod
    def from_addresses(cls, addresses: Mapping[str, str]) -> ExchangeDomain:
        """From `trader.venue.polymarket.sdk_env.exchange_addresses(environment)`."""
        return cls(
            chain_id=int(addresses["chain_id"]),
            exchange=addresses["exchange"],
            neg_risk_exchange=addresses["neg_risk_exchange"],
            exchange_v3=addresses["exchange_v3"],
        )

    def verifying_contract(self, token_id: str, *, neg_risk: bool) -> str:
        if (int(token_id) & _V2_RESERVED_BITS) == 0:
            return self.exchange_v3
        return self.neg_risk_exchange if neg_risk else self.exchange


def order_hash(signed: SignedOrder, domain: ExchangeDomain, *, neg_risk: bool) -> str:
    """The venue's order id: the EIP-712 digest of the signed order's struct."""
    typed = {
        "types": {"EIP712Domain": _DOMAIN_FIELDS, "Order": _ORDER_FIELDS},
        "primaryType": "Order",
        "domain": {
            "name": "Polymarket CTF Exchange",
            "version": "2",
            "chainId": domain.chain_id,
            "verifyingContract": domain.verifying_contract(signed.token_id, neg_risk=neg_risk),
        },
        "message": {
            "salt": signed.salt,
            "maker": signed.maker,
            "signer": signed.signer,
            "tokenId": int(signed.token_id),
            "makerAmount": signed.maker_amount,
            "takerAmount": signed.taker_amount,
            "side": 0 if signed.side == "BUY" else 1,
            "signatureType": signed.signature_type,
            "timestamp": signed.timestamp,
            "metadata": signed.metadata,
            "builder": signed.builder,
        },
    }
    message = encode_typed_data(full_message=typed)
    return "0x" + keccak(b"\x19" + message.version + message.header + message.body).hex()


def signed_to_json(signed: SignedOrder) -> str:
    """The signed order as stored before sending (public data: no key material)."""
    return json.dumps(dataclasses.asdict(signed), sort_keys=True, separators=(",", ":"))


def signed_from_json(payload: str) -> SignedOrder:
    return SignedOrder(**json.loads(payload))

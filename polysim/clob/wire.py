"""CLOB REST and WebSocket payloads in the venue's shapes (checked against the fixture corpus
and the official SDK's parsers).

Conventions the SDK depends on: prices and sizes are decimal strings; book and WebSocket
`timestamp`s are epoch milliseconds as strings; order `created_at` and trade `match_time` /
`last_update` are epoch seconds; book levels are best-last (bids ascending, asks descending).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from decimal import Decimal
from typing import Any

from polysim.clob.model import (
    BookChanged,
    MarketResolved,
    OrderChanged,
    SimMarket,
    SimOrder,
    SimTrade,
    TickSizeChanged,
    TradeChanged,
    TradeLeg,
    TradePrinted,
)
from trader.domain import Side

Json = dict[str, Any]


def dec(value: Decimal) -> str:
    """A plain decimal string without exponent or trailing zeros."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def ms(when: datetime) -> str:
    return str(int(when.timestamp() * 1000))


def secs(when: datetime) -> str:
    return str(int(when.timestamp()))


def _status(value: str, prefix: str, prefixed: bool) -> str:
    return f"{prefix}{value}" if prefixed else value


# --- orders and trades -------------------------------------------------------------------


def order_json(order: SimOrder, *, prefixed: bool = False) -> Json:
    return {
        "id": order.order_id,
        "status": _status(order.status.value, "ORDER_STATUS_", prefixed),
        "owner": order.owner,
        "maker_address": order.address,
        "market": order.market,
        "asset_id": order.token_id,
        "side": order.side.value,
        "original_size": dec(order.original_size),
        "size_matched": dec(order.size_matched),
        "price": dec(order.price),
        "outcome": order.outcome,
        "expiration": str(order.expiration),
        "order_type": order.order_type.value,
        "associate_trades": list(order.associate_trades),
        "created_at": int(order.created_at.timestamp()),
    }


def order_event_json(event: OrderChanged) -> Json:
    body = order_json(event.order)
    body.update(
        event_type="order",
        type=event.kind,
        order_owner=event.order.owner,
        created_at=secs(event.order.created_at),
        timestamp=ms(event.at),
    )
    return body


def trade_json(trade: SimTrade, viewers: set[str], *, prefixed: bool = False) -> Json:
    """A trade as `viewers` (API keys of one account) see it: as taker, or as the maker."""
    as_taker = trade.taker.owner in viewers
    mine = trade.taker if as_taker else trade.maker
    return {
        "id": trade.trade_id,
        "taker_order_id": trade.taker.order_id,
        "market": trade.market,
        "asset_id": trade.taker.token_id,
        "side": trade.taker.side.value,
        "size": dec(trade.size),
        "fee_rate_bps": str(trade.fee_rate_bps),
        "price": dec(trade.taker.price),
        "status": _status(trade.status.value, "TRADE_STATUS_", prefixed),
        "match_time": secs(trade.match_time),
        "last_update": secs(trade.last_update or trade.match_time),
        "outcome": trade.taker.outcome,
        "bucket_index": 0,
        "owner": mine.owner,
        "maker_address": mine.address,
        "transaction_hash": trade.transaction_hash,
        "trader_side": "TAKER" if as_taker else "MAKER",
        "maker_orders": [_maker_order(trade.maker, trade)],
    }


def trade_event_json(event: TradeChanged) -> Json:
    body = trade_json(event.trade, {event.owner})
    body.update(
        event_type="trade",
        type="TRADE",
        trade_owner=body["owner"],
        timestamp=ms(event.at),
    )
    return body


def _maker_order(leg: TradeLeg, trade: SimTrade) -> Json:
    return {
        "order_id": leg.order_id,
        "owner": leg.owner,
        "maker_address": leg.address,
        "matched_amount": dec(trade.size),
        "price": dec(leg.price),
        "fee_rate_bps": "0",
        "asset_id": leg.token_id,
        "outcome": leg.outcome,
        "side": leg.side.value,
    }


# --- books and market data ---------------------------------------------------------------


def book_json(market: SimMarket, token_id: str, now: datetime) -> Json:
    """`GET /book` in the venue's key order, with its `hash` (see `book_hash`)."""
    bids, asks = market.levels(token_id)
    body: Json = {
        "market": market.condition_id,
        "asset_id": token_id,
        "timestamp": ms(now),
        "hash": "",
        "bids": [{"price": dec(p), "size": dec(s)} for p, s in reversed(bids)],
        "asks": [{"price": dec(p), "size": dec(s)} for p, s in reversed(asks)],
        "min_order_size": dec(market.spec.min_order_size),
        "tick_size": dec(market.tick_size),
        "neg_risk": market.spec.neg_risk,
        "last_trade_price": _last_trade(market, token_id),
    }
    body["hash"] = book_hash(body)
    return body


BOOK_HASH_FIELDS = (
    "market",
    "asset_id",
    "timestamp",
    "hash",
    "bids",
    "asks",
    "min_order_size",
    "tick_size",
    "neg_risk",
    "last_trade_price",
)


def book_hash(book: Json) -> str:
    """The venue's book hash, as py-clob-client-v2's `generate_orderbook_summary_hash`
    recomputes it ("server-compatible"): SHA-1 of the compact JSON of the book's fields in
    `BOOK_HASH_FIELDS` order, `hash` set to "" while hashing, levels as `{price, size}`.
    (The official SDK carries `hash` as an opaque string and never recomputes it.)"""
    payload = {name: ("" if name == "hash" else book.get(name)) for name in BOOK_HASH_FIELDS}
    payload["bids"] = [{"price": lv["price"], "size": lv["size"]} for lv in book["bids"]]
    payload["asks"] = [{"price": lv["price"], "size": lv["size"]} for lv in book["asks"]]
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha1(text.encode()).hexdigest()  # noqa: S324 - the venue's change marker


def book_event_json(market: SimMarket, token_id: str, now: datetime) -> Json:
    body = book_json(market, token_id, now)
    body["event_type"] = "book"
    return body


def price_change_json(event: BookChanged, assets: set[str]) -> Json | None:
    changes = [
        {
            "asset_id": c.token_id,
            "price": dec(c.price),
            "size": dec(c.size),
            "side": c.side.value,
            "hash": hashlib.sha1(  # noqa: S324 - a change marker, not security
                f"{c.token_id}{c.price}{c.size}{event.at}".encode()
            ).hexdigest(),
            "best_bid": "" if c.best_bid is None else dec(c.best_bid),
            "best_ask": "" if c.best_ask is None else dec(c.best_ask),
        }
        for c in event.changes
        if c.token_id in assets
    ]
    if not changes:
        return None
    return {
        "event_type": "price_change",
        "market": event.market,
        "price_changes": changes,
        "timestamp": ms(event.at),
    }


def best_bid_ask_json(market: SimMarket, token_id: str, now: datetime) -> Json:
    bid, ask = market.best(token_id)
    return {
        "event_type": "best_bid_ask",
        "market": market.condition_id,
        "asset_id": token_id,
        "best_bid": "" if bid is None else dec(bid),
        "best_ask": "" if ask is None else dec(ask),
        "spread": "" if bid is None or ask is None else dec(ask - bid),
        "timestamp": ms(now),
    }


def last_trade_json(event: TradePrinted) -> Json:
    return {
        "event_type": "last_trade_price",
        "market": event.market,
        "asset_id": event.token_id,
        "price": dec(event.price),
        "side": event.side.value,
        "size": dec(event.size),
        "fee_rate_bps": str(event.fee_rate_bps),
        "transaction_hash": event.transaction_hash,
        "timestamp": ms(event.at),
    }


def tick_size_json(event: TickSizeChanged) -> Json:
    return {
        "event_type": "tick_size_change",
        "market": event.market,
        "asset_id": event.token_id,
        "old_tick_size": dec(event.old),
        "new_tick_size": dec(event.new),
        "timestamp": ms(event.at),
    }


def market_resolved_json(market: SimMarket, event: MarketResolved) -> Json:
    return {
        "event_type": "market_resolved",
        "id": market.spec.gamma_id,
        "market": event.market,
        "assets_ids": list(market.spec.token_ids),
        "winning_asset_id": event.winner or "",  # a 50/50 has no winning asset
        "winning_outcome": market.outcome(event.winner) if event.winner else "",
        "timestamp": ms(event.at),
        "tags": [],
    }


def current_price(market: SimMarket, token_id: str) -> Decimal:
    """Mid of the token's book, else the fair value; its payout (1, 0 or 0.5) once resolved."""
    if market.payouts is not None:
        return market.payouts.get(token_id, Decimal(0))
    bid, ask = market.best(token_id)
    if bid is not None and ask is not None:
        return (bid + ask) / 2
    fair = market.fair
    return fair if market.index(token_id) == 0 else 1 - fair


def _last_trade(market: SimMarket, token_id: str) -> str:
    last = market.last_trade.get(token_id)
    return "" if last is None else dec(last[0])


def last_trade_side(market: SimMarket, token_id: str) -> tuple[str, str]:
    last = market.last_trade.get(token_id)
    if last is None:
        return "0.5", ""
    price, side = last
    return dec(price), Side(side).value


__all__ = [
    "Json",
    "best_bid_ask_json",
    "book_event_json",
    "book_hash",
    "book_json",
    "current_price",
    "dec",
    "last_trade_json",
    "last_trade_side",
    "market_resolved_json",
    "ms",
    "order_event_json",
    "order_json",
    "price_change_json",
    "secs",
    "tick_size_json",
    "trade_event_json",
    "trade_json",
]

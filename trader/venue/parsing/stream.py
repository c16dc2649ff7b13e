"""Pure parsing of Polymarket WebSocket frames (market and user channels) to typed events.

A frame is text: one JSON object, a JSON array of objects, or plain text (`PONG`,
`NO NEW ASSETS`, `INVALID OPERATION`) which carries no event. Messages are told apart by
`event_type`, or by shape when it is absent (older recordings omit it).

`apply_price_change` keeps a local `Book` current from `price_change` deltas: a change gives the
new total size at one price level of one side (`BUY` = bids, `SELL` = asks); size 0 removes it.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from trader.domain import ZERO, Book, BookLevel, Fill, Order, Side
from trader.venue.parsing.rest import (
    AccountIdentity,
    ParseError,
    Payload,
    as_payloads,
    optional_decimal,
    parse_book,
    parse_order,
    parse_side,
    parse_timestamp,
    parse_trade,
    require_timestamp,
    to_decimal,
)

# --- market channel ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BookSnapshot:
    book: Book


@dataclass(frozen=True, slots=True)
class PriceChange:
    token_id: str
    side: Side  # BUY: a bid level changed; SELL: an ask level changed
    price: Decimal
    size: Decimal  # the level's new total size; 0 removes it
    timestamp: datetime
    market: str = ""
    best_bid: Decimal | None = None
    best_ask: Decimal | None = None
    hash: str = ""


@dataclass(frozen=True, slots=True)
class LastTradePrice:
    token_id: str
    price: Decimal
    size: Decimal
    side: Side | None
    timestamp: datetime
    market: str = ""


@dataclass(frozen=True, slots=True)
class TickSizeChange:
    token_id: str
    old_tick_size: Decimal | None
    new_tick_size: Decimal
    timestamp: datetime
    market: str = ""


@dataclass(frozen=True, slots=True)
class BestBidAsk:
    token_id: str
    best_bid: Decimal | None
    best_ask: Decimal | None
    timestamp: datetime
    market: str = ""


@dataclass(frozen=True, slots=True)
class MarketResolved:
    market: str
    token_ids: tuple[str, ...]
    winning_token_id: str
    winning_outcome: str
    timestamp: datetime


MarketEvent = (
    BookSnapshot | PriceChange | LastTradePrice | TickSizeChange | BestBidAsk | MarketResolved
)


def decode_frame(text: str | bytes) -> list[Payload]:
    """The JSON objects in one frame; plain-text frames (PONG, NO NEW ASSETS) give none."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    stripped = text.strip()
    if not stripped.startswith(("{", "[")):
        return []
    try:
        decoded: Any = json.loads(stripped)
    except json.JSONDecodeError as error:
        raise ParseError(f"frame is not JSON: {stripped[:80]!r}") from error
    return list(as_payloads(decoded))


def market_event_type(payload: Payload) -> str:
    explicit = str(payload.get("event_type") or "")
    if explicit:
        return explicit
    if "new_tick_size" in payload:
        return "tick_size_change"
    if "price_changes" in payload or "changes" in payload:
        return "price_change"
    if "bids" in payload or "asks" in payload or "buys" in payload:
        return "book"
    if "winning_asset_id" in payload:
        return "market_resolved"
    if "price" in payload and "size" in payload:
        return "last_trade_price"
    return ""


def parse_market_message(payload: Payload) -> list[MarketEvent]:
    """One market-channel object to its events (a price_change carries several)."""
    kind = market_event_type(payload)
    if kind == "book":
        return [BookSnapshot(parse_book(payload))]
    if kind == "price_change":
        return list(_price_changes(payload))
    if kind == "last_trade_price":
        return [_last_trade(payload)]
    if kind == "tick_size_change":
        return [_tick_size_change(payload)]
    if kind == "best_bid_ask":
        return [_best_bid_ask(payload)]
    if kind == "market_resolved":
        return [_market_resolved(payload)]
    return []  # new_market and future kinds carry nothing the trader uses


def parse_market_frame(text: str | bytes) -> list[MarketEvent]:
    return [event for payload in decode_frame(text) for event in parse_market_message(payload)]


def _price_changes(payload: Payload) -> list[PriceChange]:
    timestamp = require_timestamp(payload, "timestamp")
    market = str(payload.get("market") or "")
    if "price_changes" in payload:
        items = as_payloads(payload["price_changes"])
    elif "changes" in payload:  # older shape: one asset, a list of changes
        items = [{**change, "asset_id": payload.get("asset_id")} for change in payload["changes"]]
    else:  # oldest shape: one change inline
        items = [payload]
    return [
        PriceChange(
            token_id=str(item.get("asset_id") or ""),
            side=parse_side(item.get("side")),
            price=to_decimal(item.get("price"), "price"),
            size=to_decimal(item.get("size"), "size"),
            timestamp=timestamp,
            market=market,
            best_bid=optional_decimal(item.get("best_bid"), "best_bid"),
            best_ask=optional_decimal(item.get("best_ask"), "best_ask"),
            hash=str(item.get("hash") or ""),
        )
        for item in items
    ]


def _last_trade(payload: Payload) -> LastTradePrice:
    side = payload.get("side")
    return LastTradePrice(
        token_id=str(payload.get("asset_id") or ""),
        price=to_decimal(payload.get("price"), "price"),
        size=to_decimal(payload.get("size"), "size", default=ZERO),
        side=parse_side(side) if side else None,
        timestamp=require_timestamp(payload, "timestamp"),
        market=str(payload.get("market") or ""),
    )


def _tick_size_change(payload: Payload) -> TickSizeChange:
    return TickSizeChange(
        token_id=str(payload.get("asset_id") or ""),
        old_tick_size=optional_decimal(payload.get("old_tick_size"), "old_tick_size"),
        new_tick_size=to_decimal(payload.get("new_tick_size"), "new_tick_size"),
        timestamp=require_timestamp(payload, "timestamp"),
        market=str(payload.get("market") or ""),
    )


def _best_bid_ask(payload: Payload) -> BestBidAsk:
    return BestBidAsk(
        token_id=str(payload.get("asset_id") or ""),
        best_bid=optional_decimal(payload.get("best_bid"), "best_bid"),
        best_ask=optional_decimal(payload.get("best_ask"), "best_ask"),
        timestamp=require_timestamp(payload, "timestamp"),
        market=str(payload.get("market") or ""),
    )


def _market_resolved(payload: Payload) -> MarketResolved:
    return MarketResolved(
        market=str(payload.get("market") or ""),
        token_ids=tuple(str(t) for t in payload.get("assets_ids") or []),
        winning_token_id=str(payload.get("winning_asset_id") or ""),
        winning_outcome=str(payload.get("winning_outcome") or ""),
        timestamp=require_timestamp(payload, "timestamp"),
    )


def apply_price_change(book: Book, change: PriceChange) -> Book:
    """`book` with one level replaced (or removed when the new size is 0), best-first kept."""
    if change.token_id != book.token_id:
        raise ValueError(f"price change for {change.token_id} applied to {book.token_id}")
    bids_side = change.side is Side.BUY
    levels = [lvl for lvl in (book.bids if bids_side else book.asks) if lvl.price != change.price]
    if change.size > ZERO:
        levels.append(BookLevel(change.price, change.size))
    levels.sort(key=lambda lvl: lvl.price, reverse=bids_side)
    timestamp = max(book.timestamp, change.timestamp)
    if bids_side:
        return dataclasses.replace(book, bids=tuple(levels), timestamp=timestamp)
    return dataclasses.replace(book, asks=tuple(levels), timestamp=timestamp)


# --- user channel --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """A user-channel `order` message: PLACEMENT, UPDATE or CANCELLATION."""

    order: Order
    kind: str
    timestamp: datetime | None


@dataclass(frozen=True, slots=True)
class TradeUpdate:
    """A user-channel `trade` message: our fills in it (possibly several maker orders)."""

    trade_id: str
    fills: tuple[Fill, ...]


UserEvent = OrderUpdate | TradeUpdate


def user_event_type(payload: Payload) -> str:
    explicit = str(payload.get("event_type") or "").lower()
    if explicit:
        return explicit
    kind = str(payload.get("type") or "").upper()
    if kind == "TRADE" or "taker_order_id" in payload:
        return "trade"
    if kind in ("PLACEMENT", "UPDATE", "CANCELLATION") or "original_size" in payload:
        return "order"
    return ""


def parse_user_message(payload: Payload, identity: AccountIdentity) -> list[UserEvent]:
    kind = user_event_type(payload)
    if kind == "order":
        return [
            OrderUpdate(
                order=parse_order(payload),
                kind=str(payload.get("type") or "UPDATE").upper(),
                timestamp=parse_timestamp(payload.get("timestamp")),
            )
        ]
    if kind == "trade":
        return [TradeUpdate(str(payload.get("id") or ""), parse_trade(payload, identity))]
    return []


def parse_user_frame(text: str | bytes, identity: AccountIdentity) -> list[UserEvent]:
    return [e for payload in decode_frame(text) for e in parse_user_message(payload, identity)]

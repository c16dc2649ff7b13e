"""Parsing of WebSocket frames against the shared recorded corpus (skipped when it is absent)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from tests.support.corpus import OUR_ADDRESS, TOKEN, fixture, needs_corpus, raw
from trader.domain import Book, BookLevel, OrderStatus, Side, TradeStatus
from trader.venue.parsing.rest import AccountIdentity
from trader.venue.parsing.stream import (
    BestBidAsk,
    BookSnapshot,
    LastTradePrice,
    MarketResolved,
    OrderUpdate,
    PriceChange,
    TickSizeChange,
    TradeUpdate,
    apply_price_change,
    decode_frame,
    parse_market_frame,
    parse_market_message,
    parse_user_frame,
    parse_user_message,
)

ME = AccountIdentity.of("00000000-0000-0000-0000-000000000001", OUR_ADDRESS)


@pytest.mark.parametrize("name", ["rs_ws_market_book_msg.json", "rs_ws_book_snapshot.json"])
@needs_corpus
def test_book_message_is_a_best_first_snapshot(name: str) -> None:
    (event,) = parse_market_frame(raw(name))

    assert isinstance(event, BookSnapshot)
    assert event.book.token_id == TOKEN
    assert (event.book.best_bid, event.book.best_ask) == (Decimal("0.50"), Decimal("0.51"))
    assert event.book.timestamp == datetime(2023, 12, 29, 18, 40, tzinfo=UTC)


@needs_corpus
def test_large_book_message_orders_all_levels() -> None:
    (event,) = parse_market_frame(raw("py_ws_messages_book.json"))

    assert isinstance(event, BookSnapshot)
    asks = [lvl.price for lvl in event.book.asks]
    assert asks == sorted(asks)
    assert len(event.book.bids) == 76


@needs_corpus
def test_price_change_v2_carries_one_change_per_level() -> None:
    events = parse_market_frame(raw("py_ws_messages_price_change_v2.json"))

    assert [type(e) for e in events] == [PriceChange] * 3
    first = events[0]
    assert isinstance(first, PriceChange)
    assert (first.side, first.price, first.size) == (Side.BUY, Decimal("0.6"), Decimal(3300))
    assert (first.best_bid, first.best_ask) == (Decimal("0.6"), Decimal("0.7"))


@needs_corpus
def test_price_change_with_several_assets() -> None:
    events = parse_market_message(fixture("rs_ws_quotes.json"))

    assert [e.token_id[:6] for e in events if isinstance(e, PriceChange)] == ["713210", "521143"]


@needs_corpus
def test_price_change_old_inline_shape() -> None:
    (event,) = parse_market_frame(raw("py_ws_messages_price_change.json"))

    assert isinstance(event, PriceChange)
    assert (event.side, event.price, event.size) == (
        Side.SELL,
        Decimal("0.514"),
        Decimal("21574.08"),
    )


@pytest.mark.parametrize(
    "name",
    [
        "py_ws_messages_last_trade_price.json",
        "rs_ws_market_last_trade_msg.json",
        "rs_ws_last_trade.json",
    ],
)
@needs_corpus
def test_last_trade_price(name: str) -> None:
    (event,) = parse_market_frame(raw(name))

    assert isinstance(event, LastTradePrice)
    assert event.size > 0
    assert event.side in (Side.BUY, Side.SELL)


@pytest.mark.parametrize(
    "name",
    [
        "py_ws_messages_tick_size_change.json",
        "rs_ws_market_tick_size_msg.json",
        "rs_ws_tick_size_change.json",
    ],
)
@needs_corpus
def test_tick_size_change(name: str) -> None:
    (event,) = parse_market_frame(raw(name))

    assert isinstance(event, TickSizeChange)
    assert event.new_tick_size < (event.old_tick_size or Decimal(1))


@needs_corpus
def test_best_bid_ask_and_resolution_and_new_market() -> None:
    (bba,) = parse_market_frame(raw("rs_ws_market_best_bid_ask_msg.json"))
    (resolved,) = parse_market_frame(raw("rs_ws_market_resolved_msg.json"))

    assert isinstance(bba, BestBidAsk)
    assert (bba.best_bid, bba.best_ask) == (Decimal("0.73"), Decimal("0.77"))
    assert isinstance(resolved, MarketResolved)
    assert resolved.winning_outcome == "Yes"
    assert resolved.winning_token_id in resolved.token_ids
    assert parse_market_frame(raw("rs_ws_market_new_market_msg.json")) == []


@needs_corpus
def test_frames_may_be_arrays_or_plain_text() -> None:
    array = json.dumps(
        [fixture("rs_ws_market_book_msg.json"), fixture("rs_ws_market_tick_size_msg.json")]
    )

    events = parse_market_frame(array)

    assert [type(e) for e in events] == [BookSnapshot, TickSizeChange]
    assert parse_market_frame("NO NEW ASSETS") == []
    assert parse_market_frame("PONG") == []
    assert decode_frame(b"[]") == []


def book(bids: list[tuple[str, str]], asks: list[tuple[str, str]]) -> Book:
    return Book(
        token_id="t",
        bids=tuple(BookLevel(Decimal(p), Decimal(s)) for p, s in bids),
        asks=tuple(BookLevel(Decimal(p), Decimal(s)) for p, s in asks),
        timestamp=datetime(2026, 1, 1, tzinfo=UTC),
    )


def change(side: Side, price: str, size: str, second: int = 1) -> PriceChange:
    return PriceChange(
        "t", side, Decimal(price), Decimal(size), datetime(2026, 1, 1, 0, 0, second, tzinfo=UTC)
    )


def test_apply_price_change_inserts_replaces_and_removes_levels() -> None:
    start = book([("0.50", "10"), ("0.48", "5")], [("0.52", "7")])

    inserted = apply_price_change(start, change(Side.BUY, "0.49", "3"))
    replaced = apply_price_change(inserted, change(Side.SELL, "0.52", "1"))
    removed = apply_price_change(replaced, change(Side.BUY, "0.50", "0", second=2))

    assert [lvl.price for lvl in inserted.bids] == [
        Decimal("0.50"),
        Decimal("0.49"),
        Decimal("0.48"),
    ]
    assert replaced.asks == (BookLevel(Decimal("0.52"), Decimal(1)),)
    assert removed.best_bid == Decimal("0.49")
    assert removed.timestamp == datetime(2026, 1, 1, 0, 0, 2, tzinfo=UTC)


def test_apply_price_change_for_another_token_is_refused() -> None:
    other = PriceChange("x", Side.BUY, Decimal("0.5"), Decimal(1), datetime(2026, 1, 1, tzinfo=UTC))

    with pytest.raises(ValueError, match="applied to t"):
        apply_price_change(book([], []), other)


@pytest.mark.parametrize(
    ("name", "kind", "status"),
    [
        ("rs_ws_user_order_placement.json", "PLACEMENT", OrderStatus.LIVE),
        ("rs_ws_user_order_update.json", "UPDATE", OrderStatus.LIVE),
        ("rs_ws_user_order_matched.json", "UPDATE", OrderStatus.MATCHED),
        ("rs_ws_user_order_cancellation.json", "CANCELLATION", OrderStatus.CANCELED),
        ("rs_ws_user_order_fok_killed.json", "CANCELLATION", OrderStatus.CANCELED),
        ("rs_ws_user_order_venue_cancel.json", "CANCELLATION", OrderStatus.INVALID),
        ("rs_ws_user_order_msg.json", "PLACEMENT", OrderStatus.LIVE),
        ("py_ws_messages_order_placement.json", "PLACEMENT", OrderStatus.LIVE),
        ("py_ws_messages_order_cancel.json", "CANCELLATION", OrderStatus.CANCELED),
    ],
)
@needs_corpus
def test_user_order_messages(name: str, kind: str, status: OrderStatus) -> None:
    (event,) = parse_user_frame(raw(name), ME)

    assert isinstance(event, OrderUpdate)
    assert (event.kind, event.order.status) == (kind, status)


@needs_corpus
def test_user_order_message_with_prefixed_status() -> None:
    payload: dict[str, Any] = {
        **fixture("rs_ws_user_order_update.json"),
        "status": "ORDER_STATUS_LIVE",
    }

    (event,) = parse_user_message(payload, ME)

    assert isinstance(event, OrderUpdate)
    assert event.order.status is OrderStatus.LIVE
    assert event.order.size_matched == Decimal(25)


@pytest.mark.parametrize("name", ["rs_ws_user_trade.json", "rs_ws_user_trade_msg.json"])
@needs_corpus
def test_user_trade_messages_as_taker(name: str) -> None:
    (event,) = parse_user_frame(raw(name), ME)

    assert isinstance(event, TradeUpdate)
    (fill,) = event.fills
    assert fill.trade_id == event.trade_id == "trade-0xabcdef1234"
    assert (fill.side, fill.size, fill.status) == (Side.BUY, Decimal(25), TradeStatus.CONFIRMED)


@needs_corpus
def test_user_trade_prefixed_status() -> None:
    payload = {**fixture("rs_ws_user_trade_msg.json"), "status": "TRADE_STATUS_MINED"}

    (event,) = parse_user_message(payload, ME)

    assert isinstance(event, TradeUpdate)
    assert event.fills[0].status is TradeStatus.MINED


@pytest.mark.parametrize(
    ("name", "count"),
    [
        ("py_ws_messages_user_trade1.json", 1),
        (
            "py_ws_messages_user_trade2.json",
            0,
        ),  # taker view of someone else's key: trader_side only
        ("py_ws_messages_user_trade3.json", 1),
        ("py_ws_messages_user_trade4.json", 2),
    ],
)
@needs_corpus
def test_user_trade_messages_as_maker(name: str, count: int) -> None:
    identity = AccountIdentity.of(None, OUR_ADDRESS)
    payload = fixture(name)

    (event,) = parse_user_message(payload, identity)

    assert isinstance(event, TradeUpdate)
    expected = count + (1 if payload["trader_side"] == "TAKER" else 0)
    assert len(event.fills) == expected

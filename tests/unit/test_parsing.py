"""Parsing of REST payloads against the recorded corpus in tests/fixtures/polymarket/."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from tests.support.corpus import OUR_ADDRESS, fixture, needs_corpus
from trader.domain import OrderStatus, OrderType, Side, TradeStatus
from trader.venue.parsing.rest import (
    AccountIdentity,
    ParseError,
    fee_for,
    normalize_insert_status,
    normalize_order_status,
    normalize_trade_status,
    parse_book,
    parse_clob_market,
    parse_gamma_market,
    parse_order,
    parse_orders_page,
    parse_timestamp,
    parse_trade,
    to_decimal,
)

FOK_KILLED = "CANCELED_order couldn't be fully filled. FOK orders are fully filled or killed."


@needs_corpus
def test_parse_book_rest_levels_are_best_first() -> None:
    book = parse_book(fixture("py_http_responses_book.json"))

    assert book.best_bid == Decimal("0.1")
    assert book.best_ask == Decimal("0.14")
    assert [lvl.price for lvl in book.bids] == sorted(
        (lvl.price for lvl in book.bids), reverse=True
    )
    assert [lvl.price for lvl in book.asks] == sorted(lvl.price for lvl in book.asks)
    assert book.asks[1].size == Decimal(70)
    assert book.timestamp == datetime(2024, 10, 13, 6, 3, 38, 260000, tzinfo=UTC)
    assert book.hash == "2fc4a3d6a98bc164e057589bcb74981852b87412"


@needs_corpus
def test_parse_book_uses_defaults_when_the_payload_has_no_tick() -> None:
    book = parse_book(fixture("rs_clob_book_response.json"), tick_size=Decimal("0.001"))

    assert (book.best_bid, book.best_ask) == (Decimal("0.50"), Decimal("0.51"))
    assert book.tick_size == Decimal("0.001")
    assert book.min_order_size == Decimal(5)
    assert book.mid == Decimal("0.505")


def test_parse_book_reads_tick_and_min_size_and_drops_empty_levels() -> None:
    payload = {
        "asset_id": "t",
        "timestamp": "1700000000000",
        "bids": [{"price": "0.4", "size": "0"}, {"price": "0.3", "size": "2"}],
        "asks": [],
        "tick_size": "0.001",
        "min_order_size": "15",
    }

    book = parse_book(payload)

    assert book.bids == (book.bids[0],)
    assert book.best_bid == Decimal("0.3")
    assert (book.tick_size, book.min_order_size) == (Decimal("0.001"), Decimal(15))


def test_parse_book_without_asset_id_is_an_error() -> None:
    with pytest.raises(ParseError, match="asset_id"):
        parse_book({"bids": [], "asks": [], "timestamp": "1"})


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("LIVE", OrderStatus.LIVE),
        ("ORDER_STATUS_LIVE", OrderStatus.LIVE),
        ("live", OrderStatus.LIVE),
        ("ORDER_STATUS_MATCHED", OrderStatus.MATCHED),
        ("CANCELED", OrderStatus.CANCELED),
        ("ORDER_STATUS_CANCELED_MARKET_RESOLVED", OrderStatus.CANCELED_MARKET_RESOLVED),
        ("CANCELED_MARKET_RESOLVED", OrderStatus.CANCELED_MARKET_RESOLVED),
        ("ORDER_STATUS_INVALID", OrderStatus.INVALID),
        (FOK_KILLED, OrderStatus.CANCELED),
    ],
)
def test_normalize_order_status_accepts_both_spellings(raw: str, expected: OrderStatus) -> None:
    assert normalize_order_status(raw) is expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("live", OrderStatus.LIVE),
        ("matched", OrderStatus.MATCHED),
        ("delayed", OrderStatus.SUBMITTED),
        ("unmatched", OrderStatus.CANCELED),
    ],
)
def test_normalize_insert_status_maps_post_order_answers(raw: str, expected: OrderStatus) -> None:
    assert normalize_insert_status(raw) is expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("CONFIRMED", TradeStatus.CONFIRMED),
        ("TRADE_STATUS_CONFIRMED", TradeStatus.CONFIRMED),
        ("TRADE_STATUS_MINED", TradeStatus.MINED),
        ("MATCHED", TradeStatus.MATCHED),
        ("MATCHED_NOT_BROADCASTED", TradeStatus.MATCHED),
        ("TRADE_STATUS_RETRYING", TradeStatus.RETRYING),
        ("failed", TradeStatus.FAILED),
    ],
)
def test_normalize_trade_status_accepts_both_spellings(raw: str, expected: TradeStatus) -> None:
    assert normalize_trade_status(raw) is expected


def test_unknown_statuses_are_parse_errors() -> None:
    with pytest.raises(ParseError):
        normalize_order_status("SOMETHING_ELSE")
    with pytest.raises(ParseError):
        normalize_trade_status("")


@needs_corpus
def test_parse_order_rest_open_order() -> None:
    order = parse_order(fixture("rs_http_open_order.json"), client_order_id="c-1")

    assert order.order_id.startswith("0x1234567890abcdef")
    assert (order.side, order.status, order.order_type) == (
        Side.BUY,
        OrderStatus.LIVE,
        OrderType.GTC,
    )
    assert (order.price, order.original_size, order.size_matched) == (
        Decimal("0.5"),
        Decimal(100),
        Decimal(25),
    )
    assert order.remaining == Decimal(75)
    assert order.created_at == datetime(2023, 12, 29, 18, 40, tzinfo=UTC)
    assert order.client_order_id == "c-1"
    assert order.outcome == "Yes"


@needs_corpus
def test_parse_order_prefixed_status_reads_like_the_bare_one() -> None:
    payload = dict(fixture("rs_http_open_order_sell_fok.json"))
    bare = parse_order(payload)
    payload["status"] = "ORDER_STATUS_MATCHED"

    prefixed = parse_order(payload)

    assert bare == prefixed
    assert (prefixed.status, prefixed.order_type, prefixed.remaining) == (
        OrderStatus.MATCHED,
        OrderType.FOK,
        Decimal(0),
    )


@needs_corpus
def test_parse_orders_page_ends_on_lte_cursor() -> None:
    orders, cursor = parse_orders_page(fixture("rs_http_open_orders_page.json"))

    assert cursor is None
    assert [o.order_type for o in orders] == [OrderType.GTC, OrderType.GTD]
    assert orders[1].side is Side.SELL
    assert orders[1].remaining == Decimal(100)


def test_parse_orders_page_returns_the_next_cursor() -> None:
    _, cursor = parse_orders_page({"data": [], "next_cursor": "MTAw"})

    assert cursor == "MTAw"


@needs_corpus
def test_parse_trade_as_taker_gives_one_fill_with_fee() -> None:
    payload = dict(fixture("rs_http_trade_report.json"))
    payload["fee_rate_bps"] = "100"

    fills = parse_trade(payload, AccountIdentity.of("00000000-0000-0000-0000-000000000001"))

    assert len(fills) == 1
    fill = fills[0]
    assert fill.key == ("trade-0xabcdef1234", payload["taker_order_id"])
    assert (fill.side, fill.price, fill.size, fill.liquidity) == (
        Side.BUY,
        Decimal("0.5"),
        Decimal(25),
        "TAKER",
    )
    assert fill.fee == Decimal("0.0625")  # 25 * 1% * (0.5 * 0.5)
    assert fill.status is TradeStatus.CONFIRMED
    assert fill.timestamp == datetime(2024, 1, 1, tzinfo=UTC)


@needs_corpus
def test_parse_trade_as_maker_gives_one_fill_per_maker_order_of_ours() -> None:
    fills = parse_trade(
        fixture("py_ws_messages_user_trade4.json"), AccountIdentity.of(None, OUR_ADDRESS)
    )

    assert [f.order_id[:10] for f in fills] == ["0x3ad09f22", "0x67b598ca"]
    assert {f.trade_id for f in fills} == {"83b5c849-620e-4c23-b63b-2e779c04a6e7"}
    assert len({f.key for f in fills}) == 2
    assert [(f.side, f.price, f.size) for f in fills] == [
        (Side.BUY, Decimal("0.4"), Decimal(5)),
        (Side.BUY, Decimal("0.3"), Decimal(5)),
    ]
    assert all(f.liquidity == "MAKER" and f.fee == 0 for f in fills)


@needs_corpus
def test_parse_trade_maker_side_is_derived_when_absent() -> None:
    identity = AccountIdentity.of(None, OUR_ADDRESS, "0xFfd192468b7a05b38c37C82d09fA941289FaEB23")

    fills = parse_trade(fixture("py_ws_messages_user_trade1.json"), identity)

    by_token = {f.token_id[:6]: f for f in fills}
    assert by_token["483310"].side is Side.BUY  # complementary token: same side as the taker
    assert by_token["217426"].side is Side.SELL  # same token: the other side
    assert by_token["217426"].size == Decimal(5)
    assert all(f.status is TradeStatus.MINED for f in fills)


@needs_corpus
def test_parse_trade_by_api_key_owner_and_prefixed_status() -> None:
    payload = dict(fixture("rs_http_trade_report.json"))
    payload["trader_side"] = "MAKER"
    payload["status"] = "TRADE_STATUS_CONFIRMED"

    fills = parse_trade(payload, AccountIdentity.of("00000000-0000-0000-0000-000000000003"))

    assert len(fills) == 1
    assert fills[0].order_id.startswith("0xmaker02")
    assert fills[0].side is Side.SELL
    assert fills[0].fee == Decimal("0.00125")  # 5 * 10 bps * 0.25
    assert fills[0].status is TradeStatus.CONFIRMED


@needs_corpus
def test_parse_trade_with_no_order_of_ours_gives_nothing() -> None:
    fills = parse_trade(fixture("py_ws_messages_user_trade4.json"), AccountIdentity.of("nobody"))

    assert fills == ()


@needs_corpus
def test_parse_trades_page_epoch_seconds_match_time() -> None:
    fills = parse_trade(fixture("py_ws_messages_trades.json"), AccountIdentity.of(None))

    assert fills[0].timestamp == datetime.fromtimestamp(1726043102, UTC)
    assert fills[0].market.startswith("0xdd2247")


def test_fee_for_follows_the_v2_curve() -> None:
    assert fee_for(Decimal("0.9"), Decimal(100), Decimal(200)) == Decimal("0.18")
    assert fee_for(Decimal("0.1"), Decimal(100), Decimal(200)) == Decimal("0.18")
    assert fee_for(Decimal("0.5"), Decimal(100), Decimal(200), exponent=2) == Decimal("0.125")
    assert fee_for(Decimal("0.5"), Decimal(100), Decimal(0)) == 0


@needs_corpus
def test_parse_gamma_market_decodes_json_string_fields() -> None:
    market = parse_gamma_market(fixture("rs_gamma_market.json"))

    assert market.condition_id.startswith("0x78443f96")
    assert [t.outcome for t in market.tokens] == ["Up", "Down"]
    assert market.tokens[0].token_id.startswith("1042398980")
    assert market.token("down") == market.tokens[1]
    assert (market.tick_size, market.min_order_size) == (Decimal("0.01"), Decimal(5))
    assert market.end_date == datetime(2026, 3, 12, 9, 25, tzinfo=UTC)
    assert market.liquidity == Decimal("20328.3747")
    assert (market.active, market.closed, market.accepting_orders) == (True, False, True)


@pytest.mark.parametrize(
    "name",
    [
        "rs_gamma_market_closed_binary_accepting_false.json",
        "rs_gamma_market_closed_binary_accepting_true.json",
        "rs_gamma_market_closed_nonbinary_legacy.json",
        "rs_gamma_market_closed_zero_zero_legacy.json",
    ],
)
@needs_corpus
def test_parse_gamma_market_closed_variants(name: str) -> None:
    market = parse_gamma_market(fixture(name))

    assert market.closed
    assert len(market.tokens) >= 2


@needs_corpus
def test_parse_gamma_market_accepts_plain_lists() -> None:
    market = parse_gamma_market(
        {**fixture("py_http_responses_market_slug.json"), "outcomes": ["Yes", "No"]}
    )

    assert [t.outcome for t in market.tokens] == ["Yes", "No"]


@needs_corpus
def test_parse_clob_market() -> None:
    market = parse_clob_market(fixture("py_http_responses_market.json"))

    assert market.neg_risk
    assert market.tick_size == Decimal("0.001")
    assert [t.outcome for t in market.tokens] == ["Yes", "No"]


def test_parse_gamma_market_mismatched_tokens_is_an_error() -> None:
    with pytest.raises(ParseError, match="2 outcomes but 1"):
        parse_gamma_market(
            {"conditionId": "0x1", "outcomes": '["Yes","No"]', "clobTokenIds": '["1"]'}
        )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1703875200000", datetime(2023, 12, 29, 18, 40, tzinfo=UTC)),
        (1703875200, datetime(2023, 12, 29, 18, 40, tzinfo=UTC)),
        ("2024-01-01T00:00:00Z", datetime(2024, 1, 1, tzinfo=UTC)),
        ("2020-11-02 16:31:01+00", datetime(2020, 11, 2, 16, 31, 1, tzinfo=UTC)),
        ("2026-03-11T09:29:01.328428Z", datetime(2026, 3, 11, 9, 29, 1, 328428, tzinfo=UTC)),
        ("", None),
        ("0", None),
        (None, None),
    ],
)
def test_parse_timestamp_forms(raw: object, expected: datetime | None) -> None:
    assert parse_timestamp(raw) == expected


def test_to_decimal_from_float_keeps_the_printed_value() -> None:
    assert to_decimal(0.1) == Decimal("0.1")
    with pytest.raises(ParseError):
        to_decimal("abc")
    with pytest.raises(ParseError):
        to_decimal(True)

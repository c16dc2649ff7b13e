"""The simulator's payloads against the venue fixture corpus and the official SDK's parsers."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from polymarket.models.clob import ClobTrade, OpenOrder, OrderBook
from polymarket.models.clob.market_events import parse_market_event
from polymarket.models.clob.user_events import parse_user_event
from polymarket.models.gamma.market import Market
from py_clob_client_v2.utilities import generate_orderbook_summary_hash, parse_raw_orderbook_summary

from polysim.clob.catalog import _position_v1, gamma_market_json
from polysim.clob.exchange import SimExchange
from polysim.clob.liquidity import LiquidityEngine
from polysim.clob.market_data import clob_market_json, simplified_market_json
from polysim.clob.model import (
    BookChanged,
    MarketResolved,
    OrderChanged,
    PlaceRequest,
    SimEvent,
    TickSizeChanged,
    TradeChanged,
    TradePrinted,
)
from polysim.clob.scenario import load_scenario
from polysim.clob.wire import (
    best_bid_ask_json,
    book_event_json,
    book_hash,
    book_json,
    last_trade_json,
    market_resolved_json,
    order_event_json,
    order_json,
    price_change_json,
    tick_size_json,
    trade_event_json,
    trade_json,
)
from tests.support import corpus
from trader.clock import FakeClock
from trader.domain import OrderType, Side

pytestmark = corpus.needs_corpus


@pytest.fixture(scope="module")
def world() -> tuple[SimExchange, list[SimEvent]]:
    clock = FakeClock(datetime(2026, 6, 1, tzinfo=UTC))
    scenario = load_scenario(
        {"markets": [{"question": "Wire?", "fair_price": "0.5", "depth": 2}]}, now=clock.now()
    )
    exchange = SimExchange(scenario, clock)
    events: list[SimEvent] = []
    exchange.listeners.append(events.extend)
    LiquidityEngine(exchange, 1).start()
    yes, _ = exchange.markets[scenario.markets[0].condition_id].spec.token_ids
    for price, size in (("0.45", "10"), ("0.55", "10")):
        exchange.place(
            PlaceRequest(
                order_id=exchange.new_order_id(),
                token_id=yes,
                side=Side.BUY,
                price=Decimal(price),
                size=Decimal(size),
                order_type=OrderType.GTC,
                owner="key-a",
                address="0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266",
                collateral=Decimal(price) * Decimal(size),
            )
        )
    exchange.set_tick_size(scenario.markets[0].condition_id, Decimal("0.001"))
    exchange.resolve(scenario.markets[0].condition_id, "Yes")
    return exchange, events


def first(events: list[SimEvent], event_type: type[Any], **where: Any) -> Any:
    return next(
        e
        for e in events
        if isinstance(e, event_type) and all(getattr(e, k) == v for k, v in where.items())
    )


def covers(ours: dict[str, Any], fixture: str) -> None:
    theirs = corpus.fixture(fixture)
    missing = set(theirs) - set(ours)
    assert not missing, f"{fixture}: missing {sorted(missing)}"


def test_rest_book_matches_the_corpus_and_parses(world: Any) -> None:
    exchange, _ = world
    market = next(iter(exchange.markets.values()))
    body = book_json(market, market.spec.token_ids[1], exchange.clock.now())

    covers(body, "rs_clob_book_response.json")
    book = OrderBook.parse_response(body)
    assert book.timestamp is not None


def test_book_hash_is_the_one_py_clob_client_v2_recomputes_and_the_sdk_keeps(
    world: Any,
) -> None:
    exchange, _ = world
    market = next(iter(exchange.markets.values()))  # resolved: a last trade, a 0.001 tick
    now = exchange.clock.now()

    for token in market.spec.token_ids:
        body = book_json(market, token, now)
        assert generate_orderbook_summary_hash(parse_raw_orderbook_summary(body)) == body["hash"]
        assert OrderBook.parse_response(body).hash == body["hash"]
    assert book_event_json(market, token, now)["hash"] == body["hash"]


def test_book_hash_changes_with_every_field_it_covers(world: Any) -> None:
    exchange, _ = world
    market = next(iter(exchange.markets.values()))
    body = book_json(market, market.spec.token_ids[0], exchange.clock.now())
    changes = {
        "timestamp": "1",
        "bids": [{"price": "0.1", "size": "1"}],
        "tick_size": "0.01",
        "neg_risk": not body["neg_risk"],
        "last_trade_price": "0.42",
    }

    assert book_hash({**body, "hash": "anything"}) == body["hash"]  # the hash is blanked
    for field, value in changes.items():
        assert book_hash({**body, field: value}) != body["hash"], field


def test_order_and_trade_rest_shapes_match_the_corpus_and_parse(world: Any) -> None:
    exchange, _ = world
    order = next(iter(exchange.orders.values()))
    trade = exchange.trades[0]

    covers(order_json(order), "rs_http_open_order.json")
    body = trade_json(trade, {"key-a"})
    covers(body, "rs_http_trade_report.json")
    maker_keys = set(corpus.fixture("rs_http_trade_report.json")["maker_orders"][0])
    assert maker_keys <= set(body["maker_orders"][0])
    assert OpenOrder.parse_response(order_json(order)).id == order.order_id
    assert ClobTrade.parse_response(body).trader_side == "TAKER"


def test_user_channel_messages_match_the_corpus_and_parse(world: Any) -> None:
    _, events = world
    placement = order_event_json(first(events, OrderChanged, kind="PLACEMENT"))
    cancel = order_event_json(first(events, OrderChanged, kind="CANCELLATION"))
    trade = trade_event_json(first(events, TradeChanged))

    covers(placement, "py_ws_messages_order_placement.json")
    covers(cancel, "py_ws_messages_order_cancel.json")
    covers(trade, "py_ws_messages_user_trade2.json")
    assert parse_user_event(placement).payload.order_event_type == "PLACEMENT"
    assert parse_user_event(cancel).payload.status == "CANCELED_MARKET_RESOLVED"
    assert parse_user_event(trade).payload.status == "MATCHED"


def test_market_channel_messages_match_the_corpus_and_parse(world: Any) -> None:
    exchange, events = world
    market = next(iter(exchange.markets.values()))
    yes = market.spec.token_ids[0]
    now = exchange.clock.now()
    messages = {
        "py_ws_messages_book.json": book_event_json(market, yes, now),
        "py_ws_messages_price_change_v2.json": price_change_json(
            first(events, BookChanged), set(market.spec.token_ids)
        ),
        "py_ws_messages_last_trade_price.json": last_trade_json(first(events, TradePrinted)),
        "py_ws_messages_tick_size_change.json": tick_size_json(first(events, TickSizeChanged)),
        "rs_ws_market_resolved_msg.json": market_resolved_json(
            market, first(events, MarketResolved)
        ),
        "rs_ws_market_best_bid_ask_msg.json": best_bid_ask_json(market, yes, now),
    }

    for fixture, body in messages.items():
        assert body is not None
        covers(body, fixture)
        assert parse_market_event(body).type == body["event_type"]


def test_price_change_levels_carry_the_corpus_fields(world: Any) -> None:
    exchange, events = world
    market = next(iter(exchange.markets.values()))
    body = price_change_json(first(events, BookChanged), set(market.spec.token_ids))
    fixture = corpus.fixture("py_ws_messages_price_change_v2.json")["price_changes"][0]

    assert body is not None
    assert set(fixture) <= set(body["price_changes"][0])


def test_gamma_market_matches_the_corpus_types_and_parses(world: Any) -> None:
    exchange, _ = world
    market = next(iter(exchange.markets.values()))
    body = gamma_market_json(market)
    fixture = corpus.fixture("rs_gamma_market.json")
    keys = [
        "id",
        "question",
        "conditionId",
        "slug",
        "endDate",
        "active",
        "closed",
        "acceptingOrders",
        "enableOrderBook",
        "negRisk",
        "orderPriceMinTickSize",
        "orderMinSize",
        "volumeNum",
        "liquidityNum",
        "outcomes",
        "outcomePrices",
        "clobTokenIds",
    ]

    def json_type(value: Any) -> str:
        return (
            "number"
            if isinstance(value, int | float) and not isinstance(value, bool)
            else (type(value).__name__)
        )

    for key in keys:
        assert json_type(body[key]) == json_type(fixture[key]), key
    parsed = Market.parse_response(body)
    assert parsed.state.closed
    assert parsed.outcomes.yes.price == Decimal(1)


def test_clob_market_and_positions_match_the_corpus(world: Any) -> None:
    exchange, _ = world
    market = next(iter(exchange.markets.values()))
    account = exchange.ledger.account("0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266")
    holding = next(iter(account.holdings.values()))

    covers(clob_market_json(market), "rs_clob_market_closed_binary_accepting_true.json")
    simplified = simplified_market_json(market)
    assert set(simplified) <= set(clob_market_json(market))
    assert (
        simplified["rewards"]
        == corpus.fixture("py_http_responses_markets.json")["data"][0]["rewards"]
    )  # a market without a rewards programme, as the venue shows one
    theirs = set(corpus.fixture("rs_data_api_positions_response.json")[0])
    assert theirs <= set(_position_v1(account, holding, market))

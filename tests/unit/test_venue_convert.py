"""SDK models (parsed by the SDK from recorded payloads) to domain values; signed order ids."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from polymarket import ClobTrade, Market, OpenOrder, OrderBook, SignedOrder

from polysim.clob.signing import Domain, parse_signed_order
from polysim.clob.signing import order_hash as simulator_order_hash
from tests.support.corpus import fixture, needs_corpus
from trader.domain import OrderStatus, Side
from trader.venue.parsing.rest import AccountIdentity
from trader.venue.polymarket.convert import (
    ExchangeDomain,
    book_from_sdk,
    fills_from_sdk,
    market_from_gamma,
    order_from_sdk,
    order_hash,
    signed_from_json,
    signed_to_json,
)
from trader.venue.polymarket.sdk_env import exchange_addresses

NOW = datetime(2026, 5, 1, tzinfo=UTC)
DOMAIN = ExchangeDomain.from_addresses(exchange_addresses())


@needs_corpus
def test_book_from_sdk_is_best_first() -> None:
    payload = {**fixture("py_http_responses_book.json"), "tick_size": "0.01", "neg_risk": False}
    payload["min_order_size"] = "5"

    book = book_from_sdk(OrderBook.parse_response(payload), received_at=NOW)

    assert (book.best_bid, book.best_ask) == (Decimal("0.1"), Decimal("0.14"))
    assert book.timestamp == datetime(2024, 10, 13, 6, 3, 38, 260000, tzinfo=UTC)
    assert book.tick_size == Decimal("0.01")


@needs_corpus
def test_market_from_gamma() -> None:
    market = market_from_gamma(Market.parse_response(fixture("rs_gamma_market.json")))

    assert market is not None
    assert [t.outcome for t in market.tokens] == ["Up", "Down"]
    assert market.tokens[1].token_id.startswith("7118396081")
    assert (market.tick_size, market.min_order_size) == (Decimal("0.01"), Decimal(5))
    assert market.end_date == datetime(2026, 3, 12, 9, 25, tzinfo=UTC)


@needs_corpus
def test_order_from_sdk_matches_the_dict_parser() -> None:
    order = order_from_sdk(
        OpenOrder.parse_response(fixture("rs_http_open_order.json")), client_order_id="c"
    )

    assert (order.status, order.side, order.remaining) == (OrderStatus.LIVE, Side.BUY, Decimal(75))
    assert order.client_order_id == "c"


@needs_corpus
def test_fills_from_sdk_picks_our_maker_order() -> None:
    trade = ClobTrade.parse_response(
        {**fixture("rs_http_trade_report.json"), "trader_side": "MAKER"}
    )

    (fill,) = fills_from_sdk(
        trade, AccountIdentity.of(None, "0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc")
    )

    assert fill.order_id.startswith("0xmaker02")
    assert (fill.side, fill.size, fill.liquidity) == (Side.SELL, Decimal(5), "MAKER")


@needs_corpus
def test_order_hash_agrees_with_the_simulator_and_round_trips_as_json() -> None:
    raw = fixture("rs_http_signed_order.json")
    signed = SignedOrder(
        builder=raw["builder"],
        expiration=int(raw["expiration"]),
        maker=raw["maker"],
        maker_amount=int(raw["makerAmount"]),
        metadata=raw["metadata"],
        order_type="GTC",
        salt=int(raw["salt"]),
        side=raw["side"],
        signature=raw["signature"],
        signature_type=raw["signatureType"],
        signer=raw["signer"],
        taker_amount=int(raw["takerAmount"]),
        timestamp=int(raw["timestamp"]),
        token_id=raw["tokenId"],
    )

    ours = order_hash(signed, DOMAIN, neg_risk=False)
    neg_risk = order_hash(signed, DOMAIN, neg_risk=True)
    theirs = simulator_order_hash(parse_signed_order(raw), Domain(DOMAIN.chain_id, DOMAIN.exchange))

    assert ours == theirs
    assert neg_risk != ours
    assert signed_from_json(signed_to_json(signed)) == signed
    assert "private" not in signed_to_json(signed)

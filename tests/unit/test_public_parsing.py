"""Paper trading reads Gamma markets, books and resolutions from the JSON the venue sends
(issue 21: the Polymarket SDK is not imported in paper mode). Each reading is checked against
the official SDK's own on the recorded payloads: the same markets kept, the same values."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from polymarket import Market as GammaMarket
from polymarket import OrderBook

from tests.support.corpus import fixture, needs_corpus
from trader.venue.parsing.rest import parse_book
from trader.venue.polymarket.convert import book_from_sdk, market_from_gamma
from trader.venue.polymarket.market_data import tradable_market
from trader.venue.polymarket.resolution import payouts_from_gamma, payouts_from_gamma_json

GAMMA = [
    "rs_gamma_market.json",
    "rs_gamma_market_closed_binary_accepting_false.json",
    "rs_gamma_market_closed_binary_accepting_true.json",
    "rs_gamma_market_closed_nonbinary_legacy.json",
    "rs_gamma_market_closed_zero_zero_legacy.json",
]
RECEIVED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def variants(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """The recorded market and the shapes Gamma also sends."""
    return [
        payload,
        payload | {"active": None, "acceptingOrders": None},  # unstated flags
        payload
        | {
            "feesEnabled": True,
            "feeSchedule": {"rate": "0.02", "exponent": 2, "takerOnly": True, "rebateRate": "0.25"},
        },
        payload | {"negRisk": True, "events": [{"id": 9001}]},
        payload | {"umaResolutionStatus": "proposed"},
        payload | {"outcomePrices": json.dumps(["0.5", "0.5"]), "closed": True},
    ]


@needs_corpus
@pytest.mark.parametrize("name", GAMMA)
def test_a_gamma_market_is_read_as_the_sdk_reads_it(name: str) -> None:
    for payload in variants(fixture(name)):
        sdk = GammaMarket.parse_response(payload)

        assert tradable_market(payload) == market_from_gamma(sdk)
        assert payouts_from_gamma_json(payload) == payouts_from_gamma(sdk)


@needs_corpus
def test_markets_the_sdk_drops_are_not_tradable() -> None:
    binary = fixture("rs_gamma_market.json")
    three = binary | {"outcomes": json.dumps(["A", "B", "C"])}
    no_tokens = binary | {"clobTokenIds": json.dumps(["", ""])}
    no_condition = binary | {"conditionId": ""}

    assert tradable_market(binary) is not None
    assert [tradable_market(p) for p in (three, no_tokens, no_condition)] == [None] * 3
    assert market_from_gamma(GammaMarket.parse_response(no_tokens)) is None
    assert market_from_gamma(GammaMarket.parse_response(no_condition)) is None


def test_an_unreadable_gamma_market_is_skipped_not_fatal(caplog: pytest.LogCaptureFixture) -> None:
    broken = {"id": "77", "conditionId": "0xc", "outcomes": "[not json", "clobTokenIds": "[]"}

    assert tradable_market(broken) is None
    assert "skipping Gamma market 77" in caplog.text


@needs_corpus
def test_a_resolved_market_pays_its_outcome_prices() -> None:
    payload = fixture("rs_gamma_market_closed_binary_accepting_false.json")
    no_token = json.loads(payload["clobTokenIds"])[1]

    payouts = payouts_from_gamma_json(payload)

    assert payouts is not None
    assert payouts[no_token] == Decimal(1)
    assert sum(payouts.values()) == Decimal(1)


@needs_corpus
@pytest.mark.parametrize(
    "payload",
    [
        {"tick_size": "0.001", "min_order_size": "5", "neg_risk": True},
        {"tick_size": "0.01", "min_order_size": "15", "neg_risk": False},
    ],
)
def test_a_book_is_read_as_the_sdk_reads_it(payload: dict[str, Any]) -> None:
    raw = fixture("rs_clob_book_response.json") | payload

    book = parse_book(raw, received_at=RECEIVED)

    assert book == book_from_sdk(OrderBook.parse_response(raw), received_at=RECEIVED)
    assert book.bids[0].price == Decimal("0.50")  # best first
    assert book.asks[0].price == Decimal("0.51")

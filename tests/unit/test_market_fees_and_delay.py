"""Fees and the match delay per market, as the venue states them: read with the market from
recorded payloads, a market without a stated fee schedule refused by sizing (UNSTATED_FEES),
and the delay added to a GTD order's expiry."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from polymarket import Market as GammaMarket

from polysim.synthetic.signals import binary_books, make_market
from tests.support.corpus import fixture, needs_corpus
from trader.backtest.history import HistoricalMarket, History, history_to_json, parse_history
from trader.domain import NO_FEES, UNSTATED_FEES
from trader.fees import schedule_from_bps
from trader.signals.sizing import UNSTATED_FEES_REASON, SizingConfig, size_forecast
from trader.signals.values import Forecast, Source
from trader.venue.parsing.rest import parse_clob_market, parse_gamma_market, parse_seconds_delay
from trader.venue.parsing.values import ParseError
from trader.venue.polymarket.convert import market_from_gamma

NOW = datetime(2026, 3, 1, tzinfo=UTC)
NBA_GAME_1 = "0x9bea26c852102a50ed736d54504de4683481bc89e2285ee7a52c890ec2e38e07"


def forecast(model: str) -> Forecast:
    return Forecast(
        market="m1",
        model_probability=Decimal(model),
        market_probability=Decimal("0.50"),
        confidence=Decimal("0.7"),
        dispersion=Decimal("0.02"),
        source=Source.LLM,
        rationale="",
        sources=(),
        samples=5,
        aggregate=Decimal(model),
    )


@needs_corpus
def test_seconds_delay_is_read_from_the_recorded_clob_markets_payload() -> None:
    payload = fixture("py_http_responses_markets.json")
    markets = {m.condition_id: m for m in map(parse_clob_market, payload["data"])}

    assert markets[NBA_GAME_1].seconds_delay == 3  # the in-play sports market: 3 s
    delays = {m.seconds_delay for m in markets.values()}
    assert delays == {0, 2, 3}  # as recorded: most markets 0, some 2 or 3


@needs_corpus
def test_seconds_delay_is_read_from_gamma_through_the_sdk_and_the_dict_parser() -> None:
    payload = {**fixture("rs_gamma_market.json"), "secondsDelay": 3}

    converted = market_from_gamma(GammaMarket.parse_response(payload))
    assert converted is not None
    assert converted.seconds_delay == 3
    assert parse_gamma_market(payload).seconds_delay == 3
    assert parse_gamma_market(fixture("rs_gamma_market.json")).seconds_delay == 0  # not stated


def test_a_seconds_delay_that_is_not_whole_seconds_is_an_error() -> None:
    assert parse_seconds_delay("3") == 3
    with pytest.raises(ParseError, match="seconds_delay"):
        parse_seconds_delay(-1)
    with pytest.raises(ParseError, match="seconds_delay"):
        parse_seconds_delay("1.5")


@needs_corpus
def test_fees_enabled_without_a_schedule_is_unstated_not_free() -> None:
    # recorded: "feesEnabled": true, "feeType": "crypto_fees", and no feeSchedule
    payload = fixture("rs_gamma_market.json")

    converted = market_from_gamma(GammaMarket.parse_response(payload))
    assert converted is not None
    assert converted.fees == UNSTATED_FEES
    assert not converted.fees.stated
    assert parse_gamma_market(payload).fees == UNSTATED_FEES
    # said off: no fee, stated; a schedule: that fee
    off = parse_gamma_market({**payload, "feesEnabled": False})
    assert off.fees == NO_FEES
    assert off.fees.stated
    schedule = {"rate": "0.07", "exponent": 1, "takerOnly": True, "rebateRate": "0"}
    charged = parse_gamma_market({**payload, "feeSchedule": schedule})
    assert (charged.fees.stated, charged.fees.rate) == (True, Decimal("0.07"))


@needs_corpus
def test_the_clob_market_payload_states_no_fee_schedule() -> None:
    market = parse_clob_market(fixture("py_http_responses_market.json"))

    assert market.fees == UNSTATED_FEES  # taker_base_fee is not the rate charged


def test_sizing_refuses_a_market_whose_fees_are_not_stated() -> None:
    market = dataclasses.replace(
        make_market("m1", "Will it happen?", end_date=NOW + timedelta(days=10)),
        fees=UNSTATED_FEES,
    )
    books = binary_books(market, Decimal("0.50"), NOW)  # YES ask 0.51

    refused = size_forecast(forecast("0.70"), market, books, Decimal(1000), SizingConfig())

    assert refused.intent is None
    assert refused.reason == UNSTATED_FEES_REASON
    assert refused.reason.startswith("UNSTATED_FEES: ")
    # the same market with a stated schedule (the venue's, or FEE_RATE_OVERRIDE_BPS) is sized
    stated = dataclasses.replace(market, fees=schedule_from_bps(Decimal(400)))
    sized = size_forecast(forecast("0.70"), stated, books, Decimal(1000), SizingConfig())
    assert sized.intent is not None
    free = dataclasses.replace(market, fees=NO_FEES)
    assert size_forecast(forecast("0.70"), free, books, Decimal(1000), SizingConfig()).intent


def test_a_gtd_expiry_gets_the_match_delay_added() -> None:
    market = dataclasses.replace(make_market("m1", "Q?", end_date=NOW), seconds_delay=3)
    until = NOW + timedelta(minutes=10)

    assert market.order_expiration(until) == until + timedelta(seconds=3)
    assert market.order_expiration(None) is None
    no_delay = dataclasses.replace(market, seconds_delay=0)
    assert no_delay.order_expiration(until) == until


def test_an_unstated_schedule_survives_the_backtest_history_file() -> None:
    market = dataclasses.replace(
        make_market("m1", "Will it happen?", end_date=NOW + timedelta(days=10)),
        fees=UNSTATED_FEES,
    )
    stated = dataclasses.replace(market, condition_id="m2", fees=NO_FEES)
    history = History.of(
        [HistoricalMarket(market, NOW - timedelta(days=1)), HistoricalMarket(stated, NOW)], {}
    )

    written = history_to_json(history)
    read = parse_history(written)

    assert [m.market.fees for m in read.markets] == [UNSTATED_FEES, NO_FEES]
    assert "stated" not in written["markets"][1]["fees"]  # files without it read as before

"""A second real client, `py-clob-client-v2` (Polymarket's synchronous V2 client), trading
against the simulator on loopback: keys, market data, every order type, cancels and trades.

The client is synchronous (httpx), so each test runs its client steps in a worker thread
(`asyncio.to_thread`) while the simulator serves on the test's loop. Accounts trade as
production wants new API users to: a deposit wallet (signature type 3, POLY_1271), the
wallet address derived as the official SDK derives it.
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from typing import Any

import httpx
import pytest
from eth_account import Account
from py_clob_client_v2.client import ClobClient
from py_clob_client_v2.clob_types import (
    ApiCreds,
    AssetType,
    BalanceAllowanceParams,
    BookParams,
    MarketOrderArgsV2,
    OpenOrderParams,
    OrderArgsV2,
    OrderMarketCancelParams,
    OrderPayload,
    OrderType,
    PostOrdersV2Args,
    TradeParams,
)
from py_clob_client_v2.constants import END_CURSOR
from py_clob_client_v2.exceptions import PolyApiException
from py_clob_client_v2.utilities import generate_orderbook_summary_hash, parse_raw_orderbook_summary

from polysim.clob.app import SimServer
from tests.support.sim import condition_id, deposit_wallet, running_sim, scenario, tokens

POLYGON = 137
POLY_1271 = 3

pytestmark = pytest.mark.usefixtures("plain_http_only")


def keyed_client(url: str, account: Any = None) -> ClobClient:
    """A client for a fresh (or given) EOA trading through its deposit wallet, with L2 keys.
    The wallet is deployed first (this client has no relayer: polymarket.com, or `trader
    setup`, would have deployed it), through the simulator's admin API."""
    signer = account or Account.create()
    wallet = deposit_wallet(signer.address)
    httpx.post(f"{url}/_admin/deploy", json={"address": wallet}, timeout=5).raise_for_status()
    client = ClobClient(url, POLYGON, key=signer.key.hex(), signature_type=POLY_1271, funder=wallet)
    client.set_api_creds(client.create_or_derive_api_key())
    return client


def every_page(fetch: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Walk a `next_cursor`-paged listing to `LTE=`: (all items, each page's envelope)."""
    items: list[dict[str, Any]] = []
    pages: list[dict[str, Any]] = []
    cursor = "MA=="
    while cursor != END_CURSOR:
        page = fetch(cursor)
        pages.append(page)
        items.extend(page["data"])
        cursor = page["next_cursor"]
        assert len(pages) <= 20, "pagination never ended"
    return items, pages


async def test_create_then_derive_returns_the_same_keys_and_they_sign_l2(sim: SimServer) -> None:
    account = Account.create()

    def keys() -> tuple[ApiCreds, ApiCreds, Any, Any]:
        client = ClobClient(sim.url, POLYGON, key=account.key.hex())
        created = client.create_api_key()
        derived = client.derive_api_key()
        client.set_api_creds(derived)
        try:
            client.create_api_key()
            second_create: Any = "accepted"
        except PolyApiException as error:
            second_create = error.status_code
        return created, derived, client.get_api_keys(), second_create

    created, derived, listed, second_create = await asyncio.to_thread(keys)

    assert created == derived
    assert listed == {"apiKeys": [created.api_key]}
    assert second_create == 400  # the key exists: create refuses, derive finds it


async def test_market_data_answers_in_the_shapes_the_client_reads(sim: SimServer) -> None:
    yes, no = tokens(sim)
    thin_yes, _ = tokens(sim, 1)
    condition = condition_id(sim)

    def read() -> dict[str, Any]:
        client = ClobClient(sim.url, POLYGON)
        return {
            "ok": client.get_ok(),
            "version": client.get_version(),
            "time": client.get_server_time(),
            "book": client.get_order_book(yes),
            "books": client.get_order_books([BookParams(token_id=yes), BookParams(token_id=no)]),
            "tick": client.get_tick_size(thin_yes),
            "neg_risk": client.get_neg_risk(yes),
            "fee": client.get_fee_rate_bps(thin_yes),
            "free": client.get_fee_rate_bps(yes),
            "mid": client.get_midpoint(yes),
            "price": client.get_price(yes, "BUY"),
            "spread": client.get_spread(yes),
            "prices": client.get_prices([BookParams(token_id=yes, side="SELL")]),
            "market": client.get_market(condition),
            "info": client.get_clob_market_info(condition),
            "market_price": client.calculate_market_price(yes, "BUY", 5, OrderType.FOK),
        }

    got = await asyncio.to_thread(read)

    assert (got["ok"], got["version"]) == ("OK", 2)
    assert abs(got["time"] - time.time()) < 5
    book = got["book"]
    best_bid, best_ask = Decimal(book["bids"][-1]["price"]), Decimal(book["asks"][-1]["price"])
    assert best_bid < best_ask
    assert got["price"] == {"price": str(best_bid)}
    assert got["prices"] == {yes: {"SELL": str(best_ask)}}
    assert Decimal(got["mid"]["mid"]) == (best_bid + best_ask) / 2
    assert Decimal(got["spread"]["spread"]) == best_ask - best_bid
    assert [b["asset_id"] for b in got["books"]] == [yes, no]
    assert (got["tick"], got["neg_risk"]) == ("0.001", False)
    assert (got["fee"], got["free"]) == (200, 0)  # integers, as the client compares them
    assert got["market"]["condition_id"] == condition
    assert [t["t"] for t in got["info"]["t"]] == [yes, no]
    assert got["market_price"] == float(best_ask)


async def test_book_hash_is_the_one_the_client_computes(sim: SimServer) -> None:
    yes, no = tokens(sim)

    def books() -> tuple[dict[str, Any], dict[str, Any], str]:
        client = ClobClient(sim.url, POLYGON)
        book = client.get_order_book(yes)
        return book, client.get_order_book(no), client.get_order_book_hash(dict(book))

    yes_book, no_book, recomputed = await asyncio.to_thread(books)

    assert yes_book["hash"] == recomputed
    summary = parse_raw_orderbook_summary(no_book)
    assert generate_orderbook_summary_hash(summary) == no_book["hash"]
    assert yes_book["hash"] != no_book["hash"]


async def test_market_listings_page_with_next_cursor_to_the_end() -> None:
    rewarded = {"daily_rate": 30, "min_size": 50, "max_spread": 3.5}
    markets = [
        {"question": f"Market {i}?", "fair_price": "0.5", "flow_rate": 0.0, "volatility": 0.0}
        | ({"rewards": rewarded} if i % 2 == 0 else {})
        for i in range(7)
    ]
    source = scenario(markets=markets, page_size=3)

    async with running_sim(source) as sim:

        def listings() -> dict[str, Any]:
            client = ClobClient(sim.url, POLYGON)
            return {
                "markets": every_page(client.get_markets),
                "simplified": every_page(client.get_simplified_markets),
                "sampling": every_page(client.get_sampling_markets),
                "sampling_simplified": every_page(client.get_sampling_simplified_markets),
            }

        got = await asyncio.to_thread(listings)
        every_id = [m.condition_id for m in sim.exchange.markets.values()]

    markets_, pages = got["markets"]
    assert [m["condition_id"] for m in markets_] == every_id
    assert [p["count"] for p in pages] == [3, 3, 1]
    assert [p["next_cursor"] for p in pages] == ["Mw==", "Ng==", "LTE="]
    simplified, _ = got["simplified"]
    assert [m["condition_id"] for m in simplified] == every_id
    assert set(simplified[0]) == {
        "condition_id",
        "rewards",
        "tokens",
        "active",
        "closed",
        "archived",
        "accepting_orders",
    }
    sampling, sampling_pages = got["sampling"]
    assert [m["condition_id"] for m in sampling] == every_id[::2]
    assert [p["count"] for p in sampling_pages] == [3, 1]
    assert sampling[0]["rewards"]["min_size"] == 50
    assert sampling[0]["rewards"]["rates"][0]["rewards_daily_rate"] == 30
    assert markets_[1]["rewards"] == {"rates": None, "min_size": 0, "max_spread": 0}
    sampling_simplified, _ = got["sampling_simplified"]
    assert [m["condition_id"] for m in sampling_simplified] == every_id[::2]


async def test_limit_orders_gtc_gtd_and_post_only_rest_then_cancel(sim: SimServer) -> None:
    yes, no = tokens(sim)

    def trade() -> dict[str, Any]:
        client = keyed_client(sim.url)
        gtc = client.create_and_post_order(
            OrderArgsV2(token_id=yes, price=0.50, size=10, side="BUY")
        )
        gtd = client.create_and_post_order(
            OrderArgsV2(
                token_id=yes, price=0.49, size=10, side="BUY", expiration=int(time.time()) + 3600
            ),
            order_type=OrderType.GTD,
        )
        resting = client.create_and_post_order(
            OrderArgsV2(token_id=no, price=0.20, size=5, side="BUY"), post_only=True
        )
        crossing = client.create_and_post_order(
            OrderArgsV2(token_id=yes, price=0.70, size=5, side="BUY"), post_only=True
        )
        open_before = client.get_open_orders()
        one = client.get_order(gtd["orderID"])
        canceled_one = client.cancel_order(OrderPayload(orderID=gtc["orderID"]))
        canceled_market = client.cancel_market_orders(OrderMarketCancelParams(asset_id=yes))
        return {
            "placed": [gtc, gtd, resting],
            "crossing": crossing,
            "open_before": open_before,
            "one": one,
            "canceled_one": canceled_one,
            "canceled_market": canceled_market,
            "open_after": client.get_open_orders(OpenOrderParams(asset_id=no)),
        }

    got = await asyncio.to_thread(trade)

    gtc, gtd, resting = got["placed"]
    assert [p["status"] for p in got["placed"]] == ["live", "live", "live"]
    assert got["crossing"]["success"] is False
    assert got["crossing"]["errorMsg"] == "invalid post-only order: order crosses book"
    assert {o["id"] for o in got["open_before"]} == {p["orderID"] for p in got["placed"]}
    assert (got["one"]["order_type"], got["one"]["price"]) == ("GTD", "0.49")
    assert int(got["one"]["expiration"]) > time.time()
    assert got["canceled_one"] == {"canceled": [gtc["orderID"]], "not_canceled": {}}
    assert got["canceled_market"]["canceled"] == [gtd["orderID"]]
    assert [o["id"] for o in got["open_after"]] == [resting["orderID"]]


async def test_a_gtd_order_expiring_within_a_minute_is_refused(sim: SimServer) -> None:
    yes, _ = tokens(sim)

    def place() -> PolyApiException:
        client = keyed_client(sim.url)
        args = OrderArgsV2(
            token_id=yes, price=0.49, size=10, side="BUY", expiration=int(time.time()) + 5
        )
        with pytest.raises(PolyApiException) as raised:
            client.create_and_post_order(args, order_type=OrderType.GTD)
        return raised.value

    refused = await asyncio.to_thread(place)

    assert refused.status_code == 400
    assert refused.error_msg["code"] == "INVALID_ORDER_EXPIRATION"


async def test_market_orders_fok_and_fak_fill_or_are_killed(sim: SimServer) -> None:
    yes, _ = tokens(sim)

    def trade() -> dict[str, Any]:
        client = keyed_client(sim.url)
        fok = client.create_and_post_market_order(
            MarketOrderArgsV2(token_id=yes, amount=5, side="BUY", order_type=OrderType.FOK)
        )
        killed = client.create_and_post_market_order(
            MarketOrderArgsV2(
                token_id=yes, amount=500, price=0.62, side="BUY", order_type=OrderType.FOK
            )
        )
        fak = client.create_and_post_market_order(
            MarketOrderArgsV2(
                token_id=yes, amount=500, price=0.62, side="BUY", order_type=OrderType.FAK
            ),
            order_type=OrderType.FAK,
        )
        balance = client.get_balance_allowance(
            BalanceAllowanceParams(asset_type=AssetType.CONDITIONAL, token_id=yes)
        )
        return {"fok": fok, "killed": killed, "fak": fak, "balance": balance}

    got = await asyncio.to_thread(trade)

    fok, fak = got["fok"], got["fak"]
    assert (fok["status"], len(fok["tradeIDs"]), len(fok["transactionsHashes"])) == (
        "matched",
        1,
        1,
    )
    assert Decimal(fok["makingAmount"]) <= 5
    assert got["killed"]["success"] is False
    assert got["killed"]["errorMsg"].startswith("order couldn't be fully filled")
    assert fak["status"] == "matched"
    assert Decimal(fak["makingAmount"]) < 500  # the book ran out: the rest was killed
    bought = Decimal(fok["takingAmount"]) + Decimal(fak["takingAmount"])
    assert Decimal(got["balance"]["balance"]) == bought * 1_000_000


async def test_batch_post_places_each_order_and_cancel_orders_and_all_clear_them(
    sim: SimServer,
) -> None:
    yes, no = tokens(sim)

    def trade() -> dict[str, Any]:
        client = keyed_client(sim.url)
        signed = [
            client.create_order(OrderArgsV2(token_id=yes, price=0.45, size=5, side="BUY")),
            client.create_order(OrderArgsV2(token_id=no, price=0.30, size=5, side="BUY")),
            client.create_order(OrderArgsV2(token_id=yes, price=0.44, size=5, side="BUY")),
            client.create_order(OrderArgsV2(token_id=yes, price=0.43, size=1, side="BUY")),
        ]
        batch = client.post_orders(
            [PostOrdersV2Args(order=o, orderType=OrderType.GTC) for o in signed]
        )
        first_two = [r["orderID"] for r in batch[:2]]
        return {
            "batch": batch,
            "canceled": client.cancel_orders(first_two),
            "all": client.cancel_all(),
            "open": client.get_open_orders(),
        }

    got = await asyncio.to_thread(trade)

    batch = got["batch"]
    assert [r["success"] for r in batch] == [True, True, True, False]
    assert batch[3]["errorMsg"] == "Size (1) lower than the minimum: 5"
    assert got["canceled"]["canceled"] == [r["orderID"] for r in batch[:2]]
    assert got["all"]["canceled"] == [batch[2]["orderID"]]
    assert got["open"] == []


async def test_trades_show_each_side_its_own_role_and_fill(sim: SimServer) -> None:
    yes, _ = tokens(sim)
    market = condition_id(sim)

    def trade() -> dict[str, Any]:
        maker, taker = keyed_client(sim.url), keyed_client(sim.url)
        maker.create_and_post_market_order(
            MarketOrderArgsV2(token_id=yes, amount=10, side="BUY", order_type=OrderType.FOK)
        )
        ask = maker.create_and_post_order(
            OrderArgsV2(token_id=yes, price=0.60, size=5, side="SELL")
        )
        hit = taker.create_and_post_order(
            OrderArgsV2(token_id=yes, price=0.60, size=5, side="BUY"), order_type=OrderType.FOK
        )
        return {
            "ask": ask,
            "hit": hit,
            "maker": maker.get_trades(TradeParams(market=market)),
            "taker": taker.get_trades_paginated(TradeParams(id=hit["tradeIDs"][0])),
        }

    got = await asyncio.to_thread(trade)

    assert got["hit"]["status"] == "matched"
    trade_id = got["hit"]["tradeIDs"][0]
    maker_view = next(t for t in got["maker"] if t["id"] == trade_id)
    assert maker_view["trader_side"] == "MAKER"
    assert maker_view["maker_orders"][0]["order_id"] == got["ask"]["orderID"]
    assert maker_view["maker_orders"][0]["matched_amount"] == "5"
    taker_view = got["taker"]["trades"]
    assert [(t["id"], t["trader_side"], t["price"]) for t in taker_view] == [
        (trade_id, "TAKER", "0.6")
    ]
    assert taker_view[0]["transaction_hash"] in got["hit"]["transactionsHashes"]

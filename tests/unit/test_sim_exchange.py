"""The simulated exchange without a server: a FakeClock and direct calls."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from polysim.clob.exchange import SimExchange
from polysim.clob.liquidity import LiquidityEngine
from polysim.clob.model import OrderChanged, OrderRejected, PlaceRequest, SimEvent, TradeChanged
from polysim.clob.scenario import load_scenario
from trader.clock import FakeClock
from trader.domain import OrderStatus, OrderType, Side, TradeStatus

D = Decimal
START = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
MARKET = {"question": "Unit market?", "fair_price": "0.50", "depth": 2, "level_size": "10"}


def make(**market: Any) -> tuple[SimExchange, FakeClock, list[SimEvent]]:
    clock = FakeClock(START)
    spec = {**MARKET, **market}
    scenario = load_scenario(
        {"markets": [spec], "initial_collateral": "100", "settlement_delay_s": 1},
        now=clock.now(),
        seed=3,
    )
    exchange = SimExchange(scenario, clock)
    events: list[SimEvent] = []
    exchange.listeners.append(events.extend)
    return exchange, clock, events


def tokens(exchange: SimExchange) -> tuple[str, str]:
    return next(iter(exchange.markets.values())).spec.token_ids


def order(
    exchange: SimExchange,
    token: str,
    side: Side,
    price: str,
    size: str,
    *,
    who: str = "0xA",
    kind: OrderType = OrderType.GTC,
    **extra: Any,
) -> PlaceRequest:
    return PlaceRequest(
        order_id=exchange.new_order_id(),
        token_id=token,
        side=side,
        price=D(price),
        size=D(size),
        order_type=kind,
        owner=f"key-{who}",
        address=who,
        collateral=D(price) * D(size),
        **extra,
    )


def test_resting_buy_reserves_collateral_until_cancelled() -> None:
    exchange, _, _ = make()
    yes, _ = tokens(exchange)

    placed = exchange.place(order(exchange, yes, Side.BUY, "0.40", "50"))

    assert placed.status == "live"
    assert exchange.free_collateral("0xA") == D(80)
    exchange.cancel([placed.order_id], owners={"key-0xA"})
    assert exchange.free_collateral("0xA") == D(100)


def test_yes_buyer_and_no_buyer_mint_a_pair() -> None:
    exchange, _, _ = make()
    yes, no = tokens(exchange)
    exchange.place(order(exchange, no, Side.BUY, "0.45", "10", who="0xB"))

    taken = exchange.place(order(exchange, yes, Side.BUY, "0.60", "10"))

    assert taken.status == "matched"
    assert taken.making == D("5.50")  # paid 1 - 0.45 per YES share
    a, b = exchange.ledger.account("0xA"), exchange.ledger.account("0xB")
    assert (a.tokens(yes), b.tokens(no)) == (D(10), D(10))
    assert (D(100) - a.collateral) + (D(100) - b.collateral) == D(10)  # one pUSD per pair


def test_taker_pays_the_fee_and_the_maker_does_not() -> None:
    exchange, _, _ = make(fee_rate_bps=1000)
    yes, _ = tokens(exchange)
    exchange.ledger.account("0xB").holding(yes).size = D(10)
    exchange.place(order(exchange, yes, Side.SELL, "0.50", "10", who="0xB"))

    exchange.place(order(exchange, yes, Side.BUY, "0.50", "10"))

    fee = D(10) * D("0.1") * D("0.25")
    assert exchange.ledger.account("0xA").collateral == D(100) - D(5) - fee
    assert exchange.ledger.account("0xB").collateral == D(105)
    assert exchange.trades[0].taker.fee == fee


def test_fill_or_kill_is_refused_when_the_book_is_too_thin() -> None:
    exchange, _, _ = make()
    yes, _ = tokens(exchange)
    LiquidityEngine(exchange, 1).start()  # asks: 10 @ 0.51, 15 @ 0.52

    with pytest.raises(OrderRejected) as killed:
        exchange.place(order(exchange, yes, Side.BUY, "0.52", "30", kind=OrderType.FOK))
    filled = exchange.place(order(exchange, yes, Side.BUY, "0.52", "25", kind=OrderType.FOK))

    assert killed.value.code == "FOK_ORDER_NOT_FILLED_ERROR"
    assert killed.value.http_status == 200
    assert filled.taking == D(25)


def test_fill_and_kill_keeps_what_filled_and_drops_the_rest() -> None:
    exchange, _, _ = make()
    yes, _ = tokens(exchange)
    LiquidityEngine(exchange, 1).start()

    partial = exchange.place(order(exchange, yes, Side.BUY, "0.51", "30", kind=OrderType.FAK))
    with pytest.raises(OrderRejected) as nothing:
        exchange.place(order(exchange, yes, Side.BUY, "0.40", "30", kind=OrderType.FAK))

    assert (partial.status, partial.taking) == ("matched", D(10))
    assert exchange.orders[partial.order_id].status is OrderStatus.MATCHED
    assert partial.order_id not in exchange.open
    assert nothing.value.code == "FAK_ORDER_NOT_FILLED_ERROR"


def test_post_only_is_refused_only_when_it_would_cross() -> None:
    exchange, _, _ = make()
    yes, _ = tokens(exchange)
    LiquidityEngine(exchange, 1).start()

    with pytest.raises(OrderRejected) as crossing:
        exchange.place(order(exchange, yes, Side.BUY, "0.51", "5", post_only=True))
    resting = exchange.place(order(exchange, yes, Side.BUY, "0.50", "5", post_only=True))

    assert crossing.value.code == "INVALID_POST_ONLY_ORDER"
    assert resting.status == "live"


@pytest.mark.parametrize(
    ("price", "size", "code"),
    [
        ("0.555", "10", "INVALID_ORDER_MIN_TICK_SIZE"),
        ("0.995", "10", "INVALID_ORDER_MIN_TICK_SIZE"),
        ("0.50", "4.99", "INVALID_ORDER_MIN_SIZE"),
        ("0.50", "500", "INVALID_ORDER_NOT_ENOUGH_BALANCE"),
    ],
)
def test_invalid_orders_carry_venue_codes(price: str, size: str, code: str) -> None:
    exchange, _, _ = make()
    yes, _ = tokens(exchange)

    with pytest.raises(OrderRejected) as refused:
        exchange.place(order(exchange, yes, Side.BUY, price, size))

    assert refused.value.code == code
    assert refused.value.http_status == 400


def test_gtd_orders_need_a_minute_and_expire_on_time() -> None:
    exchange, clock, _ = make()
    yes, _ = tokens(exchange)
    stamp = int(START.timestamp())

    with pytest.raises(OrderRejected) as too_soon:
        exchange.place(
            order(exchange, yes, Side.BUY, "0.40", "5", kind=OrderType.GTD, expiration=stamp + 30)
        )
    placed = exchange.place(
        order(exchange, yes, Side.BUY, "0.40", "5", kind=OrderType.GTD, expiration=stamp + 120)
    )
    clock.advance(119)
    exchange.run_due()
    still_open = placed.order_id in exchange.open
    clock.advance(2)
    exchange.run_due()

    assert too_soon.value.code == "INVALID_ORDER_EXPIRATION"
    assert still_open
    assert exchange.orders[placed.order_id].status is OrderStatus.CANCELED


def test_trades_settle_matched_then_mined_then_confirmed() -> None:
    exchange, clock, events = make()
    yes, _ = tokens(exchange)
    LiquidityEngine(exchange, 1).start()
    exchange.place(order(exchange, yes, Side.BUY, "0.51", "5"))
    trade = exchange.trades[0]

    seen = [trade.status]
    for _ in range(2):
        clock.advance(1)
        exchange.run_due()
        seen.append(trade.status)

    assert seen == [TradeStatus.MATCHED, TradeStatus.MINED, TradeStatus.CONFIRMED]
    statuses = [e.trade.status for e in events if isinstance(e, TradeChanged)]
    assert statuses == [TradeStatus.MATCHED, TradeStatus.MINED, TradeStatus.CONFIRMED]


def test_placement_is_published_before_its_trades() -> None:
    exchange, _, events = make()
    yes, _ = tokens(exchange)
    LiquidityEngine(exchange, 1).start()
    events.clear()

    exchange.place(order(exchange, yes, Side.BUY, "0.52", "20"))

    kinds = [type(e).__name__ for e in events if isinstance(e, OrderChanged | TradeChanged)]
    assert kinds == ["OrderChanged", "TradeChanged", "TradeChanged"]


def test_scheduled_resolution_cancels_orders_and_pays_winners() -> None:
    exchange, clock, _ = make(resolves_in_s=60, outcome="No")
    yes, no = tokens(exchange)
    LiquidityEngine(exchange, 1).start()
    exchange.place(order(exchange, no, Side.BUY, "0.51", "10"))  # takes the mirrored YES bid
    resting = exchange.place(order(exchange, yes, Side.BUY, "0.30", "10"))
    cash = exchange.ledger.account("0xA").collateral

    clock.advance(61)
    exchange.run_due()

    market = next(iter(exchange.markets.values()))
    assert market.closed
    assert market.winner == no
    assert exchange.orders[resting.order_id].status is OrderStatus.CANCELED_MARKET_RESOLVED
    assert exchange.ledger.account("0xA").collateral == cash + D(10)
    assert exchange.ledger.account("0xA").tokens(no) == 0
    assert not exchange.open  # the market maker's quotes went too


def test_same_seed_walks_the_same_path() -> None:
    paths = []
    for _ in range(2):
        exchange, _, _ = make(volatility=0.5)
        engine = LiquidityEngine(exchange, 42)
        engine.start()
        path = []
        for _ in range(20):
            engine.step(1.0)
            path.append(next(iter(exchange.markets.values())).fair)
        paths.append(path)

    assert paths[0] == paths[1]
    assert len(set(paths[0])) > 1
    assert all(D("0.01") <= p <= D("0.99") for p in paths[0])

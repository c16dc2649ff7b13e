"""A replay of a recorded simulator run reproduces the paper run's fills and PnL within one tick
a fill.

The live run: the paper venue on the simulator's market data (the official SDK, REST and the
market socket) buys three times as the simulated market walks, then sells everything. What it
saw is recorded as the run goes, in the backtest's history format: at each order, the YES mid
of the book the paper venue was filling against (`PaperVenue.get_book`), with the market's
metadata as Gamma listed it. The replay: the same paper venue over `ReplayMarketData` of that
history on a FakeClock at the recorded moments, with the fill model's half spread set to the
simulator's (one tick each side), placing the same orders. The recorder of the product (another
branch) will record books and trades; this test records only what it needs, and says so.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from polysim.clob.app import SimServer, serve
from tests.support.live_adapter_rig import endpoints_for
from tests.support.paper import MemoryJournal
from tests.support.waiting import eventually
from trader.backtest.feed import FillModel, ReplayMarketData
from trader.backtest.history import HistoricalMarket, History, PriceSeries
from trader.clock import FakeClock, SystemClock
from trader.domain import Book, Fill, Market, OrderRequest, OrderType, Side
from trader.venue.paper.venue import PaperVenue
from trader.venue.polymarket.market_data import PolymarketMarketData

TICK = Decimal("0.01")
SCENARIO = {
    "seed": 11,
    "markets": [
        {
            "question": "Will the harbour bridge reopen before the storm season?",
            "fair_price": "0.55",
            "volatility": 0.004,
            "flow_rate": 0.0,
            "level_size": "100",
            "depth": 5,
            "half_spread_ticks": 1,
            "fee_rate_bps": 200,
            "volume": "90000",
            "liquidity": "20000",
        }
    ],
}
ORDERS = (Side.BUY, Side.BUY, Side.BUY, Side.SELL)
SIZE = Decimal(30)
FEE_RATE = Decimal("0.02")  # 200 bps


@pytest.fixture
async def sim() -> AsyncIterator[SimServer]:
    server = await serve(scenario=SCENARIO, background=False)
    yield server
    await server.close()


def order(market: Market, side: Side, book: Book, number: int, size: Decimal) -> OrderRequest:
    assert book.best_ask is not None
    assert book.best_bid is not None
    limit = book.best_ask + 2 * TICK if side is Side.BUY else book.best_bid - 2 * TICK
    return OrderRequest(
        token_id=market.tokens[0].token_id,
        side=side,
        price=limit,
        size=size,
        client_order_id=f"order-{number}",
        order_type=OrderType.FAK,
        market=market.condition_id,
    )


async def trade(venue: PaperVenue, market: Market, book: Book, number: int) -> Sequence[Fill]:
    side = ORDERS[number]
    size = SIZE if side is Side.BUY else SIZE * 3
    result = await venue.submit(await venue.prepare(order(market, side, book, number, size)))
    return result.fills


def pnl(fills: Sequence[Fill]) -> Decimal:
    """Cash in minus cash out, fees paid: the round trip's PnL (everything bought is sold)."""
    return sum(
        (f.price * f.size * (-1 if f.side is Side.BUY else 1) - f.fee for f in fills), Decimal(0)
    )


async def test_replaying_the_recorded_run_reproduces_its_fills_within_a_tick(
    sim: SimServer,
) -> None:
    data = PolymarketMarketData(
        clock=SystemClock(), endpoints=endpoints_for(sim), reconnect_base=0.05, snapshot_grace=0.3
    )
    await data.start()
    live = PaperVenue(data, bankroll=Decimal(1000), clock=SystemClock(), journal=MemoryJournal())
    await live.start()
    recorded: list[tuple[datetime, Decimal]] = []
    live_fills: list[Sequence[Fill]] = []
    try:
        (market,) = await live.list_markets()
        token = market.tokens[0].token_id
        for number in range(len(ORDERS)):
            await sim.advance(900)  # the market walks for a quarter of an hour
            truth = await data.fetch_book(token)

            async def current(expected: Book = truth) -> bool:
                book = await live.get_book(token)
                return (book.best_bid, book.best_ask) == (expected.best_bid, expected.best_ask)

            await eventually(current)  # the socket has delivered the walk
            book = await live.get_book(token)
            assert book.mid is not None
            recorded.append((SystemClock().now(), book.mid))  # what the paper run saw
            live_fills.append(await trade(live, market, book, number))
    finally:
        await live.close()
        await data.close()
    times = tuple(t for t, _ in recorded)
    mids = tuple(p for _, p in recorded)
    history = History.of(
        [HistoricalMarket(market, times[0] - timedelta(hours=1))],
        {
            token: PriceSeries(times, mids),
            market.tokens[1].token_id: PriceSeries(times, tuple(1 - p for p in mids)),
        },
    )

    clock = FakeClock(times[0])
    source = ReplayMarketData(history, clock, FillModel(half_spread=TICK, depth=Decimal(100)))
    replay = PaperVenue(source, bankroll=Decimal(1000), clock=clock, journal=MemoryJournal())
    await replay.start()
    replay_fills: list[Sequence[Fill]] = []
    try:
        for number, at in enumerate(times):
            clock.set(at)
            await replay.list_markets()  # as the kernel's cycle does: the venue learns the fees
            replay_fills.append(await trade(replay, market, source.book(token), number))
            await asyncio.sleep(0)
    finally:
        await replay.close()
        source.close()

    assert [len(f) for f in live_fills] == [1, 1, 1, 1]  # one level each: 100 shares deep
    for live_leg, replay_leg in zip(live_fills, replay_fills, strict=True):
        (ours,) = live_leg
        (theirs,) = replay_leg
        assert (ours.side, ours.size) == (theirs.side, theirs.size)
        assert abs(ours.price - theirs.price) <= TICK
        assert abs(ours.fee - theirs.fee) <= FEE_RATE * TICK * ours.size  # the same schedule
    flat = [f for leg in live_fills for f in leg]
    again = [f for leg in replay_fills for f in leg]
    shares = sum((f.size for f in flat), Decimal(0))
    assert abs(pnl(flat) - pnl(again)) <= TICK * shares * Decimal("1.1")  # a tick a fill, fees
    assert any(f.fee > 0 for f in flat)

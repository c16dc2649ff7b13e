"""Paper fill throughput: marketable orders walking a book, and resting orders filled by updates.

    python -m bench.paper_fills

Everything runs in memory (`StaticMarketData`, a list journal, a fake clock), so the figures are
the paper venue's own cost per order and per fill: rounding, funds checks, book walking,
journaling and fan-out.
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

from tests.support.paper import MemoryJournal
from trader.clock import FakeClock
from trader.domain import Book, BookLevel, Market, OrderRequest, OrderType, OutcomeToken, Side
from trader.fees import schedule_from_bps
from trader.venue.paper.feed import StaticMarketData
from trader.venue.paper.venue import PaperVenue

ASSET = "bench-asset"
ORDERS = 2_000
RESTING = 500


def deep_book(clock: FakeClock, *, bid: str = "0.40", ask: str = "0.50", level: int = 100) -> Book:
    step = Decimal("0.01")
    bids = tuple(BookLevel(Decimal(bid) - i * step, Decimal(level)) for i in range(10))
    asks = tuple(BookLevel(Decimal(ask) + i * step, Decimal(level)) for i in range(10))
    return Book(token_id=ASSET, bids=bids, asks=asks, timestamp=clock.now(), market="0xbench")


def order(number: int, side: Side, price: str, size: str, kind: OrderType) -> OrderRequest:
    return OrderRequest(
        token_id=ASSET,
        side=side,
        price=Decimal(price),
        size=Decimal(size),
        client_order_id=f"bench-{number}",
        order_type=kind,
        market="0xbench",
    )


async def marketable(orders: int) -> dict[str, float]:
    clock = FakeClock()
    charged = Market(  # a 100 bps market: every taker fill computes its fee
        "0xbench",
        "Bench?",
        (OutcomeToken(ASSET, "Yes"),),
        None,
        fees=schedule_from_bps(Decimal(100)),
    )
    data = StaticMarketData(clock, [charged])
    data.set_book(deep_book(clock))
    venue = PaperVenue(data, bankroll=Decimal(10**9), clock=clock, journal=MemoryJournal())
    await venue.start()
    await venue.list_markets()
    fills = 0
    started = time.perf_counter()
    for number in range(orders):
        if number % 4 == 0:  # a fresh snapshot every few orders: taken liquidity comes back
            clock.advance(0.001)
            data.set_book(deep_book(clock))
        prepared = await venue.prepare(order(number, Side.BUY, "0.55", "250", OrderType.FAK))
        fills += len((await venue.submit(prepared)).fills)
    elapsed = time.perf_counter() - started
    await venue.close()
    return {
        "marketable_orders_per_s": round(orders / elapsed, 1),
        "marketable_fills_per_s": round(fills / elapsed, 1),
        "fills_per_marketable_order": round(fills / orders, 2),
    }


async def resting(count: int) -> dict[str, float]:
    clock = FakeClock()
    data = StaticMarketData(clock)
    data.set_book(deep_book(clock, bid="0.30", ask="0.60"))
    journal = MemoryJournal()
    venue = PaperVenue(data, bankroll=Decimal(10**9), clock=clock, journal=journal)
    await venue.start()
    for number in range(count):
        price = f"0.{40 + number % 10}"
        await venue.submit(await venue.prepare(order(number, Side.BUY, price, "10", OrderType.GTC)))
    stream = venue.fills()
    started = time.perf_counter()
    clock.advance(0.001)
    data.set_book(deep_book(clock, bid="0.20", ask="0.30", level=10_000))  # through every bid
    for _ in range(count):
        await anext(stream)
    elapsed = time.perf_counter() - started
    await venue.close()
    return {"resting_fills_per_s": round(count / elapsed, 1)}


def run() -> dict[str, float]:
    async def main() -> dict[str, float]:
        figures = await marketable(ORDERS)
        figures.update(await resting(RESTING))
        return figures

    return asyncio.run(main())


if __name__ == "__main__":
    for name, value in run().items():
        print(f"{name:30} {value}")

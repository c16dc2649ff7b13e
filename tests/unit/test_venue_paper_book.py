"""The paper venue keeps a bounded working set: ended orders are pruned to a recent window, and a
token's book is followed only while a paper order rests on it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from tests.support.paper import MemoryJournal, levels, make_book, order
from tests.support.waiting import eventually
from trader.clock import FakeClock
from trader.domain import OrderStatus, OrderType, Side
from trader.venue.paper.book import PaperOrderBook
from trader.venue.paper.feed import StaticMarketData
from trader.venue.paper.venue import PaperVenue

NOW = datetime(2026, 1, 1, tzinfo=UTC)
DEEP_ASKS = levels(("0.50", "100000"))


class Paper:
    def __init__(self, keep_closed: int) -> None:
        self.clock = FakeClock()
        self.data = StaticMarketData(self.clock)
        self.data.set_book(make_book(bids=levels(("0.40", "100")), asks=DEEP_ASKS))
        self.venue = PaperVenue(
            self.data,
            bankroll=Decimal(10**6),
            clock=self.clock,
            journal=MemoryJournal(),
            keep_closed=keep_closed,
        )

    async def place(self, side: Side, price: str, size: str, kind: OrderType = OrderType.GTC):  # type: ignore[no-untyped-def]
        prepared = await self.venue.prepare(order(side, price, size, kind))
        return await self.venue.submit(prepared)


@pytest.fixture
async def paper() -> AsyncIterator[Paper]:
    rig = Paper(keep_closed=5)
    await rig.venue.start()
    yield rig
    await rig.venue.close()


def test_order_book_keeps_only_the_most_recently_ended_orders() -> None:
    book = PaperOrderBook(keep_closed=3)
    request = order(Side.BUY, "0.30", "10")
    for number in range(10):
        book.place(f"o-{number}", request, (), NOW)  # LIVE: nothing filled
    book.cancel([f"o-{number}" for number in range(10)])

    assert (book.open_count, book.closed_count) == (0, 3)
    assert book.get("o-6") is None
    assert [book.get(f"o-{n}").status for n in (7, 8, 9)] == [OrderStatus.CANCELED] * 3  # type: ignore[union-attr]
    assert book.cancel(["o-9", "o-0"]).not_canceled == {
        "o-9": "already canceled or matched",
        "o-0": "order not found",
    }


def test_order_book_refuses_a_negative_window() -> None:
    with pytest.raises(ValueError, match="keep_closed"):
        PaperOrderBook(keep_closed=-1)


async def test_paper_ended_orders_are_answerable_right_after(paper: Paper) -> None:
    filled = await paper.place(Side.BUY, "0.50", "10", OrderType.FOK)
    killed = await paper.place(Side.BUY, "0.45", "10", OrderType.FAK)  # nothing at 0.45
    resting = await paper.place(Side.BUY, "0.30", "10")
    await paper.venue.cancel([resting.order_id])

    found = {
        result.order_id: await paper.venue.resolve_unknown(result.order_id)
        for result in (filled, killed, resting)
    }

    assert {k: o.status for k, o in found.items() if o is not None} == {
        filled.order_id: OrderStatus.MATCHED,
        killed.order_id: OrderStatus.CANCELED,
        resting.order_id: OrderStatus.CANCELED,
    }
    assert found[filled.order_id].size_matched == Decimal(10)  # type: ignore[union-attr]


async def test_paper_working_set_stays_bounded_after_many_orders(paper: Paper) -> None:
    first = await paper.place(Side.BUY, "0.50", "5", OrderType.FAK)
    for _ in range(200):
        await paper.place(Side.BUY, "0.50", "5", OrderType.FAK)
        resting = await paper.place(Side.BUY, "0.30", "5")
        await paper.venue.cancel([resting.order_id])
    still_resting = await paper.place(Side.BUY, "0.31", "5")
    last = await paper.place(Side.BUY, "0.50", "5", OrderType.FOK)

    book = paper.venue._book  # the working set itself: what every submit may look at
    assert (book.open_count, book.closed_count) == (1, 5)
    assert await paper.venue.get_order(first.order_id) is None  # long ended: forgotten
    assert (await paper.venue.get_order(last.order_id)).status is OrderStatus.MATCHED  # type: ignore[union-attr]
    assert [o.order_id for o in await paper.venue.open_orders()] == [still_resting.order_id]
    assert (await paper.venue.balance()).reserved == Decimal("1.55")
    (position,) = await paper.venue.positions()
    assert position.size == Decimal(5 * 202)


async def test_paper_follows_a_book_only_while_an_order_rests_on_it(paper: Paper) -> None:
    resting = await paper.place(Side.BUY, "0.45", "10")
    assert paper.venue.followed_tokens() == frozenset({resting_token()})
    stream = paper.venue.fills()

    paper.data.set_book(make_book(asks=levels(("0.44", "50"))))  # trades through: fills it all
    fill = await anext(stream)
    await eventually(lambda: not paper.venue.followed_tokens())
    paper.data.set_book(make_book(asks=DEEP_ASKS))
    again = await paper.place(Side.BUY, "0.45", "10")  # follows again, on the current book
    paper.data.set_book(make_book(asks=levels(("0.40", "3"))))
    second = await anext(stream)

    assert (fill.order_id, fill.size) == (resting.order_id, Decimal(10))
    assert (second.order_id, second.size) == (again.order_id, Decimal(3))
    assert paper.venue.followed_tokens() == frozenset({resting_token()})
    await stream.aclose()  # type: ignore[attr-defined]


def resting_token() -> str:
    return order(Side.BUY, "0.45", "10").token_id

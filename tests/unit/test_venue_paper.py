from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.paper import OTHER, TOKEN, MemoryJournal, levels, make_book, order
from tests.support.waiting import eventually
from trader.clock import FakeClock
from trader.domain import (
    BookLevel,
    Fill,
    Market,
    OrderRequest,
    OrderStatus,
    OrderType,
    OutcomeToken,
    Side,
)
from trader.fees import schedule_from_bps
from trader.venue.base import OrderRefused, OrderRejected, PreparedOrder, Venue
from trader.venue.paper.feed import StaticMarketData
from trader.venue.paper.venue import PaperVenue


class Rig:
    def __init__(
        self, bankroll: str = "1000", fee_bps: str = "0", journal: MemoryJournal | None = None
    ):
        self.clock = FakeClock()
        market = Market(
            "0xm",
            "Will the rig pass?",
            (OutcomeToken(TOKEN, "Yes"), OutcomeToken(OTHER, "No")),
            None,
            fees=schedule_from_bps(Decimal(fee_bps)),
        )
        self.data = StaticMarketData(self.clock, [market])
        self.journal = journal or MemoryJournal()
        self.venue = PaperVenue(
            self.data, bankroll=Decimal(bankroll), clock=self.clock, journal=self.journal
        )

    async def place(self, request: OrderRequest):  # type: ignore[no-untyped-def]
        await self.venue.list_markets()  # as the board does: the venue learns each fee schedule
        prepared = await self.venue.prepare(request)
        return await self.venue.submit(prepared)


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    rig = Rig()
    rig.data.set_book(
        make_book(
            bids=levels(("0.48", "100"), ("0.47", "50")),
            asks=levels(("0.50", "10"), ("0.52", "20")),
        )
    )
    await rig.venue.start()
    yield rig
    await rig.venue.close()


def test_paper_venue_implements_the_venue_protocol() -> None:
    assert isinstance(Rig().venue, Venue)


async def test_paper_marketable_buy_walks_the_book_up_to_its_limit(rig: Rig) -> None:
    result = await rig.place(order(Side.BUY, "0.52", "25"))

    assert [(f.price, f.size) for f in result.fills] == [
        (Decimal("0.50"), Decimal(10)),
        (Decimal("0.52"), Decimal(15)),
    ]
    assert result.status is OrderStatus.MATCHED
    assert (await rig.venue.balance()).cash == Decimal(1000) - Decimal("5.00") - Decimal("7.80")
    (position,) = await rig.venue.positions()
    assert position.size == Decimal(25)
    assert position.average_price == Decimal("12.80") / 25


async def test_paper_gtc_rests_the_remainder(rig: Rig) -> None:
    result = await rig.place(order(Side.BUY, "0.50", "25"))

    assert sum(f.size for f in result.fills) == Decimal(10)
    assert result.status is OrderStatus.LIVE
    (live,) = await rig.venue.open_orders()
    assert (live.remaining, live.size_matched) == (Decimal(15), Decimal(10))
    assert (await rig.venue.balance()).reserved == Decimal("7.50")


async def test_paper_fok_is_all_or_nothing(rig: Rig) -> None:
    killed = await rig.place(order(Side.BUY, "0.52", "31", OrderType.FOK))
    filled = await rig.place(order(Side.BUY, "0.52", "30", OrderType.FOK))

    assert (killed.status, killed.fills, killed.error_code) == (
        OrderStatus.CANCELED,
        (),
        "FOK_ORDER_NOT_FILLED_ERROR",
    )
    assert filled.status is OrderStatus.MATCHED
    assert sum(f.size for f in filled.fills) == Decimal(30)


async def test_paper_fak_keeps_what_it_got_and_cancels_the_rest(rig: Rig) -> None:
    result = await rig.place(order(Side.BUY, "0.51", "25", OrderType.FAK))

    assert sum(f.size for f in result.fills) == Decimal(10)
    assert result.status is OrderStatus.CANCELED
    assert result.error_code is None
    assert await rig.venue.open_orders() == []


async def test_paper_liquidity_taken_stays_taken_until_the_next_update(rig: Rig) -> None:
    first = await rig.place(order(Side.BUY, "0.50", "8", OrderType.FAK))
    second = await rig.place(order(Side.BUY, "0.50", "8", OrderType.FAK))
    rig.clock.advance(1)
    rig.data.set_book(make_book(asks=levels(("0.50", "10"))))
    third = await rig.place(order(Side.BUY, "0.50", "8", OrderType.FAK))

    assert [sum(f.size for f in r.fills) for r in (first, second, third)] == [
        Decimal(8),
        Decimal(2),
        Decimal(8),
    ]


async def test_paper_sell_takes_bids_and_needs_shares(rig: Rig) -> None:
    with pytest.raises(OrderRejected) as info:
        await rig.place(order(Side.SELL, "0.40", "5"))
    assert info.value.code == "INVALID_ORDER_NOT_ENOUGH_BALANCE"

    await rig.place(order(Side.BUY, "0.52", "30", OrderType.FOK))
    sold = await rig.place(order(Side.SELL, "0.47", "30", OrderType.FAK))

    assert [(f.price, f.size) for f in sold.fills] == [(Decimal("0.48"), Decimal(30))]
    assert await rig.venue.positions() == []


async def test_paper_buy_beyond_cash_is_rejected() -> None:
    rig = Rig(bankroll="5")
    rig.data.set_book(make_book(asks=levels(("0.50", "100"))))
    await rig.venue.start()

    with pytest.raises(OrderRejected, match="not enough balance"):
        await rig.place(order(Side.BUY, "0.50", "11"))

    await rig.venue.close()


async def test_paper_post_only_crossing_is_rejected(rig: Rig) -> None:
    with pytest.raises(OrderRejected) as info:
        await rig.place(order(Side.BUY, "0.50", "5", post_only=True))

    assert info.value.code == "INVALID_POST_ONLY_ORDER"


async def test_paper_prepare_rounds_and_refuses(rig: Rig) -> None:
    prepared = await rig.venue.prepare(order(Side.BUY, "0.4567", "7.999"))

    assert (prepared.request.price, prepared.request.size) == (Decimal("0.45"), Decimal("7.99"))
    assert prepared.order_id.startswith("paper-")
    with pytest.raises(OrderRefused):
        await rig.venue.prepare(order(Side.BUY, "0.45", "4"))


async def test_paper_resting_buy_fills_only_when_asks_move_strictly_through(rig: Rig) -> None:
    resting = await rig.place(order(Side.BUY, "0.49", "20"))
    assert resting.status is OrderStatus.LIVE
    stream = rig.venue.fills()

    rig.data.set_book(make_book(asks=levels(("0.49", "50"))))  # touches: no fill
    rig.data.set_book(make_book(asks=levels(("0.48", "5"), ("0.49", "50"))))  # 5 traded through

    fill = await asyncio.wait_for(anext(stream), 5)
    assert (fill.order_id, fill.price, fill.size, fill.liquidity) == (
        resting.order_id,
        Decimal("0.49"),
        Decimal(5),
        "MAKER",
    )
    rig.data.set_book(make_book(asks=levels(("0.40", "100"))))

    async def matched() -> bool:
        current = await rig.venue.get_order(resting.order_id)
        return current is not None and current.status is OrderStatus.MATCHED

    await eventually(matched)
    assert sum(f.size for f in rig.journal.fills) == Decimal(20)
    await stream.aclose()  # type: ignore[attr-defined]


async def test_paper_resting_sell_serves_the_best_price_first(rig: Rig) -> None:
    await rig.place(order(Side.BUY, "0.52", "30", OrderType.FOK))
    high = await rig.place(order(Side.SELL, "0.60", "10"))
    low = await rig.place(order(Side.SELL, "0.55", "10"))

    rig.data.set_book(make_book(bids=levels(("0.61", "12"))))

    await eventually(lambda: len(rig.journal.fills) == 4)
    by_order = {f.order_id: f.size for f in rig.journal.fills}
    assert by_order[low.order_id] == Decimal(10)
    assert by_order[high.order_id] == Decimal(2)


async def test_paper_cancel_and_cancel_all(rig: Rig) -> None:
    one = await rig.place(order(Side.BUY, "0.30", "10"))
    two = await rig.place(order(Side.BUY, "0.31", "10"))

    first = await rig.venue.cancel([one.order_id, "nope"])
    again = await rig.venue.cancel([one.order_id])
    rest = await rig.venue.cancel_all()

    assert first.canceled == (one.order_id,)
    assert first.not_canceled == {"nope": "order not found"}
    assert again.not_canceled == {one.order_id: "already canceled or matched"}
    assert rest.canceled == (two.order_id,)
    assert (await rig.venue.balance()).reserved == 0
    assert (await rig.venue.get_order(two.order_id)).status is OrderStatus.CANCELED  # type: ignore[union-attr]


async def test_paper_gtd_expires(rig: Rig) -> None:
    expiry = rig.clock.now() + timedelta(minutes=5)
    placed = await rig.place(order(Side.BUY, "0.30", "10", OrderType.GTD, expiration=expiry))

    rig.clock.advance(301)

    assert await rig.venue.open_orders() == []
    assert (await rig.venue.get_order(placed.order_id)).status is OrderStatus.EXPIRED  # type: ignore[union-attr]


async def test_paper_duplicate_submit_is_rejected(rig: Rig) -> None:
    prepared = await rig.venue.prepare(order(Side.BUY, "0.30", "10"))
    await rig.venue.submit(prepared)

    with pytest.raises(OrderRejected) as info:
        await rig.venue.submit(prepared)

    assert info.value.code == "INVALID_ORDER_DUPLICATED"


async def test_paper_fees_are_charged_on_every_fill() -> None:
    rig = Rig(fee_bps="200")
    rig.data.set_book(make_book(asks=levels(("0.80", "100"))))
    await rig.venue.start()

    result = await rig.place(order(Side.BUY, "0.80", "10", OrderType.FOK))

    assert result.fills[0].fee == Decimal("0.032")  # 10 * 2% * (0.8 * 0.2)
    assert (await rig.venue.balance()).cash == Decimal(1000) - Decimal(8) - Decimal("0.032")
    await rig.venue.close()


async def test_paper_restart_resumes_exactly_from_the_journal() -> None:
    first = Rig(fee_bps="100")
    first.data.set_book(make_book(asks=levels(("0.50", "100")), bids=levels(("0.45", "100"))))
    await first.venue.start()
    await first.place(order(Side.BUY, "0.50", "40", OrderType.FOK))
    await first.place(order(Side.SELL, "0.45", "15", OrderType.FOK))
    before = (
        await first.venue.balance(),
        await first.venue.positions(),
        await first.venue.trades(),
    )
    await first.venue.close()

    second = Rig(fee_bps="100", journal=first.journal)
    await second.venue.start()
    after = (
        await second.venue.balance(),
        await second.venue.positions(),
        await second.venue.trades(),
    )

    assert after == before
    assert after[1][0].size == Decimal(25)
    await second.venue.close()


async def test_paper_trades_filter_by_market_and_time(rig: Rig) -> None:
    await rig.place(order(Side.BUY, "0.50", "5", OrderType.FOK))
    cut = rig.clock.now()
    rig.clock.advance(1)
    await rig.place(order(Side.BUY, "0.52", "5", OrderType.FOK))

    assert len(await rig.venue.trades(market="0xm")) == 2
    assert len(await rig.venue.trades(after=cut)) == 1
    assert await rig.venue.trades(market="0xother") == []


class ForgetfulJournal(MemoryJournal):
    """As the app's: the execution engine persists fills, the journal only reads them back."""

    async def record(self, fill: Fill) -> None:
        return None


async def test_paper_trades_come_back_as_made_and_their_history_is_not_walked_by_the_gc() -> None:
    """Every fill a paper trader ever made is kept for `trades()`; kept as plain values, a
    long history adds nothing to a full garbage collection's walk."""
    rig = Rig(journal=ForgetfulJournal())
    await rig.venue.start()
    book = make_book(bids=levels(("0.48", "100")), asks=levels(("0.50", "100")))
    made: list[Fill] = []
    for _ in range(200):
        rig.data.set_book(book)  # fresh liquidity
        made.extend((await rig.place(order(Side.BUY, "0.50", "5", OrderType.FOK))).fills)
        rig.clock.advance(1)
    made.extend((await rig.place(order(Side.SELL, "0.48", "15", OrderType.FOK))).fills)
    listed = await rig.venue.trades()
    same = listed == made
    sides = {f.side for f in listed}
    del made, listed  # only the venue holds the fills now
    gc.collect()
    tracked_fills = sum(isinstance(o, Fill) for o in gc.get_objects())

    await rig.venue.close()

    assert same
    assert sides == {Side.BUY, Side.SELL}
    assert tracked_fills == 0  # kept as plain values, not one tracked object per fill


# --- properties ----------------------------------------------------------------------------

price_st = st.integers(min_value=1, max_value=99).map(lambda c: Decimal(c) / 100)
size_st = st.integers(min_value=500, max_value=50_000).map(lambda c: Decimal(c) / 100)
asks_st = st.lists(st.tuples(price_st, size_st), min_size=0, max_size=6, unique_by=lambda t: t[0])


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


@settings(max_examples=60, deadline=None)
@given(
    asks=asks_st,
    limit=price_st,
    size=size_st,
    order_type=st.sampled_from([OrderType.GTC, OrderType.FAK, OrderType.FOK]),
    fee_bps=st.sampled_from([Decimal(0), Decimal(50), Decimal(200)]),
)
def test_paper_buy_never_fills_above_limit_nor_beyond_the_book_and_conserves_value(
    asks: list[tuple[Decimal, Decimal]],
    limit: Decimal,
    size: Decimal,
    order_type: OrderType,
    fee_bps: Decimal,
) -> None:
    async def scenario() -> None:
        rig = Rig(bankroll="1000000", fee_bps=str(fee_bps))
        book = make_book(
            asks=tuple(sorted((BookLevel(p, s) for p, s in asks), key=lambda lvl: lvl.price))
        )
        rig.data.set_book(book)
        await rig.venue.start()
        request = order(Side.BUY, str(limit), str(size), order_type)
        result = await rig.venue.submit(PreparedOrder(request, "p-1", ""))
        balance = await rig.venue.balance()
        positions = await rig.venue.positions()
        await rig.venue.close()

        offered = sum((lvl.size for lvl in book.asks if lvl.price <= limit), Decimal(0))
        filled = sum((f.size for f in result.fills), Decimal(0))
        fees = sum((f.fee for f in result.fills), Decimal(0))
        assert all(f.price <= limit for f in result.fills)
        assert filled <= min(offered, request.size)
        if order_type is OrderType.FOK:
            assert filled in (Decimal(0), request.size)
        held_at_cost = sum((p.size * p.average_price for p in positions), Decimal(0))
        assert balance.cash + held_at_cost == Decimal(1000000) - fees

    run(scenario())


@settings(max_examples=40, deadline=None)
@given(
    mark=price_st,
    trades=st.lists(st.tuples(st.sampled_from(list(Side)), size_st), min_size=1, max_size=8),
    fee_bps=st.sampled_from([Decimal(0), Decimal(100)]),
)
def test_paper_cash_plus_position_value_is_conserved_up_to_fees(
    mark: Decimal, trades: list[tuple[Side, Decimal]], fee_bps: Decimal
) -> None:
    async def scenario() -> None:
        rig = Rig(bankroll="1000000", fee_bps=str(fee_bps))
        await rig.venue.start()
        for number, (side, size) in enumerate(trades):
            both = levels((str(mark), "1000"))
            rig.data.set_book(make_book(bids=both, asks=both))
            with contextlib.suppress(OrderRejected):
                request = order(side, str(mark), str(size), OrderType.FAK)
                await rig.venue.submit(PreparedOrder(request, f"p-{number}", ""))
        balance = await rig.venue.balance()
        positions = await rig.venue.positions()
        await rig.venue.close()

        fees = sum((f.fee for f in rig.journal.fills), Decimal(0))
        value = sum((p.size * mark for p in positions), Decimal(0))
        assert balance.cash + value == Decimal(1000000) - fees

    run(scenario())

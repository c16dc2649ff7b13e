"""Maker orders in paper: the execution core's maker desk on a real database and event log, with
the paper venue over in-memory books (YES: bids 0.48/0.47, asks 0.52/0.53, tick 0.01).

A maker intent rests post-only inside the touch, counts against exposure while it rests, is
repriced when the touch moves (and on a tick-size change), is cancelled when it lapses, never
crosses, and takes at its limit only when it is urgent."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tests.support.execution_rig import (
    CONDITION,
    TEST_LIMITS,
    YES,
    Rig,
    book,
    buy,
    maker_buy,
    paper_rig,
)
from tests.support.waiting import eventually
from trader.clock import FakeClock
from trader.control.types import Outcome
from trader.domain import Actor, Book, OrderStatus, Side

D = Decimal
OPERATOR = Actor("telegram", "42", "ops")


async def _publish(rig: Rig, new: Book) -> None:
    """The book feed's update (as `follow_books` publishes it), applied to the board."""
    assert rig.data is not None
    stamped = rig.data.set_book(new)
    rig.bus.books.publish(stamped)
    await eventually(lambda: rig.runtime.board.cached_book(YES) == stamped)


async def _open(rig: Rig) -> dict[str, tuple[Decimal, Decimal]]:
    """The venue's open orders: id -> (price, size)."""
    return {o.order_id: (o.price, o.original_size) for o in await rig.venue.open_orders()}


async def _created(rig: Rig, correlation_id: str) -> list[dict[str, object]]:
    events = await rig.events.by_correlation(correlation_id)
    return [dict(e.payload) for e in events if e.type == "order_created"]


async def test_a_maker_entry_rests_post_only_inside_the_touch_and_counts_against_exposure(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    limits = dataclasses.replace(TEST_LIMITS, max_exposure=D(15))
    async with paper_rig(engine, sessions, limits=limits) as rig:
        result = await rig.runtime.handle(maker_buy("0.53", "20"))

        assert (result.outcome, result.status, result.filled) == (
            Outcome.PLACED,
            OrderStatus.LIVE,
            D(0),
        )
        assert await _open(rig) == {result.order_id: (D("0.49"), D(20))}  # bid 0.48 + 1 tick
        (created,) = await _created(rig, result.correlation_id)
        assert (created["post_only"], created["price"]) == (True, "0.49")
        exposure = rig.runtime.exposure_for(CONDITION, YES)
        assert exposure.market_exposure == D("9.80")  # 20 x 0.49 resting
        assert exposure.open_orders == 1
        # 9.80 resting + 10.60 more would pass the $15 limit: the resting order counts
        denied = await rig.runtime.handle(buy("0.53", "20"))
        assert (denied.outcome, denied.rule) == (Outcome.DENIED, "max_exposure")


async def test_a_resting_maker_order_is_repriced_when_the_touch_moves_and_never_crosses(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with paper_rig(engine, sessions) as rig:
        rig.run("execution.books")
        first = await rig.runtime.handle(maker_buy("0.53", "20"))
        assert first.order_id is not None

        unchanged = await rig.runtime.maker_cycle()
        assert (unchanged.kept, unchanged.repriced) == (1, 0)  # its own bid is not the touch

        await _publish(rig, book(YES, [("0.50", "100")], [("0.54", "100")]))
        moved = await rig.runtime.maker_cycle()

        assert moved.repriced == 1
        (second,) = (await _open(rig)).items()
        assert second[1] == (D("0.51"), D(20))
        assert (await rig.venue.get_order(first.order_id)).status is OrderStatus.CANCELED  # type: ignore[union-attr]
        created = await _created(rig, first.correlation_id)
        assert [c["replaces"] for c in created[1:]] == [first.order_id]

        # one tick of spread: the entry joins the bid, it never takes the ask
        await _publish(rig, book(YES, [("0.50", "100")], [("0.51", "100")]))
        await rig.runtime.maker_cycle()
        (third,) = (await _open(rig)).values()
        assert third == (D("0.50"), D(20))
        # the touch rises past the limit: nothing passive within 0.53, the patient entry waits
        await _publish(rig, book(YES, [("0.55", "100")], [("0.57", "100")]))
        waiting = await rig.runtime.maker_cycle()
        assert waiting.kept == 1
        assert await _open(rig) == {}
        (view,) = rig.runtime.maker_entries()
        assert (view.order_id, view.remaining) == (None, D(20))
        assert rig.runtime.position(YES) is None  # never crossed: nothing filled


async def test_a_tick_size_change_reprices_on_the_new_grid(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with paper_rig(engine, sessions) as rig:
        rig.run("execution.books")
        await rig.runtime.handle(maker_buy("0.53", "20"))
        finer = dataclasses.replace(
            book(YES, [("0.48", "100")], [("0.52", "100")]), tick_size=D("0.001")
        )

        await _publish(rig, finer)
        cycle = await rig.runtime.maker_cycle()

        assert cycle.repriced == 1
        assert list((await _open(rig)).values()) == [(D("0.481"), D(20))]


async def test_a_maker_order_is_cancelled_when_its_intent_lapses(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    clock = FakeClock()
    async with paper_rig(engine, sessions, clock=clock) as rig:
        lapsing = await rig.runtime.handle(
            maker_buy(expires_at=clock.now() + timedelta(seconds=60))
        )
        assert lapsing.status is OrderStatus.LIVE
        clock.advance(30)
        assert (await rig.runtime.maker_cycle()).kept == 1

        clock.advance(31)
        cycle = await rig.runtime.maker_cycle()

        assert cycle.lapsed == 1
        assert await _open(rig) == {}
        assert rig.runtime.maker_entries() == []
        types = await rig.event_types(lapsing.correlation_id)
        assert types[-2:] == ["order_canceled", "maker_lapsed"]
        # a kill lapses every entry: the next cycle forgets them (the kill cancelled the orders)
        await rig.runtime.handle(maker_buy())
        await rig.runtime.kill_switch.kill(OPERATOR, flatten=False)
        assert (await rig.runtime.maker_cycle()).lapsed == 1
        assert rig.runtime.maker_entries() == []


async def test_an_urgent_entry_refused_as_crossing_takes_and_a_patient_one_waits(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with paper_rig(engine, sessions) as rig:
        assert rig.data is not None
        await rig.runtime.board.book_for(YES)  # the board has read bid 0.48 / ask 0.52 ...
        # ... and the venue's book moves before the board hears of it: ask 0.49
        rig.data.set_book(book(YES, [("0.47", "100")], [("0.49", "100"), ("0.53", "100")]))

        patient = await rig.runtime.handle(maker_buy("0.53", "20"))
        assert (patient.outcome, patient.rule) == (Outcome.REFUSED, "maker_waiting")
        assert await _open(rig) == {}
        assert rig.runtime.position(YES) is None

        urgent = await rig.runtime.handle(maker_buy("0.53", "20", urgent=True))

        assert (urgent.outcome, urgent.status) == (Outcome.PLACED, OrderStatus.MATCHED)
        position = rig.runtime.position(YES)
        assert position is not None
        assert (position.size, position.average_price) == (D(20), D("0.49"))
        types = await rig.event_types(urgent.correlation_id)
        assert "maker_taking" in types
        entries = rig.runtime.maker_entries()
        assert [e.correlation_id for e in entries] == [patient.correlation_id]
        assert all(e.side is Side.BUY for e in entries)

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
from trader.domain import Actor, Book, OrderStatus

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
            maker_buy(expires_at=clock.now() + timedelta(seconds=600))
        )
        assert lapsing.status is OrderStatus.LIVE
        clock.advance(300)
        assert (await rig.runtime.maker_cycle()).kept == 1

        clock.advance(301)
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
        # the urgent entry replaced the patient one on the token; then it took and was done
        assert rig.runtime.maker_entries() == []
        assert "maker_replaced" in await rig.event_types(patient.correlation_id)


async def test_a_reprice_too_close_to_the_lapse_for_a_gtd_order_lapses_instead_of_resting_gtc(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    clock = FakeClock()
    async with paper_rig(engine, sessions, clock=clock) as rig:
        rig.run("execution.books")
        placed = await rig.runtime.handle(
            maker_buy(expires_at=clock.now() + timedelta(seconds=600))
        )
        (first,) = await _created(rig, placed.correlation_id)
        assert first["order_type"] == "GTD"
        clock.advance(450)  # 150 s left: the venue takes no GTD order expiring that soon

        await _publish(rig, book(YES, [("0.50", "100")], [("0.54", "100")]))
        cycle = await rig.runtime.maker_cycle()

        assert (cycle.lapsed, cycle.repriced) == (1, 0)
        assert await _open(rig) == {}  # cancelled, and nothing without an expiry in its place
        assert len(await _created(rig, placed.correlation_id)) == 1
        assert rig.runtime.maker_entries() == []
        (lapsed,) = await _payloads(rig, placed.correlation_id, "maker_lapsed")
        assert ("GTD" in str(lapsed["reason"]), lapsed["order_id"]) == (True, placed.order_id)
        assert "maker_repriced" not in await rig.event_types(placed.correlation_id)
        # an entry that would first rest that close to its lapse is not sent at all
        late = await rig.runtime.handle(maker_buy(expires_at=clock.now() + timedelta(seconds=60)))
        assert (late.outcome, late.rule) == (Outcome.REFUSED, "maker_lapsed")
        assert await _open(rig) == {}
        assert rig.runtime.maker_entries() == []


async def _payloads(rig: Rig, correlation_id: str, kind: str) -> list[dict[str, object]]:
    events = await rig.events.by_correlation(correlation_id)
    return [dict(e.payload) for e in events if e.type == kind]


async def test_a_new_entry_on_the_token_replaces_the_one_there_so_risk_sees_every_order(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    limits = dataclasses.replace(TEST_LIMITS, max_position=D(15))
    async with paper_rig(engine, sessions, limits=limits) as rig:
        rig.run("execution.books")
        # the bid 0.48 is past its limit: it waits, reserving nothing
        waiting = await rig.runtime.handle(maker_buy("0.47", "20"))
        assert (waiting.outcome, waiting.rule) == (Outcome.REFUSED, "maker_waiting")
        # 10.60 at its limit passes the $15 cap: the waiting entry holds nothing
        resting = await rig.runtime.handle(maker_buy("0.53", "20"))
        assert resting.status is OrderStatus.LIVE

        entries = rig.runtime.maker_entries()
        assert [e.correlation_id for e in entries] == [resting.correlation_id]
        assert "maker_replaced" in await rig.event_types(waiting.correlation_id)
        # the touch falls within both limits: one order rests, never two
        await _publish(rig, book(YES, [("0.45", "100")], [("0.50", "100")]))
        await rig.runtime.maker_cycle()
        assert len(await _open(rig)) == 1
        assert rig.runtime.exposure_for(CONDITION, YES).market_exposure <= D(15)

        # a newer entry replaces a resting one: its order is cancelled before the new one rests
        newer = await rig.runtime.handle(maker_buy("0.52", "10"))
        assert newer.status is OrderStatus.LIVE
        assert list(await _open(rig)) == [newer.order_id]
        assert [e.correlation_id for e in rig.runtime.maker_entries()] == [newer.correlation_id]
        (replaced,) = await _payloads(rig, resting.correlation_id, "maker_replaced")
        assert replaced["by"] == newer.correlation_id


async def test_a_waiting_entry_is_checked_again_before_it_first_rests(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    limits = dataclasses.replace(TEST_LIMITS, max_position=D(15))
    async with paper_rig(engine, sessions, limits=limits) as rig:
        rig.run("execution.books")
        waiting = await rig.runtime.handle(maker_buy("0.47", "20"))  # 9.40 at its limit
        assert waiting.rule == "maker_waiting"
        taken = await rig.runtime.handle(buy("0.53", "20"))  # 20 at 0.52: 10.40 held
        assert taken.status is OrderStatus.MATCHED

        # the touch falls below its limit: resting 20 at 0.47 would make 19.80 of $15
        await _publish(rig, book(YES, [("0.45", "100")], [("0.50", "100")]))
        cycle = await rig.runtime.maker_cycle()

        assert (cycle.lapsed, cycle.repriced) == (1, 0)
        assert await _open(rig) == {}
        assert rig.runtime.maker_entries() == []
        assert await _created(rig, waiting.correlation_id) == []
        (lapsed,) = await _payloads(rig, waiting.correlation_id, "maker_lapsed")
        assert "max_position" in str(lapsed["reason"])


async def test_an_urgent_entry_is_checked_again_before_it_takes_from_a_later_cycle(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    limits = dataclasses.replace(TEST_LIMITS, max_position=D("15.50"))
    async with paper_rig(engine, sessions, limits=limits) as rig:
        rig.run("execution.books")
        urgent = await rig.runtime.handle(maker_buy("0.53", "20", urgent=True))
        assert urgent.status is OrderStatus.LIVE  # 20 at 0.49: 9.80 reserved
        taken = await rig.runtime.handle(buy("0.53", "10"))  # 9.80 + 5.30 within 15.50
        assert taken.status is OrderStatus.MATCHED  # 10 at 0.52: 5.20 held

        # the bid rises past its limit: taking 20 at 0.53 would make 5.20 + 10.60 of $15.50
        await _publish(rig, book(YES, [("0.55", "100")], [("0.57", "100")]))
        cycle = await rig.runtime.maker_cycle()

        assert (cycle.lapsed, cycle.taken) == (1, 0)
        types = await rig.event_types(urgent.correlation_id)
        assert "maker_taking" not in types
        assert len(await _created(rig, urgent.correlation_id)) == 1  # the resting one only
        (lapsed,) = await _payloads(rig, urgent.correlation_id, "maker_lapsed")
        assert "max_position" in str(lapsed["reason"])
        assert await _open(rig) == {}
        assert rig.runtime.maker_entries() == []


async def test_the_check_again_is_no_repeat_for_the_cooldown(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    limits = dataclasses.replace(TEST_LIMITS, cooldown_s=D(300))
    async with paper_rig(engine, sessions, limits=limits) as rig:
        rig.run("execution.books")
        entry = await rig.runtime.handle(maker_buy("0.53", "20"))
        assert entry.status is OrderStatus.LIVE
        await _publish(rig, book(YES, [("0.55", "100")], [("0.57", "100")]))
        await rig.runtime.maker_cycle()  # past its limit: cancelled, it waits
        assert await _open(rig) == {}

        await _publish(rig, book(YES, [("0.48", "100")], [("0.52", "100")]))
        cycle = await rig.runtime.maker_cycle()

        assert cycle.repriced == 1  # its own order a moment ago is no repeat of it
        assert list((await _open(rig)).values()) == [(D("0.49"), D(20))]
        assert (await rig.event_types(entry.correlation_id)).count("risk_passed") == 2
        # another intent on the token still cools down
        denied = await rig.runtime.handle(buy("0.53", "5"))
        assert (denied.outcome, denied.rule) == (Outcome.DENIED, "cooldown")

"""Maker orders against the CLOB simulator, through the live adapter (the real SDK).

The market "Will the kill switch work?" quotes bids 0.59/0.58/0.57 and asks 0.61/0.62/0.63
(tick 0.01, 50 a level, no flow). A maker BUY limited at 0.70 rests post-only at 0.60 (one tick
above the bid, one below the ask), is repriced when the market maker re-quotes, follows a
tick-size change at once (the desk is woken; the hourly cycle does not come), is cancelled when
its intent lapses, is refused by the venue rather than cross (only an urgent one then takes),
and a restart cancels the resting maker orders whose intents died with the process.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from polysim.clob.app import SimServer
from polysim.clob.model import MARKET_MAKER
from tests.support.execution_rig import Rig, live_rig, sim, sim_intent, sim_market
from tests.support.waiting import eventually
from trader.control.types import Outcome
from trader.domain import MakerEntry, Market, OrderIntent, OrderStatus, OrderType
from trader.execution.runtime import ExecutionConfig
from trader.execution.trading_state import Transition

__all__ = ["sim"]  # fixtures used by name below

D = Decimal
WAIT_S = 20.0  # every wait on the simulator is bounded


def maker(market: Market, *, limit: str = "0.70", urgent: bool = False, **kw: Any) -> OrderIntent:
    return dataclasses.replace(
        sim_intent(market, limit, "20", model="0.85"),
        post_only=True,
        maker=MakerEntry(improve_ticks=1, urgent=urgent),
        **kw,
    )


def resting(sim: SimServer) -> dict[str, Any]:
    """Our open orders at the simulator (the market maker's left out), by id."""
    exchange = sim.context.exchange
    return {i: o for i, o in exchange.open.items() if o.owner != MARKET_MAKER and not o.synthetic}


async def _best_bid(rig: Rig, market: Market, price: Decimal) -> bool:
    """The venue's book (the stream once it follows the token) shows the move."""
    return (await rig.venue.get_book(market.tokens[0].token_id)).best_bid == price


def status_at_venue(sim: SimServer, order_id: str | None) -> str:
    return str(sim.context.exchange.orders[order_id or ""].status.value)


async def test_a_post_only_order_rests_reprices_with_the_touch_and_lapses_with_its_intent(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], sim: SimServer
) -> None:
    async with live_rig(engine, sessions, sim) as rig:
        market = sim_market(rig)

        placed = await rig.runtime.handle(maker(market))  # no lapse time: GTC

        assert (placed.outcome, placed.status) == (Outcome.PLACED, OrderStatus.LIVE)
        (order,) = resting(sim).values()
        assert (order.price, order.original_size, order.post_only) == (D("0.60"), D(20), True)
        exposure = rig.runtime.exposure_for(market.condition_id, market.tokens[0].token_id)
        assert exposure.market_exposure >= D("12.00")  # 20 x 0.60 reserved while it rests

        sim.context.liquidity.jump(market.condition_id, D("0.66"))  # bids 0.65, asks 0.67
        await eventually(lambda: _best_bid(rig, market, D("0.65")), timeout=WAIT_S)
        cycle = await rig.runtime.maker_cycle()

        assert cycle.repriced == 1
        (moved,) = resting(sim).values()
        assert (moved.price, moved.original_size) == (D("0.66"), D(20))
        assert status_at_venue(sim, order.order_id) == "CANCELED"
        assert rig.runtime.position(market.tokens[0].token_id) is None  # it never took

        await rig.runtime.trading.change(Transition.PAUSE, "test", "test")  # the entry lapses
        async with httpx.AsyncClient(base_url=sim.url + "/_admin", timeout=5.0) as admin:
            fault = {"kind": "server_error", "method": "DELETE", "path": "/order*"}
            (await admin.post("/faults", json=fault)).raise_for_status()
            refused = await rig.runtime.maker_cycle()
            (await admin.delete("/faults")).raise_for_status()

        assert (refused.kept, refused.lapsed) == (1, 0)  # the cancel failed: not forgotten
        assert len(resting(sim)) == 1
        lapsed = await rig.runtime.maker_cycle()

        assert lapsed.lapsed == 1
        assert resting(sim) == {}
        assert rig.runtime.maker_entries() == []


async def test_a_lasting_entry_rests_as_gtd_expiring_with_its_intent(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], sim: SimServer
) -> None:
    async with live_rig(engine, sessions, sim) as rig:
        market = sim_market(rig)
        lapse = (rig.clock.now() + timedelta(minutes=10)).replace(microsecond=0)

        await rig.runtime.handle(maker(market, expires_at=lapse))

        (order,) = resting(sim).values()
        assert order.order_type.value == OrderType.GTD.value
        assert order.expiration == int(lapse.timestamp())  # the venue ends it if we cannot


async def test_the_venue_refuses_a_crossing_maker_order_and_only_an_urgent_one_takes(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], sim: SimServer
) -> None:
    async with live_rig(engine, sessions, sim) as rig:
        market = sim_market(rig)
        token = market.tokens[0].token_id
        await rig.runtime.board.book_for(token)  # the board read bid 0.59 / ask 0.61 ...
        sim.context.liquidity.jump(market.condition_id, D("0.55"))  # ... and then asks 0.56

        patient = await rig.runtime.handle(maker(market))

        assert (patient.outcome, patient.rule) == (Outcome.REFUSED, "maker_waiting")
        assert resting(sim) == {}
        assert rig.runtime.position(token) is None
        events = await rig.event_types(patient.correlation_id)
        assert "maker_waiting" in events

        urgent = await rig.runtime.handle(maker(market, urgent=True))

        assert (urgent.outcome, urgent.status) == (Outcome.PLACED, OrderStatus.MATCHED)
        await eventually(lambda: rig.runtime.position(token) is not None, timeout=WAIT_S)
        assert "maker_taking" in await rig.event_types(urgent.correlation_id)


async def test_a_tick_size_change_wakes_the_desk_and_reprices_on_the_new_grid(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], sim: SimServer
) -> None:
    config = ExecutionConfig(book_feed=True, unknown_grace_s=0, maker_reprice_s=3600)
    components = (
        "execution.writer",
        "execution.fills",
        "execution.books",
        "execution.book_feed",
        "execution.maker",
    )
    async with live_rig(engine, sessions, sim, config=config, components=components) as rig:
        market = sim_market(rig)
        token = market.tokens[0].token_id
        first = await rig.runtime.handle(maker(market))
        await eventually(lambda: rig.runtime.board.cached_book(token) is not None)

        sim.context.exchange.set_tick_size(market.condition_id, D("0.001"))

        def repriced() -> bool:
            return [o.order_id for o in resting(sim).values()] not in ([], [first.order_id])

        await eventually(repriced, timeout=WAIT_S)  # long before the hour's cycle

        (moved,) = resting(sim).values()
        quotes = [
            o.price
            for o in sim.context.exchange.open.values()
            if o.owner == MARKET_MAKER and o.token_id == token and o.side.value == "BUY"
        ]
        assert max(quotes) == D("0.599")  # the market maker re-quoted on the new grid
        assert moved.price == D("0.600")  # one tick of 0.001 above it, one below the ask
        types = await rig.event_types(first.correlation_id)
        assert "maker_repriced" in types


async def test_a_restart_cancels_the_resting_maker_orders_whose_intents_are_gone(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], sim: SimServer
) -> None:
    async with live_rig(engine, sessions, sim) as rig:
        market = sim_market(rig)
        orphan = await rig.runtime.handle(maker(market))
        plain = await rig.runtime.handle(sim_intent(market, "0.55", "10"))  # an ordinary GTC
        assert {orphan.status, plain.status} == {OrderStatus.LIVE}
        await rig.runtime.flush()

    async with live_rig(engine, sessions, sim) as again:  # new objects on the same database
        assert set(resting(sim)) == {plain.order_id}
        assert again.runtime.maker_entries() == []
        assert [o.order_id for o in again.runtime.working_orders()] == [plain.order_id]
        assert status_at_venue(sim, orphan.order_id) == "CANCELED"
        types = [e.type for e in await again.events.recent(50)]
        assert "maker_orphans_canceled" in types


async def test_orphans_the_start_could_not_cancel_are_cancelled_by_a_later_cycle(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], sim: SimServer
) -> None:
    async with live_rig(engine, sessions, sim) as rig:
        orphan = await rig.runtime.handle(maker(sim_market(rig)))
        assert orphan.status is OrderStatus.LIVE
        await rig.runtime.flush()

    async with httpx.AsyncClient(base_url=sim.url + "/_admin", timeout=5.0) as admin:
        fault = {"kind": "server_error", "method": "DELETE", "path": "/order*"}
        (await admin.post("/faults", json=fault)).raise_for_status()
        try:
            async with live_rig(engine, sessions, sim) as again:  # the start's cancel fails
                assert set(resting(sim)) == {orphan.order_id}
                (await admin.delete("/faults")).raise_for_status()

                await again.runtime.maker_cycle()

                assert resting(sim) == {}
                assert status_at_venue(sim, orphan.order_id) == "CANCELED"
        finally:
            await admin.delete("/faults")


async def test_an_orphan_the_venue_would_not_cancel_is_tried_again_next_cycle(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], sim: SimServer
) -> None:
    async with live_rig(engine, sessions, sim) as rig:
        market = sim_market(rig)
        yes, no = (t.token_id for t in market.tokens)
        first = await rig.runtime.handle(maker(market))
        second = await rig.runtime.handle(
            dataclasses.replace(maker(market, limit="0.45"), token_id=no)
        )
        assert {first.status, second.status} == {OrderStatus.LIVE}
        assert yes != no
        await rig.runtime.flush()

    async with httpx.AsyncClient(base_url=sim.url + "/_admin", timeout=5.0) as admin:
        fault = {"kind": "refuse_cancel", "method": "DELETE", "path": "/order*", "count": 1}
        (await admin.post("/faults", json=fault)).raise_for_status()
        try:
            async with live_rig(engine, sessions, sim) as again:  # one of two is cancelled
                assert len(resting(sim)) == 1

                await again.runtime.maker_cycle()

                assert resting(sim) == {}
                for placed in (first, second):
                    assert status_at_venue(sim, placed.order_id) == "CANCELED"
        finally:
            await admin.delete("/faults")

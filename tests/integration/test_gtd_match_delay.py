"""A GTD order on a market with a match delay: the delay, read from the recorded CLOB payload
with the market, is added to the order's expiry by the execution engine, and the paper venue
keeps the order live until then."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from polysim.clob.app import serve
from tests.support.corpus import fixture, needs_corpus
from tests.support.execution_rig import TEST_LIMITS, MemoryJournal, book, build_rig
from tests.support.live_adapter_rig import SCENARIO, endpoints_for
from trader.clock import FakeClock, SystemClock
from trader.control.types import Outcome
from trader.domain import NO_FEES, Market, OrderIntent, OrderStatus, OrderType, Side
from trader.store.trading import OrderRepository
from trader.venue.paper.feed import StaticMarketData
from trader.venue.paper.venue import PaperVenue
from trader.venue.parsing.rest import parse_clob_market
from trader.venue.polymarket.market_data import PolymarketMarketData

D = Decimal
NBA_GAME_1 = "0x9bea26c852102a50ed736d54504de4683481bc89e2285ee7a52c890ec2e38e07"


def recorded_market(clock: FakeClock) -> Market:
    """The recorded NBA market (seconds_delay 3), reopened so that it can be traded now."""
    (payload,) = (
        m
        for m in fixture("py_http_responses_markets.json")["data"]
        if m["condition_id"] == NBA_GAME_1
    )
    reopened = {
        **payload,
        "closed": False,
        "accepting_orders": True,
        "minimum_tick_size": 0.01,
        "minimum_order_size": 5,
        "end_date_iso": (clock.now() + timedelta(days=3)).isoformat(),
    }
    return parse_clob_market(reopened)


@needs_corpus
async def test_a_gtd_order_expires_the_match_delay_after_its_intent(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    clock = FakeClock()
    market = recorded_market(clock)
    assert market.seconds_delay == 3
    first, second = (t.token_id for t in market.tokens)
    data = StaticMarketData(clock, [market])
    data.set_book(book(first, [("0.48", "100")], [("0.52", "100")]))
    data.set_book(book(second, [("0.47", "100")], [("0.51", "100")]))
    venue = PaperVenue(data, bankroll=D(1000), clock=clock, journal=MemoryJournal())
    await venue.start()
    rig = await build_rig(engine, sessions, venue, clock, limits=TEST_LIMITS, data=data)
    rig.run("execution.writer", "execution.fills")
    until = clock.now() + timedelta(minutes=10)
    intent = OrderIntent(
        market=market.condition_id,
        token_id=first,
        side=Side.BUY,
        limit_price=D("0.45"),  # rests below the ask
        size=D(10),
        model_probability=D("0.60"),
        strategy="test",
        order_type=OrderType.GTD,
        expires_at=until,
    )
    try:
        result = await rig.runtime.handle(intent)
        assert result.outcome is Outcome.PLACED, result.message
        assert result.status is OrderStatus.LIVE
        await rig.runtime.flush()
        row = await OrderRepository(sessions, clock).get_by_venue_id(result.order_id or "")
        assert row is not None
        assert row.expires_at is not None
        # stored as the venue got it: the intent's expiry plus the market's 3 s match delay
        assert row.expires_at.replace(tzinfo=until.tzinfo) == until + timedelta(seconds=3)

        clock.advance(timedelta(minutes=10, seconds=1).total_seconds())  # past the intent's
        assert [o.order_id for o in await venue.open_orders()] == [result.order_id]
        clock.advance(2)  # the delay is up
        assert await venue.open_orders() == []
        expired = await venue.get_order(result.order_id or "")
        assert expired is not None
        assert expired.status is OrderStatus.EXPIRED
    finally:
        await rig.stop()
        await venue.close()
        data.close()
        await rig.events.close()


@pytest.mark.usefixtures("plain_http_only")
async def test_a_markets_match_delay_and_stated_fees_arrive_through_the_sdk_from_gamma() -> None:
    """The simulator's Gamma states `secondsDelay` 3 and `feesEnabled` false; the SDK's market
    model carries both to our Market (a stated no-fee schedule, so it is sized)."""
    scenario = {**SCENARIO, "markets": [{**SCENARIO["markets"][0], "seconds_delay": 3}]}
    server = await serve(scenario=scenario, seed=3)
    source = PolymarketMarketData(clock=SystemClock(), endpoints=endpoints_for(server))
    await source.start()
    try:
        (market,) = [m for m in await source.list_markets() if m.question == "Will the rig pass?"]
        assert market.seconds_delay == 3
        assert market.fees == NO_FEES
        assert market.fees.stated
    finally:
        await source.close()
        await server.close()

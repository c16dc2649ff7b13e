"""A GTD order on a market with a match delay: the delay, read from the recorded CLOB payload
with the market, is added to the order's expiry by the execution engine, and the paper venue
keeps the order live until then."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tests.support.corpus import fixture, needs_corpus
from tests.support.execution_rig import TEST_LIMITS, MemoryJournal, book, build_rig
from trader.clock import FakeClock
from trader.control.types import Outcome
from trader.domain import Market, OrderIntent, OrderStatus, OrderType, Side
from trader.store.trading import OrderRepository
from trader.venue.paper.feed import StaticMarketData
from trader.venue.paper.venue import PaperVenue
from trader.venue.parsing.rest import parse_clob_market

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

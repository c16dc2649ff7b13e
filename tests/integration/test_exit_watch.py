"""The exit watch on a real database (both backends): the entry view and the model's latest
view come from the stored forecasts, the adverse move is measured against the mid now, and the
exit goes out as an intent on the bus with its `exit_decided` event and its `exit` alert."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from polysim.synthetic.signals import StaticBooks
from tests.support.exits import NO, NOW, YES, Resting, rain_market
from trader.bus import Bus
from trader.clock import FakeClock
from trader.domain import (
    Book,
    BookLevel,
    OrderType,
    Position,
    Side,
)
from trader.signals.exit_records import SqlModelViews
from trader.signals.exits import ExitConfig, ExitRule, ExitWatch
from trader.signals.pooling import CalibrationHolder
from trader.signals.records import ForecastRecord
from trader.signals.values import Forecast, Source
from trader.store.signals_repo import ForecastEntry, SqlForecastStore

D = Decimal
MARKET = rain_market()


def forecast(blend: str, aggregate: str, market: str) -> Forecast:
    return Forecast(
        market="0xm",
        model_probability=D(blend),
        market_probability=D(market),
        confidence=D("0.7"),
        dispersion=D("0.02"),
        source=Source.LLM,
        rationale="",
        sources=(),
        samples=3,
        aggregate=D(aggregate),
        weight=D("0.15"),
    )


def book(token: str, bid: str, ask: str) -> Book:
    return Book(token, (BookLevel(D(bid), D(100)),), (BookLevel(D(ask), D(100)),), NOW)


async def test_an_adverse_move_from_the_stored_entry_view_is_sold_and_said(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    clock = FakeClock(NOW)
    store = SqlForecastStore(sessions, clock)
    await store.record_many(
        [
            # the entry: q 0.80 at a 0.60 market, blended 0.6347, traded
            ForecastEntry(
                ForecastRecord(
                    NOW - timedelta(hours=2), forecast("0.6347", "0.80", "0.60"), "trade", "buy Yes"
                ),
                token_id=YES,
            ),
            # a later look, skipped (already at target): the model still at 0.80
            ForecastEntry(
                ForecastRecord(
                    NOW - timedelta(hours=1),
                    forecast("0.6200", "0.80", "0.57"),
                    "skip",
                    "at target",
                ),
                token_id=YES,
            ),
        ]
    )
    bus = Bus()
    intents, alerts = bus.intents.subscribe(), bus.alerts.subscribe()
    recorded: list[tuple[str, dict[str, Any], str]] = []
    watch = ExitWatch(
        ExitConfig(),
        positions=lambda: [Position(YES, D(40), D("0.58"), market="0xm")],
        books=StaticBooks({YES: book(YES, "0.45", "0.47"), NO: book(NO, "0.53", "0.55")}),
        views=SqlModelViews(sessions, clock),
        calibration=CalibrationHolder(),
        clock=clock,
        bus=bus,
        record=lambda kind, payload, corr: recorded.append((kind, dict(payload), corr)),
    )

    (decision,) = await watch.run([MARKET], cycle_id="cycle-1")

    # the market fell to a 0.46 mid: 0.80 blends to 0.5179, 0.1168 under the entry's 0.6347
    assert decision.rule is ExitRule.ADVERSE_MOVE
    envelope = intents.get_nowait()
    assert envelope is not None
    intent = envelope.payload
    assert envelope.correlation_id == intent.correlation_id
    assert (intent.side, intent.order_type, intent.size, intent.limit_price) == (
        Side.SELL,
        OrderType.FAK,
        D(40),
        D("0.43"),
    )
    assert "fell from 0.6347 at entry to 0.5179 (by 0.1168" in intent.reason
    ((kind, payload, corr),) = recorded
    assert (kind, corr) == ("exit_decided", intent.correlation_id)
    assert payload["rule"] == "adverse_move"
    assert payload["reason"] == intent.reason
    assert (payload["entry_view"], payload["view_now"]) == (D("0.6347"), D("0.5179"))
    assert payload["cycle"] == "cycle-1"
    note = alerts.get_nowait()
    assert note is not None
    assert note.payload.kind == "exit"
    assert note.payload.title == "Exit: selling 40.00 Yes (adverse_move)"
    assert note.payload.body == f"Will it rain?\n{intent.reason}"

    # a market this cycle's own intents decided is left to them; and exits can be turned off
    assert await watch.run([MARKET], skip={"0xm"}) == []
    watch.config = ExitConfig(enabled=False)
    assert await watch.run([MARKET]) == []


async def test_no_exit_sells_into_our_own_resting_bid(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # the same adverse move as above, but our maker BUY rests on YES at 0.46, a tick over the
    # others' 0.45: a FAK sell would trade with it; the exit waits until it no longer rests
    clock = FakeClock(NOW)
    store = SqlForecastStore(sessions, clock)
    entry = forecast("0.6347", "0.80", "0.60")
    await store.record_many(
        [ForecastEntry(ForecastRecord(NOW - timedelta(hours=2), entry, "trade", ""), YES)]
    )
    ours = Book(
        YES,
        (BookLevel(D("0.46"), D(20)), BookLevel(D("0.45"), D(100))),
        (BookLevel(D("0.47"), D(100)),),
        NOW,
    )
    resting: list[Resting] = [Resting(YES, Side.BUY, D("0.46"), D(20))]
    bus = Bus()
    intents = bus.intents.subscribe()
    books = StaticBooks({YES: ours, NO: book(NO, "0.53", "0.55")})
    watch = ExitWatch(
        ExitConfig(),
        positions=lambda: [Position(YES, D(40), D("0.58"), market="0xm")],
        books=books,
        views=SqlModelViews(sessions, clock),
        calibration=CalibrationHolder(),
        clock=clock,
        bus=bus,
        record=lambda kind, payload, corr: None,
        resting=lambda: resting,
    )

    assert await watch.run([MARKET]) == []
    assert intents.get_nowait() is None

    # our order gone (filled or lapsed), and with it our level: the exit goes at 0.45's floor
    resting.clear()
    books.update({YES: book(YES, "0.45", "0.47")})
    (decision,) = await watch.run([MARKET])
    assert decision.best_bid == D("0.45")
    assert decision.intent.limit_price == D("0.43")  # 0.45 x 0.95 up to the tick

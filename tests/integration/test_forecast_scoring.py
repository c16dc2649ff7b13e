"""Forecasts resolve with their market and are scored (Brier) for the report.

A stored forecast of 0.7 at a market price of 0.6 on a market that resolves YES scores
(0.7 - 1)^2 = 0.09 for the model and (0.6 - 1)^2 = 0.16 for the market; a 50/50 scores against
0.5: 0.04 and 0.01. The execution core's resolution fact on the bus drives it for a held market;
a market nothing holds is found by asking the resolution source."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tests.support.execution_rig import CONDITION, NO, YES, book, buy, paper_rig
from tests.support.waiting import eventually
from trader.bus import Bus
from trader.clock import FakeClock
from trader.reports.metrics import Resolved
from trader.reports.queries import resolved_forecasts
from trader.signals.records import ForecastRecord
from trader.signals.scoring import ForecastScoring
from trader.signals.values import Forecast, Source
from trader.store.signals_repo import ForecastEntry, SqlForecastStore
from trader.venue.paper.feed import StaticMarketData

D = Decimal
Sessions = async_sessionmaker[AsyncSession]


def entry(clock: FakeClock, market: str = CONDITION, token: str = YES) -> ForecastEntry:
    forecast = Forecast(
        market=market,
        model_probability=D("0.7"),
        market_probability=D("0.6"),
        confidence=D("0.7"),
        dispersion=D("0.02"),
        source=Source.LLM,
        rationale="base rate",
        sources=(),
        samples=3,
        aggregate=D("0.73"),
    )
    return ForecastEntry(ForecastRecord(clock.now(), forecast, "trade", "edge"), token_id=token)


async def test_a_held_market_resolving_yes_scores_its_forecasts_for_the_report(
    engine: AsyncEngine, sessions: Sessions
) -> None:
    clock = FakeClock()
    store = SqlForecastStore(sessions, clock)
    await store.record_many([entry(clock)])
    async with paper_rig(engine, sessions, clock=clock) as rig:
        assert rig.data is not None
        scoring = ForecastScoring(rig.bus, store, clock)
        task = asyncio.create_task(scoring.run())
        try:
            rig.data.set_book(book(YES, [("0.59", "100")], [("0.60", "100")]))
            await rig.runtime.handle(buy("0.60", "10", model="0.70"))
            await eventually(lambda: rig.runtime.position(YES) is not None)
            rig.data.resolve(CONDITION, {YES: D(1), NO: D(0)})

            await rig.runtime.reconcile("test")

            async def scored() -> bool:
                return (await store.for_market(CONDITION))[0].resolved_at is not None

            await eventually(scored)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    row = (await store.for_market(CONDITION))[0]
    # the model on its aggregate 0.73, the blend on the traded 0.7, the market on 0.6
    assert (row.resolved_outcome, row.brier_model, row.brier_blend, row.brier_market) == (
        D(1),
        D("0.0729"),
        D("0.09"),
        D("0.16"),
    )
    async with sessions() as session:
        found = await resolved_forecasts(
            session, clock.now() - timedelta(days=1), clock.now() + timedelta(days=1)
        )
    assert [r for _, r in found] == [Resolved(D("0.73"), D("0.6"), D(1), blend=D("0.7"))]
    scores = await store.scores(clock.now() - timedelta(days=1), clock.now() + timedelta(days=1))
    assert (scores.count, scores.model, scores.market, scores.blend) == (
        1,
        D("0.0729"),
        D("0.16"),
        D("0.09"),
    )


async def test_a_50_50_resolution_scores_against_one_half(sessions: Sessions) -> None:
    clock = FakeClock()
    store = SqlForecastStore(sessions, clock)
    await store.record_many([entry(clock)])
    scoring = ForecastScoring(Bus(), store, clock)

    count = await scoring.score(CONDITION, {YES: D("0.5"), NO: D("0.5")})

    row = (await store.for_market(CONDITION))[0]
    assert count == 1
    assert (row.resolved_outcome, row.brier_model, row.brier_blend, row.brier_market) == (
        D("0.5"),
        D("0.0529"),
        D("0.04"),
        D("0.01"),
    )
    assert await scoring.score(CONDITION, {YES: D(1), NO: D(0)}) == 0  # resolved once only


async def test_a_market_nothing_holds_is_scored_when_its_source_says_it_resolved(
    sessions: Sessions,
) -> None:
    clock = FakeClock()
    store = SqlForecastStore(sessions, clock)
    await store.record_many([entry(clock), entry(clock, "0xheld", "held-yes")])
    source = StaticMarketData(clock)
    scoring = ForecastScoring(Bus(), store, clock)

    assert await scoring.check(source, lambda: {"0xheld"}) == 0  # nothing resolved yet
    source.resolve(CONDITION, {YES: D(1), NO: D(0)})
    source.resolve("0xheld", {"held-yes": D(1)})
    scored = await scoring.check(source, lambda: {"0xheld"})

    assert scored == 1
    assert (await store.for_market(CONDITION))[0].brier_blend == D("0.09")
    assert (await store.for_market("0xheld"))[0].resolved_at is None  # the settlement's to do
    source.close()

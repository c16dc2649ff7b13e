"""History from the venue, offline: the simulator serves its scenario's past markets (Gamma closed
markets with umaResolutionStatus and outcomePrices, `/prices-history` on the CLOB and the Data
API), the real SDK fetches them (`PolymarketHistory`: 15-day windows, paged), the cache keeps
them and a second fetch asks only for what it lacks, and a backtest over them settles at the
venue's real payouts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from polysim.clob.app import SimServer, serve
from polysim.clob.history import HISTORY
from tests.support.backtest_history import record_forecasts
from tests.support.live_adapter_rig import endpoints_for
from trader.backtest.fetch import fetch_history
from trader.backtest.history import History, load_history
from trader.backtest.kernel import BacktestConfig, run_backtest
from trader.backtest.results import summarise
from trader.clock import FakeClock, SystemClock
from trader.signals.runtime import SignalRuntimeConfig
from trader.venue.polymarket.history import PolymarketHistory

DAY = 86_400
SCENARIO = {
    "seed": 5,
    "markets": [
        {
            "question": "Will the harbour bridge reopen before the storm season?",
            "fair_price": "0.7",
            "opened_in_s": -20 * DAY,
            "end_in_s": -4 * DAY - 3600,
            "resolves_in_s": -4 * DAY,
            "outcome": "Yes",
            "volume": "90000",
            "liquidity": "20000",
        },
        {
            "question": "Will the ferry strike end before the storm season?",
            "fair_price": "0.3",
            "opened_in_s": -12 * DAY,
            "end_in_s": -3 * DAY - 3600,
            "resolves_in_s": -3 * DAY,
            "outcome": "No",
            "volume": "90000",
            "liquidity": "20000",
        },
        {"question": "Will the tunnel open this winter?", "fair_price": "0.6"},
    ],
}


@pytest.fixture
async def sim() -> AsyncIterator[SimServer]:
    # a FakeClock at the real time: `advance` moves it (the SDK's public reads carry no auth)
    server = await serve(scenario=SCENARIO, clock=FakeClock(datetime.now(UTC)), background=False)
    yield server
    await server.close()


def started(sim: SimServer) -> datetime:
    moment = sim.context.scenario.started_at
    assert moment is not None
    return moment


async def fetch(sim: SimServer, cache: Path, start: datetime, end: datetime) -> tuple[History, int]:
    async with PolymarketHistory(clock=SystemClock(), endpoints=endpoints_for(sim)) as port:
        return await fetch_history(port, start=start, end=end, cache=cache)


async def test_history_from_the_simulator_through_the_sdk_is_cached_and_refreshed(
    sim: SimServer, tmp_path: Path
) -> None:
    now = started(sim)
    cache = tmp_path / "history" / "venue.json"
    start, end = now - timedelta(days=21), now - timedelta(hours=1)

    world, fetched = await fetch(sim, cache, start, end)

    by_question = {m.market.question.split()[2]: m for m in world.markets}
    bridge, ferry = by_question["harbour"], by_question["ferry"]
    yes, no = (t.token_id for t in bridge.market.tokens)
    assert bridge.payouts == {yes: Decimal(1), no: Decimal(0)}  # Gamma's outcomePrices
    assert bridge.resolved_at == now - timedelta(days=4)  # Gamma's closedTime
    assert ferry.payouts is not None
    assert ferry.payouts[ferry.market.tokens[1].token_id] == Decimal(1)
    assert by_question["tunnel"].payouts is None  # active: never resolves in this history
    # 16 days of hourly prices for the bridge: more than one 15-day window of the SDK
    series = world.prices[yes]
    assert len(series.times) >= 16 * 24
    assert timedelta(0) <= bridge.opened_at - series.times[0] < timedelta(seconds=1)  # unix s
    assert series.times[-1] < bridge.resolved_at
    recorded = sim.runner.app[HISTORY].points[yes]
    assert list(zip(series.times, series.prices, strict=True))[:5] == [
        (datetime.fromtimestamp(t, UTC), p) for t, p in recorded[:5]
    ]
    assert all(
        Decimal(1) - p == q for p, q in zip(series.prices, world.prices[no].prices, strict=True)
    )
    assert fetched == sum(len(s.times) for s in world.prices.values())
    assert load_history(cache).prices == world.prices  # the cache is the history file

    again, refetched = await fetch(sim, cache, start, end)

    assert refetched == 0  # resolved markets complete, nothing new for the active one
    assert again.prices == world.prices


async def test_clob_prices_history_answers_as_production(sim: SimServer) -> None:
    token = sim.context.scenario.markets[0].token_ids[0]
    async with httpx.AsyncClient(base_url=sim.url) as client:
        daily = await client.get(
            "/prices-history", params={"market": token, "interval": "max", "fidelity": 1440}
        )
        window = await client.get(
            "/prices-history",
            params={
                "market": token,
                "startTs": int((started(sim) - timedelta(days=19)).timestamp()),
                "endTs": int((started(sim) - timedelta(days=18)).timestamp()),
            },
        )
        missing = await client.get("/prices-history", params={"interval": "1d"})

    history = daily.json()["history"]
    assert 15 <= len(history) <= 18  # one point a day over the bridge's 16 days
    assert history[-1]["p"] > 0.9  # drifting to its YES outcome
    assert len(window.json()["history"]) == 25  # hourly, both ends included
    assert missing.status_code == 400


async def test_backtest_over_the_venue_history_settles_at_the_real_payouts(
    sim: SimServer,
    tmp_path: Path,
    migrated_database_url: str,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    now = started(sim)
    start, end = now - timedelta(days=15), now - timedelta(days=2)
    world, _ = await fetch(sim, tmp_path / "venue.json", start, end)
    bridge = next(m for m in world.markets if "harbour" in m.market.question)
    await record_forecasts(sessions, [(bridge, start - timedelta(hours=1), Decimal("0.99"))])
    config = BacktestConfig(
        start=start,
        end=end,
        cycle_s=3600,
        strategy="llm_edge",
        forecasts="replay",
        forecast_database=migrated_database_url,
        signals=SignalRuntimeConfig(max_order_notional=Decimal(50)),
    )

    summary = summarise(await run_backtest(world, config))

    yes = bridge.market.tokens[0].token_id
    bought = [f for f in summary["fills"] if f["token_id"] == yes and f["side"] == "BUY"]
    assert bought, summary["fills"]
    assert summary["markets_resolved"] >= 1
    settled = sum((Decimal(f["size"]) * (1 - Decimal(f["price"])) for f in bought), Decimal(0))
    fees = sum((Decimal(f["fee"]) for f in bought), Decimal(0))
    assert Decimal(summary["pnl"]) == (settled - fees).quantize(Decimal("0.01"))


async def test_a_refresh_fetches_only_the_points_recorded_since_the_last_fetch(
    sim: SimServer, tmp_path: Path
) -> None:
    now = started(sim)
    cache = tmp_path / "venue.json"
    start, end = now - timedelta(days=2), now + timedelta(hours=1)
    world, _ = await fetch(sim, cache, start, end)
    tunnel = next(m for m in world.markets if "tunnel" in m.market.question)
    token = tunnel.market.tokens[0].token_id
    before = len(world.prices[token].times)

    for _ in range(3):  # the live market walks; the simulator records its mid
        await sim.advance(61)
    again, fetched = await fetch(sim, cache, start, end)

    grown = len(again.prices[token].times) - before
    assert grown >= 1
    assert fetched >= 2 * grown  # YES and NO of the active market (and its revised last point)
    assert fetched <= 2 * grown + 2
    assert again.prices[token].times[:before] == world.prices[token].times

"""The backtest kernel end to end in process: the real pipeline, risk, execution core and paper
venue on a FakeClock over a hand-made history (tests/support/backtest_history.py)."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.support.backtest_history import (
    HALF,
    START,
    history,
    market,
    news,
    prices,
    record_forecasts,
    two_markets,
)
from trader.backtest.feed import ReplayMarketData
from trader.backtest.history import History, history_to_json, parse_history
from trader.backtest.kernel import BacktestConfig, BacktestError, run_backtest
from trader.backtest.results import compare, summarise
from trader.backtest.signals import ReplayNews
from trader.clock import FakeClock
from trader.signals.runtime import SignalRuntimeConfig
from trader.stages import Stage, StageBook

END = START + timedelta(days=1)


def replay_config(url: str, **changes: object) -> BacktestConfig:
    config = BacktestConfig(
        start=START,
        end=END,
        cycle_s=3600,
        forecasts="replay",
        forecast_database=url,
        signals=SignalRuntimeConfig(max_order_notional=Decimal(50)),
    )
    return dataclasses.replace(config, **changes)  # type: ignore[arg-type]


@pytest.fixture
async def recorded(
    migrated_database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> tuple[History, str]:
    """The two markets, and a database where the bot forecast 0.70 on each before START."""
    world = two_markets()
    before = START - timedelta(hours=1)
    await record_forecasts(sessions, [(m, before, Decimal("0.70")) for m in world.markets])
    return world, migrated_database_url


async def test_backtest_replayed_forecasts_buy_and_settle_at_the_real_payouts(
    recorded: tuple[History, str],
) -> None:
    world, url = recorded

    summary = summarise(await run_backtest(world, replay_config(url)))

    fills = summary["fills"]
    assert [(f["token_id"], f["side"], f["price"]) for f in fills] == [
        ("alpha-yes", "BUY", "0.51"),
        ("beta-yes", "BUY", "0.51"),
    ]
    payout = {"alpha-yes": Decimal(1), "beta-yes": HALF}  # YES, then a 50/50
    expected = sum(
        Decimal(f["size"]) * (payout[f["token_id"]] - Decimal(f["price"])) - Decimal(f["fee"])
        for f in fills
    )
    assert Decimal(summary["pnl"]) == expected.quantize(Decimal("0.01"))
    assert Decimal(summary["fees_paid"]) > 0  # the markets' 2% schedule, on the taker buys
    assert summary["markets_resolved"] == 2
    assert summary["equity_curve"][-1]["exposure"] == "0.00"  # both settled, nothing held
    assert summary["win_rate"] == {"wins": 1, "losses": 1, "rate": "0.5000"}
    assert summary["brier"]["markets"] == 2
    assert summary["brier"]["model"] == "0.0650"  # ((0.7-1)^2 + (0.7-0.5)^2) / 2
    assert summary["brier"]["market"] == "0.1250"  # ((0.5-1)^2 + 0) / 2
    assert summary["brier"]["blend"] == "0.0650"  # a replayed forecast is the blend it traded
    calibration = summary["calibration"]
    assert calibration["markets"] == 2
    assert calibration["market"] == [  # both at 0.50; YES paid 1 and 0.5
        {
            "low": "0.5",
            "high": "0.6",
            "count": 2,
            "mean_probability": "0.5000",
            "frequency": "0.7500",
        }
    ]
    assert [(b["low"], b["count"]) for b in calibration["blend"]] == [("0.7", 2)]


async def test_backtest_same_run_twice_gives_identical_json(
    recorded: tuple[History, str],
) -> None:
    world, url = recorded

    first = summarise(await run_backtest(world, replay_config(url)))
    second = summarise(await run_backtest(world, replay_config(url)))

    assert first["trades"] == 2
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)


async def test_backtest_development_strategy_places_no_order_unless_chosen(
    recorded: tuple[History, str],
) -> None:
    world, url = recorded
    development = StageBook.defaults().with_stage("llm_edge", Stage.DEVELOPMENT)

    staged = summarise(await run_backtest(world, replay_config(url, stages=development)))
    chosen = summarise(
        await run_backtest(world, replay_config(url, stages=development, strategy="llm_edge"))
    )

    assert (staged["orders_placed"], staged["trades"]) == (0, 0)
    assert chosen["orders_placed"] == 2
    assert chosen["strategy"] == "llm_edge"


async def test_backtest_refuses_an_unknown_strategy_and_an_empty_window(
    recorded: tuple[History, str],
) -> None:
    world, url = recorded

    with pytest.raises(BacktestError, match="unknown strategy 'moon'"):
        await run_backtest(world, replay_config(url, strategy="moon"))
    with pytest.raises(BacktestError, match="--to: must be after --from"):
        await run_backtest(world, replay_config(url, end=START))


NOW = START + timedelta(hours=12)  # the backtest's last decision


def planted(news_at: timedelta | None) -> History:
    """gamma flat at 0.50 until NOW, then 0.90 an hour later; a glowing article `news_at`
    from NOW (None: none). An unrelated early item keeps the news stage on in every variant."""
    gamma = market("gamma", end=START + timedelta(days=10))
    points = [(START - timedelta(days=3), HALF), (NOW + timedelta(hours=1), Decimal("0.90"))]
    items = [news("unrelated-kiln", START - timedelta(days=1), "inspected", number=9)]
    if news_at is not None:
        good = "approved, confirmed, signed, success, wins, victory"
        items += [news("gamma", NOW + news_at, good, number=n) for n in range(3)]
    return history([gamma], prices(gamma, points), items)


async def test_backtest_news_and_prices_after_now_cannot_affect_a_decision_at_now() -> None:
    config = BacktestConfig(start=START, end=NOW, cycle_s=3600)

    baseline = await run_backtest(planted(None), config)
    future = await run_backtest(planted(timedelta(minutes=1)), config)  # news at NOW + 1 min
    past = await run_backtest(planted(timedelta(hours=-2)), config)  # the same, before NOW

    assert summarise(future) == summarise(baseline)
    assert future.forecasts == baseline.forecasts
    # the plant is strong enough to matter when it is visible: the test can fail
    assert [f.model for f in past.forecasts] != [f.model for f in baseline.forecasts]
    assert max(f.model for f in past.forecasts) > max(f.model for f in baseline.forecasts)
    # and what the source serves at NOW is the price before the move, the news before NOW
    clock = FakeClock(NOW)
    world = planted(timedelta(minutes=1))
    book = ReplayMarketData(world, clock).book("gamma-yes")
    assert (book.best_bid, book.best_ask) == (Decimal("0.49"), Decimal("0.51"))
    assert [n.item_id for n in world.news_by(NOW)] == ["unrelated-kiln-9"]
    matched = ReplayNews(world, clock).match([world.markets[0].market])
    assert [m.item.item_id for m in matched["0xgamma"]] == ["unrelated-kiln-9"]


def test_replayed_news_keeps_the_apps_48_hour_window_and_its_seen_times() -> None:
    """As the app's news service: an item published more than 48 hours before now is gone,
    one published within them is matched; a recorded item is shown from when it was seen."""
    gamma = market("gamma", end=START + timedelta(days=10))
    old = news("gamma", NOW - timedelta(hours=48, minutes=1), "approved", number=1)
    edge = news("gamma", NOW - timedelta(hours=48), "approved", number=2)
    fresh = news("gamma", NOW - timedelta(hours=3), "approved", number=3)
    late = news("gamma", NOW - timedelta(hours=50), "approved", number=4)  # seen 1 h ago
    world = History.of(
        [gamma],
        prices(gamma, [(START - timedelta(days=3), HALF)]),
        [old, edge, fresh, late],
        visible={late.item_id: NOW - timedelta(hours=1)},
    )

    matched = ReplayNews(world, FakeClock(NOW)).match([gamma.market])["0xgamma"]
    wider = ReplayNews(world, FakeClock(NOW), timedelta(hours=72)).match([gamma.market])

    assert sorted(m.item.item_id for m in matched) == ["gamma-2", "gamma-3"]
    assert sorted(m.item.item_id for m in wider["0xgamma"]) == [
        "gamma-1",
        "gamma-2",
        "gamma-3",
        "gamma-4",
    ]


def test_history_round_trips_through_its_json_form() -> None:
    world = planted(timedelta(hours=-2))

    again = parse_history(json.loads(json.dumps(history_to_json(world))))

    assert again.markets == world.markets
    assert again.news == world.news
    assert again.prices == world.prices


def test_history_with_payouts_for_an_unknown_token_is_refused_naming_it() -> None:
    raw = history_to_json(two_markets())
    raw["markets"][0]["payouts"] = {"nobody-yes": "1"}

    with pytest.raises(ValueError, match=r"market 0xalpha: payouts name unknown tokens"):
        parse_history(raw)


def test_compare_puts_two_runs_side_by_side() -> None:
    left = {"pnl": "1.00", "window": {"from": "2026-03-02", "to": "2026-03-03"}}
    right = {"pnl": "-2.50", "window": {"from": "2026-03-02", "to": "2026-03-04"}}

    table = compare(left, right, ("a", "b")).splitlines()

    assert table[0].split() == ["a", "b"]
    assert next(line for line in table if line.startswith("PnL")).split() == [
        "PnL",
        "1.00",
        "-2.50",
    ]
    assert "?" in next(line for line in table if line.startswith("trades"))


async def test_replay_source_lists_markets_only_while_open_and_resolves_after_their_time() -> None:
    opened = START + timedelta(hours=2)
    delta = market(
        "delta", end=START + timedelta(hours=5), resolved_at=START + timedelta(hours=6),
        yes_pays=HALF, opened=opened,
    )  # fmt: skip
    world = history([delta], prices(delta, [(opened, Decimal("0.42"))]))
    clock = FakeClock(START + timedelta(hours=1))
    source = ReplayMarketData(world, clock)

    listed = []
    resolved = []
    for hour in (1, 2, 4, 5, 6):
        clock.set(START + timedelta(hours=hour))
        listed.append([m.condition_id for m in await source.list_markets()])
        resolved.append(await source.resolved_markets(["0xdelta"]))

    assert listed == [[], ["0xdelta"], ["0xdelta"], [], []]  # opened at 2 h, ends at 5 h
    assert resolved[:4] == [{}, {}, {}, {}]
    assert resolved[4] == {"0xdelta": {"delta-yes": HALF, "delta-no": HALF}}  # a 50/50
    clock.set(START + timedelta(hours=4))
    book = await source.get_book("delta-no")  # NO = 1 - YES = 0.58, a cent each side
    assert (book.best_bid, book.best_ask, len(book.asks)) == (
        Decimal("0.57"),
        Decimal("0.59"),
        3,
    )
    assert book.asks[0].size == Decimal(250)


def test_history_with_a_price_outside_zero_one_is_refused_naming_the_token() -> None:
    raw = history_to_json(two_markets())
    raw["prices"]["alpha-yes"][0][1] = "1.5"

    with pytest.raises(ValueError, match=r"prices\.alpha-yes: 1\.5 is not a price in \(0, 1\)"):
        parse_history(raw)


async def test_backtest_heuristic_on_synthetic_news_twice_gives_identical_json() -> None:
    from polysim.synthetic.backtest import synthetic_history

    world = synthetic_history(START, 10, 24)
    config = BacktestConfig(start=START, end=START + timedelta(days=3), cycle_s=3600)

    first = summarise(await run_backtest(world, config))
    second = summarise(await run_backtest(world, config))

    assert first["trades"] > 0  # news moved the heuristic: there was something to reproduce
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)

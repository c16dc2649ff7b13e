"""The exit rules with known numbers: each rule fires where it should and holds where it
should not, the sell's limit is the slippage floor, and the reason names the rule and its
numbers."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from tests.support.exits import NO, NOW, YES, Resting, rain_market
from trader.config import ConfigError, load_settings
from trader.domain import (
    Book,
    BookLevel,
    Market,
    OrderType,
    Position,
    Side,
)
from trader.fees import schedule_from_bps
from trader.signals.exit_prices import slippage_floor, without_own
from trader.signals.exit_records import views_of
from trader.signals.exits import (
    ExitConfig,
    ExitRule,
    HeldView,
    ModelView,
    decide_exit,
    held_view,
    plan_exits,
)
from trader.signals.pooling import Calibration
from trader.store.tables import ForecastRow

D = Decimal
CALIBRATION = {"llm": Calibration(), "heuristic": Calibration(weight=D("0.75"))}  # w 0.15


def market(end_in: timedelta = timedelta(days=10)) -> Market:
    return rain_market(end_in, fees=schedule_from_bps(D(400)))  # rate 0.04


def book(token: str, bid: str, ask: str) -> Book:
    return Book(
        token, (BookLevel(D(bid), D(100)),), (BookLevel(D(ask), D(100)),), NOW, market="0xm"
    )


def books(bid: str, ask: str) -> dict[str, Book]:
    """The YES book, and the NO book that mirrors it."""
    return {
        YES: book(YES, bid, ask),
        NO: book(NO, str(1 - D(ask)), str(1 - D(bid))),
    }


def held(token: str = YES, size: str = "50") -> Position:
    return Position(token, D(size), D("0.55"), market="0xm")


def test_adverse_move_sells_when_the_blend_fell_past_the_threshold() -> None:
    # entered on the README's blend: q 0.80 with the market at 0.60, w 0.15 -> 0.6347; the
    # market falls to a 0.46 mid: the same q blends to 0.5179, 0.1168 below the entry view
    view = ModelView(entry_yes=D("0.6347"), aggregate=D("0.80"))

    (decision,) = plan_exits(
        [held()],
        {"0xm": market()},
        books("0.45", "0.47"),
        {"0xm": view},
        CALIBRATION,
        NOW,
        ExitConfig(),
    )

    assert decision.rule is ExitRule.ADVERSE_MOVE
    assert decision.view == HeldView(D("0.6347"), D("0.5179"))
    intent = decision.intent
    assert (intent.side, intent.order_type, intent.token_id) == (Side.SELL, OrderType.FAK, YES)
    assert intent.size == D(50)
    assert intent.limit_price == D("0.43")  # 0.45 x (1 - 0.05) = 0.4275, up to the tick
    assert intent.strategy == "exit"
    assert intent.reason == (
        "exit (adverse_move): sell 50.00 Yes: the blended probability fell from 0.6347 at entry "
        "to 0.5179 (by 0.1168, at least EXIT_ADVERSE_MOVE 0.10)"
    )
    # a threshold above the fall holds
    wider = ExitConfig(adverse_move=D("0.12"))
    assert not plan_exits(
        [held()],
        {"0xm": market()},
        books("0.45", "0.47"),
        {"0xm": view},
        CALIBRATION,
        NOW,
        wider,
    )


def test_adverse_move_of_a_no_position_reads_the_complement() -> None:
    # YES traded at 0.40 (a NO view of 0.60); the model now says 0.30 with YES at 0.46: the
    # YES blend is 0.4345, so NO's is 0.5655, 0.0345 below its entry: held
    view = held_view(ModelView(D("0.40"), D("0.30")), "No", D("0.46"), Calibration())
    assert view == HeldView(D("0.60"), D("0.5655"))
    decision = decide_exit(held(NO), market(), books("0.45", "0.47")[NO], view, NOW, ExitConfig())
    assert decision is None


def test_edge_gone_sells_within_the_close_horizon_only() -> None:
    # YES bid 0.60, ask 0.62 (mid 0.61); the model says 0.50: blend 0.5939. A share sold at
    # the bid fetches 0.60 - 0.04 x 0.60 x 0.40 = 0.5904: holding beats it by 0.0035 < 0.01
    view = {"0xm": ModelView(entry_yes=None, aggregate=D("0.50"))}
    closing = market(end_in=timedelta(hours=12))

    (decision,) = plan_exits(
        [held()], {"0xm": closing}, books("0.60", "0.62"), view, CALIBRATION, NOW, ExitConfig()
    )

    assert decision.rule is ExitRule.EDGE_GONE
    assert decision.intent.limit_price == D("0.57")  # 0.60 x 0.95
    assert "blended probability 0.5939 against 0.5904 a share at the bid 0.60" in decision.reason
    assert "edge 0.0035, below EXIT_MIN_EDGE 0.01" in decision.reason
    assert "closes in 12.0 h (EXIT_CLOSE_HORIZON_S 86400)" in decision.reason
    # three days out the same numbers hold
    far = market(end_in=timedelta(days=3))
    assert not plan_exits(
        [held()], {"0xm": far}, books("0.60", "0.62"), view, CALIBRATION, NOW, ExitConfig()
    )
    # and with an edge left (the model at 0.55: blend 0.6012, edge 0.0108) it holds too
    kept = {"0xm": ModelView(entry_yes=None, aggregate=D("0.55"))}
    assert not plan_exits(
        [held()], {"0xm": closing}, books("0.60", "0.62"), kept, CALIBRATION, NOW, ExitConfig()
    )


def test_orders_stopping_sells_whatever_the_edge() -> None:
    view = {"0xm": ModelView(entry_yes=D("0.70"), aggregate=D("0.90"))}  # a strong view
    ending = market(end_in=timedelta(minutes=20))

    (decision,) = plan_exits(
        [held()], {"0xm": ending}, books("0.60", "0.62"), view, CALIBRATION, NOW, ExitConfig()
    )

    assert decision.rule is ExitRule.ORDERS_STOPPING
    assert decision.reason == (
        "exit (orders_stopping): sell 50.00 Yes: the market stops taking orders at its end "
        "2026-03-01 12:20 UTC (in 20 min; EXIT_STOP_HORIZON_S 1800)"
    )
    # off with a zero horizon: the strong view then holds
    off = ExitConfig(stop_horizon=timedelta(0))
    assert not plan_exits(
        [held()], {"0xm": ending}, books("0.60", "0.62"), view, CALIBRATION, NOW, off
    )


def test_no_exit_without_a_bid_below_the_minimum_size_or_in_a_closed_market() -> None:
    ending = market(end_in=timedelta(minutes=5))
    view = HeldView(None, None)
    no_bids = Book(YES, (), (BookLevel(D("0.62"), D(100)),), NOW)
    assert decide_exit(held(), ending, no_bids, view, NOW, ExitConfig()) is None
    few = held(size="4.999")  # 4.99 shares, under the minimum order of 5
    assert decide_exit(few, ending, books("0.60", "0.62")[YES], view, NOW, ExitConfig()) is None
    closed = dataclasses.replace(ending, accepting_orders=False)
    assert not plan_exits(
        [held()], {"0xm": closed}, books("0.60", "0.62"), {}, CALIBRATION, NOW, ExitConfig()
    )


def test_the_slippage_floor_rounds_up_to_the_tick_and_never_below_it() -> None:
    assert slippage_floor(book(YES, "0.45", "0.47"), D("0.05")) == D("0.43")
    assert slippage_floor(book(YES, "0.02", "0.03"), D("0.90")) == D("0.01")


def test_the_views_read_the_latest_traded_blend_and_the_latest_aggregate() -> None:
    def row(minute: int, blend: str, aggregate: str | None, decision: str) -> ForecastRow:
        return ForecastRow(
            market="0xm",
            token_id=YES,
            model_probability=D(blend),
            model="m",
            source="llm",
            created_at=NOW + timedelta(minutes=minute),
            aggregate=None if aggregate is None else D(aggregate),
            decision=decision,
        )

    rows = [
        row(0, "0.6000", "0.7000", "trade"),
        row(1, "0.6347", "0.8000", "trade"),
        row(2, "0.5500", "0.5000", "skip"),
        row(3, "0.5400", None, "skip"),  # stored before the aggregate column
    ]

    assert views_of(rows) == {"0xm": ModelView(D("0.6347"), D("0.5400"), "llm")}
    assert views_of(rows[2:3]) == {"0xm": ModelView(None, D("0.5000"), "llm")}


def test_exit_settings_are_validated(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("EXIT_STOP_HORIZON_S=90000\nEXIT_CLOSE_HORIZON_S=3600\nEXIT_SLIPPAGE=1.5\n")

    with pytest.raises(ConfigError) as caught:
        load_settings(env)

    named = sorted(line.split(":")[0] for line in caught.value.problems)
    assert named == ["EXIT_SLIPPAGE", "EXIT_STOP_HORIZON_S"]  # one line each
    env.write_text("EXIT_STOP_HORIZON_S=90000\nEXIT_CLOSE_HORIZON_S=3600\n")
    with pytest.raises(ConfigError) as crossed:
        load_settings(env)
    assert crossed.value.problems == [
        "EXIT_STOP_HORIZON_S: must not be longer than EXIT_CLOSE_HORIZON_S"
    ]
    with pytest.raises(ValueError, match="EXIT_ADVERSE_MOVE"):
        ExitConfig(adverse_move=D(0))


def test_a_dust_bid_or_a_wide_spread_near_the_end_is_not_sold_into() -> None:
    # the market stops taking orders in 20 min; the held YES is worth 0.60 to the blend
    ending, worth = market(end_in=timedelta(minutes=20)), HeldView(None, D("0.60"))
    # a 0.02 dust bid under a 0.62 ask: 0.02 is far below the mid 0.32 x (1 - 0.05)
    dust = book(YES, "0.02", "0.62")
    assert decide_exit(held(), ending, dust, worth, NOW, ExitConfig()) is None
    # a thin book 0.20/0.21: the mid test passes, the value clamp 0.60 - 0.10 = 0.50 does not
    thin = book(YES, "0.20", "0.21")
    assert decide_exit(held(), ending, thin, worth, NOW, ExitConfig()) is None
    # one-sided (no ask, no mid): held
    one_sided = Book(YES, (BookLevel(D("0.58"), D(100)),), (), NOW)
    assert decide_exit(held(), ending, one_sided, worth, NOW, ExitConfig()) is None
    # 0.40/0.60 with a 0.25 slippage passes the mid test (0.50 x 0.75 = 0.375) but the
    # spread 0.20 is over EXIT_MAX_SPREAD 0.10
    wide, loose = book(YES, "0.40", "0.60"), ExitConfig(slippage=D("0.25"))
    assert decide_exit(held(), ending, wide, HeldView(None, D("0.45")), NOW, loose) is None
    wider_cap = dataclasses.replace(loose, max_spread=D("0.25"))
    sold = decide_exit(held(), ending, wide, HeldView(None, D("0.45")), NOW, wider_cap)
    assert sold is not None
    assert sold.intent.limit_price == D("0.35")  # max(0.40 x 0.75 = 0.30, 0.45 - 0.10)


def test_the_limit_is_clamped_at_the_value_less_the_max_discount() -> None:
    ending = market(end_in=timedelta(minutes=20))
    # bid 0.60 ask 0.61, a 0.20 slippage floor of 0.48; the token is worth 0.65: 0.55 at least
    loose = ExitConfig(slippage=D("0.20"))
    decision = decide_exit(
        held(), ending, book(YES, "0.60", "0.61"), HeldView(None, D("0.65")), NOW, loose
    )
    assert decision is not None
    assert decision.intent.limit_price == D("0.55")
    # worth 0.72: even the bid is under 0.72 - 0.10 = 0.62: held
    assert (
        decide_exit(
            held(), ending, book(YES, "0.60", "0.61"), HeldView(None, D("0.72")), NOW, loose
        )
        is None
    )
    # without a model view the value is the mid: 0.605 - 0.10 = 0.505 -> up to 0.51
    unviewed = decide_exit(
        held(), ending, book(YES, "0.60", "0.61"), HeldView(None, None), NOW, loose
    )
    assert unviewed is not None
    assert unviewed.intent.limit_price == D("0.51")


def test_our_own_resting_orders_are_left_out_of_the_book() -> None:
    # our maker BUY improved the 0.45 bid to 0.46; a SELL of ours rests at 0.47 among others
    ours = Book(
        YES,
        (BookLevel(D("0.46"), D(30)), BookLevel(D("0.45"), D(100))),
        (BookLevel(D("0.47"), D(100)),),
        NOW,
    )
    resting = [
        Resting(YES, Side.BUY, D("0.46"), D(30)),
        Resting(YES, Side.SELL, D("0.47"), D(40)),
        Resting(NO, Side.BUY, D("0.45"), D(100)),  # another token's
    ]
    stripped = without_own(ours, resting)
    assert stripped.bids == (BookLevel(D("0.45"), D(100)),)
    assert stripped.asks == (BookLevel(D("0.47"), D(60)),)
    assert stripped.best_bid == D("0.45")


def test_new_exit_settings_are_validated(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("EXIT_MAX_DISCOUNT=1.5\nEXIT_MAX_SPREAD=0\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(env)
    named = sorted(line.split(":")[0] for line in caught.value.problems)
    assert named == ["EXIT_MAX_DISCOUNT", "EXIT_MAX_SPREAD"]
    with pytest.raises(ValueError, match="EXIT_MAX_DISCOUNT"):
        ExitConfig(max_discount=D(-1))
    with pytest.raises(ValueError, match="EXIT_MAX_SPREAD"):
        ExitConfig(max_spread=D(0))

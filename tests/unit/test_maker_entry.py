"""Maker entries, the pure parts: the passive price (at or inside the touch, never crossing,
never past the limit, our own size left out), the strategy's conversion of a sized buy into a
maker intent, and the MAKER_* settings' checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from trader.config import ConfigError, load_settings
from trader.domain import Book, BookLevel, OrderIntent, OrderType, Side
from trader.execution.touch import passive_price
from trader.signals.passive import MakerPolicy, passive_entry
from trader.signals.runtime import maker_policy

D = Decimal
NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)


def book(bids: list[tuple[str, str]], asks: list[tuple[str, str]], tick: str = "0.01") -> Book:
    return Book(
        "tok",
        tuple(BookLevel(D(p), D(s)) for p, s in bids),
        tuple(BookLevel(D(p), D(s)) for p, s in asks),
        NOW,
        tick_size=D(tick),
    )


WIDE = book([("0.48", "100"), ("0.47", "50")], [("0.52", "100"), ("0.53", "50")])


@pytest.mark.parametrize(
    ("side", "limit", "ticks", "expected"),
    [
        (Side.BUY, "0.60", 0, "0.48"),  # joins the bid
        (Side.BUY, "0.60", 1, "0.49"),  # one tick inside
        (Side.BUY, "0.60", 9, "0.51"),  # never more than one tick short of the ask
        (Side.BUY, "0.485", 1, "0.48"),  # never above the limit (rounded down to the grid)
        (Side.BUY, "0.47", 1, None),  # the bid is past the limit: behind the touch is none
        (Side.SELL, "0.40", 1, "0.51"),
        (Side.SELL, "0.40", 9, "0.49"),  # never more than one tick above the bid
        (Side.SELL, "0.55", 1, None),  # the ask is below the limit: none
    ],
)
def test_the_passive_price_is_at_or_inside_the_touch_and_within_the_limit(
    side: Side, limit: str, ticks: int, expected: str | None
) -> None:
    price = passive_price(side, D(limit), WIDE, ticks)
    assert price == (D(expected) if expected else None)


def test_one_tick_of_spread_joins_the_bid_and_never_takes_the_ask() -> None:
    tight = book([("0.50", "10")], [("0.51", "10")])
    assert passive_price(Side.BUY, D("0.90"), tight, 3) == D("0.50")
    assert passive_price(Side.SELL, D("0.10"), tight, 3) == D("0.51")


def test_our_own_resting_size_is_not_the_touch_it_improves_on() -> None:
    # we rest 20 at 0.49: alone at the best bid, so the touch to improve on is 0.48
    ours = book([("0.49", "20"), ("0.48", "100")], [("0.52", "100")])
    assert passive_price(Side.BUY, D("0.60"), ours, 1, {D("0.49"): D(20)}) == D("0.49")
    assert passive_price(Side.BUY, D("0.60"), ours, 1) == D("0.50")  # would chase itself


def test_a_finer_tick_size_prices_on_the_finer_grid() -> None:
    fine = book([("0.480", "100")], [("0.520", "100")], tick="0.001")
    assert passive_price(Side.BUY, D("0.60"), fine, 1) == D("0.481")


def test_an_empty_side_prices_one_tick_off_the_other_and_an_empty_book_not_at_all() -> None:
    assert passive_price(Side.BUY, D("0.60"), book([], [("0.52", "1")]), 1) == D("0.51")
    assert passive_price(Side.BUY, D("0.60"), book([], []), 1) is None


def _sized(side: Side = Side.BUY) -> OrderIntent:
    return OrderIntent(
        "m", "tok", side, D("0.53"), notional=D(10), order_type=OrderType.FAK, reason="edge"
    )


def test_a_sized_buy_becomes_a_maker_intent_and_urgency_follows_the_edge() -> None:
    policy = MakerPolicy(improve_ticks=2, urgent_edge=D("0.10"), ttl=timedelta(minutes=5))

    patient = passive_entry(_sized(), policy, D("0.04"), NOW)
    urgent = passive_entry(_sized(), policy, D("0.12"), NOW)

    assert patient.maker is not None
    assert urgent.maker is not None
    assert (patient.maker.improve_ticks, patient.maker.urgent, urgent.maker.urgent) == (
        2,
        False,
        True,
    )
    assert (patient.order_type, patient.post_only) == (OrderType.GTC, True)
    assert patient.expires_at == NOW + timedelta(minutes=5)
    assert (patient.limit_price, patient.notional) == (D("0.53"), D(10))
    sale = _sized(Side.SELL)
    assert passive_entry(sale, policy, D("0.5"), NOW) is sale  # an exit never waits


def write_env(tmp_path: Path, text: str) -> str:
    path = tmp_path / ".env"
    path.write_text(text)
    return str(path)


def test_maker_settings_are_read_and_checked(tmp_path: Path) -> None:
    env = "MAKER_ENTRY=true\nMAKER_IMPROVE_TICKS=2\nMAKER_URGENT_EDGE=0.07\nMAKER_TTL_S=600\n"
    settings = load_settings(write_env(tmp_path, env))
    assert maker_policy(settings) == MakerPolicy(2, D("0.07"), timedelta(seconds=600))
    assert maker_policy(load_settings(None)) is None  # off by default

    bad = "MAKER_ENTRY=true\nMAKER_TTL_S=10\nMAKER_REPRICE_S=30\nMAKER_URGENT_EDGE=1.5\n"
    with pytest.raises(ConfigError) as caught:
        load_settings(write_env(tmp_path, bad))
    named = sorted(line.split(":")[0] for line in caught.value.problems)
    assert named == ["MAKER_TTL_S", "MAKER_URGENT_EDGE"]  # one line per problem
    load_settings(write_env(tmp_path, "MAKER_TTL_S=10\n"))  # maker entries off: no problem
    # an entry must be able to rest GTD (the venue's 180 s lead, 5 s of margin) or never rests
    with pytest.raises(ConfigError) as short:
        load_settings(write_env(tmp_path, "MAKER_ENTRY=true\nMAKER_TTL_S=185\n"))
    assert [p.split(":")[0] for p in short.value.problems] == ["MAKER_TTL_S"]
    load_settings(write_env(tmp_path, "MAKER_ENTRY=true\nMAKER_TTL_S=186\n"))

"""The simulator's order book: price-time priority, partial fills, mirroring."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from polysim.clob.book import OrderBook, mirror_price
from trader.domain import Side

D = Decimal


def test_taker_fills_best_price_first_then_oldest_first() -> None:
    book = OrderBook()
    book.add("late-at-50", Side.SELL, D("0.50"), D(5), "b")
    book.add("at-52", Side.SELL, D("0.52"), D(5), "c")
    book.add("early-at-50", Side.SELL, D("0.50"), D(5), "a")  # later in time: queued behind

    matches = book.take(Side.BUY, D("0.52"), D(12))

    assert [(m.maker_order_id, m.price, m.size) for m in matches] == [
        ("late-at-50", D("0.50"), D(5)),
        ("early-at-50", D("0.50"), D(5)),
        ("at-52", D("0.52"), D(2)),
    ]
    assert book.get("at-52").remaining == D(3)  # type: ignore[union-attr]
    assert book.levels(Side.SELL) == [(D("0.52"), D(3))]


def test_taker_stops_at_its_limit_and_partially_fills() -> None:
    book = OrderBook()
    book.add("bid", Side.BUY, D("0.40"), D(10), "m")
    book.add("lower", Side.BUY, D("0.35"), D(10), "m")

    matches = book.take(Side.SELL, D("0.38"), D(25))

    assert [(m.maker_order_id, m.size) for m in matches] == [("bid", D(10))]
    assert book.best(Side.BUY) == D("0.35")


def test_crosses_and_available_see_only_the_other_side_within_the_limit() -> None:
    book = OrderBook()
    book.add("a1", Side.SELL, D("0.61"), D(50), "m")
    book.add("a2", Side.SELL, D("0.62"), D(75), "m")
    book.add("b1", Side.BUY, D("0.59"), D(50), "m")

    assert book.crosses(Side.BUY, D("0.61"))
    assert not book.crosses(Side.BUY, D("0.60"))
    assert book.crosses(Side.SELL, D("0.59"))
    assert book.available(Side.BUY, D("0.62")) == D(125)
    assert book.available(Side.BUY, D("0.615")) == D(50)


def test_removing_an_order_drops_its_empty_level() -> None:
    book = OrderBook()
    book.add("x", Side.BUY, D("0.30"), D(5), "m")
    book.take_changes()

    removed = book.remove("x")

    assert removed is not None
    assert book.best(Side.BUY) is None
    assert book.take_changes() == [(Side.BUY, D("0.30"), D(0))]
    assert book.remove("x") is None


def test_changes_report_only_levels_whose_size_moved() -> None:
    book = OrderBook()
    book.add("x", Side.BUY, D("0.30"), D(5), "m")
    book.take_changes()

    book.remove("x")
    book.add("y", Side.BUY, D("0.30"), D(5), "m")  # same level, same size: no change
    book.add("z", Side.SELL, D("0.70"), D(3), "m")

    assert book.take_changes() == [(Side.SELL, D("0.70"), D(3))]


def test_mirror_price_maps_an_outcome_onto_its_complement() -> None:
    assert mirror_price(D("0.37")) == D("0.63")


prices = st.integers(min_value=1, max_value=99).map(lambda cents: D(cents) / 100)
sizes = st.integers(min_value=1, max_value=500).map(D)
orders = st.tuples(st.sampled_from([Side.BUY, Side.SELL]), prices, sizes)


@settings(max_examples=150, deadline=None)
@given(st.lists(orders, min_size=1, max_size=60))
def test_book_never_stays_crossed_and_conserves_size(flow: list[tuple[Side, D, D]]) -> None:
    book = OrderBook()
    submitted = matched = D(0)
    for index, (side, price, size) in enumerate(flow):
        submitted += size
        fills = book.take(side, price, size)
        filled = sum((m.size for m in fills), D(0))
        for match in fills:
            assert (match.price <= price) if side is Side.BUY else (match.price >= price)
        matched += filled
        if size > filled:
            book.add(f"o{index}", side, price, size - filled, "t")
        bid, ask = book.best(Side.BUY), book.best(Side.SELL)
        assert bid is None or ask is None or bid < ask
    resting = sum((s for side in (Side.BUY, Side.SELL) for _, s in book.levels(side)), D(0))
    # every share submitted either rests or was matched against an earlier one (twice counted)
    assert resting + 2 * matched == submitted

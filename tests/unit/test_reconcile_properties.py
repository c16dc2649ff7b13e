"""Properties of reconciliation (hypothesis): applying the corrections makes us agree with the
venue, and agreeing with the venue means no corrections."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from trader.domain import Fill, Order, OrderStatus, Position, Side, TradeStatus
from trader.execution.ledger import apply_fill
from trader.execution.reconcile import (
    SIZE_TOLERANCE,
    LocalOrder,
    LocalState,
    RecordFill,
    SetPosition,
    UpdateOrder,
    VenueReport,
    reconcile,
)

NOW = datetime(2026, 3, 1, tzinfo=UTC)
TOKENS = ("a", "b", "c")
sizes = st.integers(0, 5000).map(lambda n: Decimal(n) / 100)
prices = st.integers(1, 99).map(lambda n: Decimal(n) / 100)


@st.composite
def positions(draw: st.DrawFn) -> dict[str, Position]:
    chosen = draw(st.lists(st.sampled_from(TOKENS), unique=True))
    return {t: Position(t, draw(sizes), draw(prices), market="m") for t in chosen}


@st.composite
def trades(draw: st.DrawFn) -> list[Fill]:
    out = []
    for n in range(draw(st.integers(0, 6))):
        out.append(
            Fill(
                f"t{n}",
                f"o{n % 3}",
                draw(st.sampled_from(TOKENS)),
                draw(st.sampled_from(Side)),
                draw(prices),
                draw(sizes),
                Decimal(0),
                NOW,
                "m",
                draw(st.sampled_from(TradeStatus)),
            )
        )
    return out


@st.composite
def orders(draw: st.DrawFn) -> tuple[list[LocalOrder], list[Order]]:
    local, venue = [], []
    for n in range(draw(st.integers(0, 5))):
        status = draw(st.sampled_from([OrderStatus.SUBMITTED, OrderStatus.LIVE]))
        mine = LocalOrder(
            f"c{n}",
            f"o{n}",
            "a",
            "m",
            Side.BUY,
            Decimal("0.5"),
            Decimal(10),
            Decimal(0),
            status,
            NOW,
        )
        local.append(mine)
        if draw(st.booleans()):
            venue.append(
                Order(
                    f"o{n}",
                    "a",
                    Side.BUY,
                    Decimal("0.5"),
                    Decimal(10),
                    Decimal(0),
                    OrderStatus.LIVE,
                    NOW,
                    market="m",
                )
            )
    return local, venue


@settings(max_examples=300, deadline=None)
@given(positions(), positions(), trades(), st.sets(st.integers(0, 5)), orders())
def test_after_the_corrections_positions_and_open_orders_agree_with_the_venue(
    ours: dict[str, Position],
    theirs: dict[str, Position],
    venue_trades: list[Fill],
    known_trades: set[int],
    book: tuple[list[LocalOrder], list[Order]],
) -> None:
    local_orders, venue_orders = book
    recorded = {t.key: t.status for n, t in enumerate(venue_trades) if n in known_trades}
    local = LocalState(
        open_orders=local_orders,
        known_order_ids=frozenset(o.order_id for o in local_orders),
        fills=recorded,
        positions=ours,
    )
    venue = VenueReport(
        venue_orders,
        venue_trades,
        list(theirs.values()),
        looked_up={o.order_id: None for o in local_orders},
    )

    result = reconcile(local, venue)

    after = dict(ours)
    still_open = {o.order_id for o in local_orders}
    for correction in result.corrections:
        if isinstance(correction, RecordFill):
            fill = correction.fill
            after[fill.token_id], _ = apply_fill(after.get(fill.token_id), fill)
        elif isinstance(correction, SetPosition):
            after[correction.token_id] = correction.venue
        elif isinstance(correction, UpdateOrder) and not correction.after.is_open:
            still_open.discard(correction.order_id)
    for token in TOKENS:
        mine = after[token].size if token in after else Decimal(0)
        venue_size = theirs[token].size if token in theirs else Decimal(0)
        assert abs(mine - venue_size) <= SIZE_TOLERANCE
    assert still_open == {o.order_id for o in venue_orders}
    # and once we agree, there is nothing left to correct
    settled = LocalState(
        open_orders=[o for o in local_orders if o.order_id in still_open],
        known_order_ids=local.known_order_ids,
        fills={t.key: t.status for t in venue_trades},
        positions=dict(theirs),
    )
    agreed = VenueReport(venue_orders, venue_trades, list(theirs.values()))
    leftover = reconcile(settled, agreed).corrections
    assert [c for c in leftover if not isinstance(c, UpdateOrder)] == []

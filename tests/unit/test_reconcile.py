from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from trader.domain import Fill, Order, OrderStatus, Position, Side, TradeStatus
from trader.execution.reconcile import (
    AdoptOrder,
    LocalOrder,
    LocalState,
    RecordFill,
    SetCash,
    SetPosition,
    UpdateFillStatus,
    UpdateOrder,
    VenueReport,
    orders_to_look_up,
    reconcile,
)

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
D = Decimal


def local_order(
    order_id: str, status: OrderStatus = OrderStatus.LIVE, size: str = "10"
) -> LocalOrder:
    return LocalOrder(
        client_order_id=f"c-{order_id}",
        order_id=order_id,
        token_id="yes",
        market="m",
        side=Side.BUY,
        price=D("0.5"),
        size=D(size),
        size_matched=D(0),
        status=status,
        created_at=NOW,
    )


def venue_order(order_id: str, status: OrderStatus = OrderStatus.LIVE, matched: str = "0") -> Order:
    return Order(order_id, "yes", Side.BUY, D("0.5"), D(10), D(matched), status, NOW, market="m")


def trade(
    trade_id: str, order_id: str, size: str = "10", status: TradeStatus = TradeStatus.MATCHED
) -> Fill:
    return Fill(trade_id, order_id, "yes", Side.BUY, D("0.5"), D(size), D(0), NOW, "m", status)


def state(*orders: LocalOrder, **changes: object) -> LocalState:
    base: dict[str, object] = {
        "open_orders": orders,
        "known_order_ids": frozenset(o.order_id for o in orders),
        "fills": {},
        "positions": {},
    }
    base.update(changes)
    return LocalState(**base)  # type: ignore[arg-type]


def test_reconcile_when_everything_agrees_finds_nothing() -> None:
    local = state(local_order("o1"))
    venue = VenueReport(open_orders=[venue_order("o1")], trades=[], positions=[])

    result = reconcile(local, venue)

    assert result.clean
    assert result.position_mismatch_value == 0


def test_an_open_order_we_do_not_know_is_adopted() -> None:
    result = reconcile(state(), VenueReport([venue_order("stranger")], [], []))

    assert result.corrections == (AdoptOrder(venue_order("stranger")),)


def test_orders_missing_from_the_open_list_are_looked_up_except_in_flight() -> None:
    local = state(
        local_order("o1"), local_order("o2"), local_order("o3"), in_flight=frozenset({"o3"})
    )

    assert orders_to_look_up(local, [venue_order("o1")]) == ["o2"]


def test_a_submitted_order_the_venue_never_saw_is_rejected_not_resent() -> None:
    local = state(local_order("o1", OrderStatus.SUBMITTED))
    venue = VenueReport([], [], [], looked_up={"o1": None})

    (correction,) = reconcile(local, venue).corrections

    assert isinstance(correction, UpdateOrder)
    assert correction.after is OrderStatus.REJECTED


def test_a_submitted_order_that_filled_while_we_were_down_is_matched_and_its_fill_recorded() -> (
    None
):
    local = state(local_order("o1", OrderStatus.SUBMITTED))
    venue = VenueReport(
        [],
        [trade("t1", "o1")],
        [Position("yes", D(10), D("0.5"), market="m")],
        looked_up={"o1": None},
    )

    result = reconcile(local, venue)

    assert (
        UpdateOrder(
            "c-o1",
            "o1",
            OrderStatus.SUBMITTED,
            OrderStatus.MATCHED,
            D(10),
            "gone from the venue, fully traded",
        )
        in result.corrections
    )
    assert RecordFill(trade("t1", "o1")) in result.corrections
    # the missing fill explains the venue's position: no position correction
    assert not any(isinstance(c, SetPosition) for c in result.corrections)


def test_a_live_order_gone_without_trades_is_cancelled() -> None:
    local = state(local_order("o1"))

    (correction,) = reconcile(local, VenueReport([], [], [], looked_up={"o1": None})).corrections

    assert isinstance(correction, UpdateOrder)
    assert correction.after is OrderStatus.CANCELED


def test_the_venue_status_and_matched_size_win() -> None:
    local = state(local_order("o1", OrderStatus.SUBMITTED))
    venue = VenueReport([venue_order("o1", OrderStatus.LIVE, matched="4")], [], [])

    (correction,) = reconcile(local, venue).corrections

    assert isinstance(correction, UpdateOrder)
    assert (correction.after, correction.size_matched) == (OrderStatus.LIVE, D(4))


def test_trade_status_changes_are_taken_from_the_venue() -> None:
    local = state(
        fills={("t1", "o1"): TradeStatus.MATCHED},
        positions={"yes": Position("yes", D(10), D("0.5"))},
    )
    venue = VenueReport(
        [], [trade("t1", "o1", status=TradeStatus.CONFIRMED)], [Position("yes", D(10), D("0.5"))]
    )

    assert reconcile(local, venue).corrections == (
        UpdateFillStatus("t1", "o1", TradeStatus.MATCHED, TradeStatus.CONFIRMED),
    )


def test_failed_trades_are_not_recorded() -> None:
    venue = VenueReport([], [trade("t1", "o1", status=TradeStatus.FAILED)], [])

    assert reconcile(state(), venue).clean


def test_position_differences_take_the_venue_size_and_are_valued() -> None:
    local = state(
        positions={
            "yes": Position("yes", D(10), D("0.5"), market="m"),
            "gone": Position("gone", D(4), D("0.25"), market="m"),
        }
    )
    venue = VenueReport([], [], [Position("yes", D(16), D("0.5"), market="m")])

    result = reconcile(local, venue)

    corrections = {c.token_id: c for c in result.corrections if isinstance(c, SetPosition)}
    assert corrections["yes"].venue.size == D(16)
    assert corrections["gone"].venue.size == D(0)
    assert result.position_mismatch_value == D(3) + D(1)


def test_a_position_the_venue_moved_while_it_was_read_is_left_for_the_next_run() -> None:
    """A fill landing between the venue's positions read and its trades read: the trade is
    there, the first positions read is not. Read twice (before and after the trades), the
    token's size moved, so no position difference is claimed for it (and nothing halts);
    a token that held still is still compared."""
    local = state(
        local_order("o9"),
        positions={
            "yes": Position("yes", D(10), D("0.5"), market="m"),
            "other": Position("other", D(5), D("0.4"), market="m"),
        },
    )
    before_the_fill = [
        Position("yes", D(10), D("0.5"), market="m"),
        Position("other", D(8), D("0.4"), market="m"),
    ]
    venue = VenueReport(
        [], [trade("t9", "o9", size="6")], before_the_fill, moving_tokens=frozenset({"yes"})
    )

    result = reconcile(local, venue)

    assert [c.token_id for c in result.corrections if isinstance(c, SetPosition)] == ["other"]
    assert result.position_mismatch_value == D(3) * D("0.4")
    assert any(isinstance(c, RecordFill) for c in result.corrections)  # the fill is still taken


def test_settled_tokens_are_not_compared() -> None:
    local = state(ignored_tokens=frozenset({"yes"}))
    venue = VenueReport([], [], [Position("yes", D(16), D("0.5"))])

    assert reconcile(local, venue).clean


def test_cash_beyond_a_cent_is_corrected() -> None:
    assert reconcile(state(cash=D("100.00")), VenueReport([], [], [], cash=D("100.01"))).clean
    result = reconcile(state(cash=D("100.00")), VenueReport([], [], [], cash=D("90")))
    assert result.corrections == (SetCash(D("100.00"), D(90)),)


def test_an_order_we_closed_that_is_open_at_the_venue_is_reopened() -> None:
    closed = local_order("late", OrderStatus.REJECTED)
    local = state(known_order_ids=frozenset({"late"}), closed_orders={"late": closed})

    (correction,) = reconcile(local, VenueReport([venue_order("late")], [], [])).corrections

    assert isinstance(correction, UpdateOrder)
    assert (correction.before, correction.after) == (OrderStatus.REJECTED, OrderStatus.LIVE)


def test_a_young_submitted_order_is_not_judged_yet() -> None:
    young = local_order("o1", OrderStatus.SUBMITTED)
    local = state(young, now=NOW + timedelta(seconds=5), unknown_grace_s=30.0)
    later = state(young, now=NOW + timedelta(seconds=31), unknown_grace_s=30.0)
    venue = VenueReport([], [], [], looked_up={"o1": None})

    assert reconcile(local, venue).clean
    assert len(reconcile(later, venue).corrections) == 1


def test_cash_is_compared_after_the_missing_fills() -> None:
    local = state(cash=D(100), positions={})
    venue = VenueReport([], [trade("t1", "o1")], [Position("yes", D(10), D("0.5"))], cash=D(95))

    result = reconcile(local, venue)

    assert not any(isinstance(c, SetCash) for c in result.corrections)


def closed_order(order_id: str, status: OrderStatus, matched: str = "0") -> LocalOrder:
    order = local_order(order_id, status, size="5")
    return LocalOrder(**{**_fields(order), "size_matched": D(matched)})


def _fields(order: LocalOrder) -> dict[str, object]:
    return {name: getattr(order, name) for name in LocalOrder.__slots__}


def test_a_recently_closed_order_the_trades_contradict_takes_the_venues_status_and_size() -> None:
    rejected_here = closed_order("o1", OrderStatus.REJECTED)
    local = state(recently_closed=[rejected_here], known_order_ids=frozenset({"o1"}))
    trades = [trade("t1", "o1", size="5")]
    filled = Order(
        "o1", "yes", Side.BUY, D("0.5"), D(5), D(5), OrderStatus.MATCHED, NOW, market="m"
    )

    asked = orders_to_look_up(local, [], trades)
    result = reconcile(local, VenueReport([], trades, [], looked_up={"o1": filled}))

    assert asked == ["o1"]
    updates = [c for c in result.corrections if isinstance(c, UpdateOrder)]
    assert updates == [
        UpdateOrder(
            "c-o1",
            "o1",
            OrderStatus.REJECTED,
            OrderStatus.MATCHED,
            D(5),
            "closed here; the venue reports otherwise",
        )
    ]


def test_a_recently_closed_order_its_trades_agree_with_is_not_looked_up() -> None:
    done = closed_order("o1", OrderStatus.MATCHED, matched="5")
    local = state(recently_closed=[done], known_order_ids=frozenset({"o1"}))
    trades = [trade("t1", "o1", size="5")]

    asked = orders_to_look_up(local, [], trades)
    result = reconcile(local, VenueReport([], trades, [], looked_up={}))

    assert asked == []
    assert not [c for c in result.corrections if isinstance(c, UpdateOrder)]


def test_a_closed_order_the_venue_no_longer_shows_takes_its_trades() -> None:
    rejected_here = closed_order("o1", OrderStatus.REJECTED)
    local = state(recently_closed=[rejected_here], known_order_ids=frozenset({"o1"}))
    trades = [trade("t1", "o1", size="2")]

    result = reconcile(local, VenueReport([], trades, [], looked_up={"o1": None}))

    updates = [c for c in result.corrections if isinstance(c, UpdateOrder)]
    assert [(u.after, u.size_matched) for u in updates] == [(OrderStatus.CANCELED, D(2))]

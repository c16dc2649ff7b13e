"""The chaos run's invariant checks, on hand-made snapshots: a chaos run that passes only means
something if each check fails on the breakage it names, so every check is fed a deliberately
broken world here and must report it (and must stay quiet on a consistent one)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chaos.invariants import (
    INVARIANTS,
    ChainRow,
    Event,
    Ledger,
    OrderRecord,
    VenueView,
    cash_matches_payouts,
    check_all,
    failures,
    never_redeemed_twice,
    with_run_gaps,
)
from trader.store.tables import EventLogRow, table_of

T0 = datetime(2026, 5, 1, 12, tzinfo=UTC)
SIZE = Decimal(5)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def order(
    n: int,
    *,
    corr: str | None = None,
    when: float = 10,
    strategy: str = "edge",
    status: str = "MATCHED",
    matched: Decimal = SIZE,
) -> OrderRecord:
    return OrderRecord(
        client_order_id=f"po-{n}",
        venue_order_id=f"0x{n}",
        token_id="tok",
        side="BUY",
        status=status,
        created_at=at(when),
        strategy=strategy,
        correlation_id=corr or f"c{n}",
        size_matched=matched,
    )


def events(*kinds: tuple[float, str, str | None, dict[str, Any]]) -> list[Event]:
    return [
        Event(i + 1, at(ts), kind, corr, payload)
        for i, (ts, kind, corr, payload) in enumerate(kinds)
    ]


def history(*orders: OrderRecord) -> list[Event]:
    """A complete event log for these orders: startup, then intent, order and fill each."""
    kinds: list[tuple[float, str, str | None, dict[str, Any]]] = [
        (0, "startup", None, {"trading_state": "RUNNING"})
    ]
    for o in orders:
        vid, corr = o.venue_order_id, o.correlation_id
        sent = (o.created_at - T0).total_seconds()
        kinds += [
            (sent - 1, "intent_received", corr, {}),
            (sent, "order_created", corr, {"order_id": vid}),
            (sent, "fill", corr, {"trade_id": f"t-{vid}", "order_id": vid}),
        ]
    return events(*kinds)


def without(log: list[Event], kind: str, corr: str | None = None) -> list[Event]:
    """The log with those events never written (numbered again: no gap to give it away)."""
    kept = [e for e in log if not (e.type == kind and corr in (None, e.correlation_id))]
    return [replace(e, seq=i) for i, e in enumerate(kept, 1)]


def venue(*orders: OrderRecord, legs: set[tuple[str, str]] | None = None) -> VenueView:
    return VenueView(
        orders=[
            {"id": o.venue_order_id, "status": "MATCHED", "size_matched": str(SIZE)} for o in orders
        ],
        open_ids=set(),
        trade_legs={(f"t-{o.venue_order_id}", str(o.venue_order_id)) for o in orders}
        if legs is None
        else legs,
        holdings={"tok": SIZE * len(orders)} if orders else {},
    )


def ledger(*orders: OrderRecord, log: list[Event] | None = None) -> Ledger:
    return Ledger(
        orders=list(orders),
        fills={(f"t-{o.venue_order_id}", str(o.venue_order_id)) for o in orders},
        positions={"tok": SIZE * len(orders)} if orders else {},
        events=log if log is not None else history(*orders),
    )


def test_invariants_hold_on_a_consistent_snapshot() -> None:
    one, two = order(1), order(2)
    assert failures(check_all(ledger(one, two), venue(one, two))) == {}
    assert set(check_all(ledger(), venue())) == set(INVARIANTS)


def test_invariants_catch_an_intent_sent_twice_and_an_order_without_its_row() -> None:
    first, again = order(1, corr="same"), order(2, corr="same")
    stray = order(3)
    found = failures(check_all(ledger(first, again), venue(first, again, stray)))
    assert "reached the venue 2 times" in " ".join(found["no_duplicate_orders"])
    assert "0x3 has no row" in " ".join(found["no_duplicate_orders"])


def test_invariants_catch_a_lost_fill_and_a_position_that_differs() -> None:
    one = order(1)
    at_venue = venue(one, legs={("t-0x1", "0x1"), ("t-late", "0x1")})
    found = failures(check_all(ledger(one), at_venue))
    assert found["no_lost_fills"] == ["trade t-late of order 0x1 not recorded"]
    off = replace(ledger(one), positions={"tok": Decimal(4)})
    assert "positions_match" in failures(check_all(off, venue(one)))


def test_invariants_catch_a_gap_in_the_event_log() -> None:
    gap = [Event(1, at(0), "startup", None, {}), Event(3, at(1), "tick", None, {})]
    found = failures(check_all(ledger(log=gap), venue()))
    assert found["event_log_continuous"] == ["seq 3 where 2 was expected"]


def test_a_gap_the_stores_continuity_check_found_fails_the_event_log_check() -> None:
    broken = replace(ledger(), run_gaps=["run r1: 1 event(s) missing after #2"])
    found = failures(check_all(broken, venue()))
    assert found == {"event_log_continuous": ["run r1: 1 event(s) missing after #2"]}


async def test_with_run_gaps_reports_what_find_gaps_finds(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    row = {"ts": T0, "type": "x", "actor": "system:trader", "correlation_id": None, "payload": {}}
    async with sessions.begin() as session:
        await session.execute(
            insert(table_of(EventLogRow)), [row | {"run_id": "r1", "run_seq": n} for n in (1, 2)]
        )
    assert (await with_run_gaps(ledger(), sessions)).run_gaps == []

    async with sessions.begin() as session:  # #3 numbered, then lost with the process
        await session.execute(insert(table_of(EventLogRow)), [row | {"run_id": "r1", "run_seq": 4}])
    checked = await with_run_gaps(ledger(), sessions)

    assert checked.run_gaps == ["run r1: 1 event(s) missing after #2"]
    assert "event_log_continuous" in failures(check_all(checked, venue()))


def test_a_closed_order_whose_status_or_matched_size_differs_from_the_venues_fails() -> None:
    rejected = order(1, status="REJECTED", matched=Decimal(0))  # the 5xx-after-accept bug
    short = order(2, status="MATCHED", matched=Decimal(3))
    canceled = order(3, status="CANCELED", matched=SIZE)
    world = venue(rejected, short, canceled)
    found = failures(check_all(ledger(rejected, short, canceled), world))

    assert found["closed_orders_match"] == [
        "order 0x1: ours REJECTED 0 matched, venue MATCHED 5 matched",
        "order 0x2: ours MATCHED 3 matched, venue MATCHED 5 matched",
        "order 0x3: ours CANCELED 5 matched, venue MATCHED 5 matched",
    ]


def test_a_closed_order_the_venue_does_not_list_must_have_nothing_matched() -> None:
    refused = order(1, status="REJECTED", matched=Decimal(0))
    claimed = order(2, status="MATCHED", matched=SIZE)
    unfilled = order(3, status="CANCELED", matched=Decimal(0))  # a FAK that found nothing
    half = order(4, status="CANCELED", matched=Decimal(2))
    world = replace(venue(), trade_legs=set())
    books = replace(
        ledger(refused, claimed, unfilled, half, log=history()), fills=set(), positions={}
    )

    found = failures(check_all(books, world))

    assert found == {
        "closed_orders_match": [
            "order 0x2 is MATCHED with 5 matched here; the venue does not list it",
            "order 0x4 is CANCELED with 2 matched here; the venue does not list it",
        ]
    }


def test_an_order_at_the_venue_without_its_intent_or_order_event_fails() -> None:
    one, two = order(1), order(2)
    log = without(without(history(one, two), "order_created", "c1"), "intent_received", "c2")
    found = failures(check_all(ledger(one, two, log=log), venue(one, two)))

    assert found == {
        "event_log_complete": [
            "order 0x1 has no order_created event",
            "order 0x2 has no intent_received event",
        ]
    }


def test_a_fill_row_without_its_fill_event_fails_and_an_unsent_order_needs_none() -> None:
    one = order(1)
    unsent = order(2, status="REJECTED", matched=Decimal(0))  # crashed before the send
    books = replace(ledger(one, log=without(history(one), "fill")), orders=[one, unsent])
    found = failures(check_all(books, venue(one)))

    assert found == {"event_log_complete": ["fill row t-0x1 of order 0x1 has no fill event"]}


def test_invariants_catch_an_order_decided_while_killed_but_not_one_in_flight() -> None:
    in_flight = order(1, corr="early", when=6)  # decided before the kill, sent just after
    while_killed = order(2, corr="late", when=8)
    after_rearm = order(3, corr="after", when=12)
    exit_sale = order(4, corr="k", when=7, strategy="kill")  # flatten sells on purpose
    log = events(
        (0, "startup", None, {"trading_state": "RUNNING"}),
        (4, "intent_received", "early", {}),
        (5, "kill", "k", {}),
        (7.5, "intent_received", "late", {}),
        (10, "rearmed", "r", {}),
        (11, "intent_received", "after", {}),
    )
    orders = (in_flight, while_killed, after_rearm, exit_sale)
    found = failures(check_all(ledger(*orders, log=log), venue(*orders)))
    assert len(found["no_orders_while_stopped"]) == 1
    assert "po-2" in found["no_orders_while_stopped"][0]


def test_a_restart_in_the_killed_state_counts_as_stopped_even_without_the_kill_event() -> None:
    sent = order(1, corr="x", when=20)  # no intent event: the order row's time is used
    log = events(
        (0, "startup", None, {"trading_state": "RUNNING"}),
        (15, "startup", None, {"trading_state": "KILLED"}),
    )
    found = failures(check_all(ledger(sent, log=log), venue(sent)))
    assert "no_orders_while_stopped" in found


def test_a_flattens_sells_need_the_recorded_flatten_and_may_share_its_id() -> None:
    """A kill's flatten sends several sells under its one id (and resumes under it after a
    crash): not an intent sent twice; their decision is `flatten_recorded`, which must be
    there."""
    first = order(1, corr="k", strategy="kill")
    resumed = order(2, corr="k", strategy="kill")
    log = without(without(history(first, resumed), "intent_received"), "intent_received")
    flattened = [*log, Event(len(log) + 1, at(9), "flatten_recorded", "k", {})]
    assert failures(check_all(ledger(first, resumed, log=flattened), venue(first, resumed))) == {}

    found = failures(check_all(ledger(first, resumed, log=log), venue(first, resumed)))
    assert found == {
        "event_log_complete": [
            "flatten sell 0x1 has no flatten_recorded event",
            "flatten sell 0x2 has no flatten_recorded event",
        ]
    }
    twice = order(3, corr="k"), order(4, corr="k")  # the same id, not a flatten: still caught
    found = failures(check_all(ledger(*twice), venue(*twice)))
    assert "reached the venue 2 times" in " ".join(found["no_duplicate_orders"])


def test_a_settlement_fill_row_is_explained_by_its_markets_settled_event() -> None:
    row = ("settlement:m1:tok", "settlement")
    settled = Event(2, at(20), "market_settled", None, {"market": "m1", "payouts": {"tok": "1"}})
    base = replace(ledger(), fills={row})
    assert failures(check_all(replace(base, events=[*base.events, settled]), venue())) == {}

    found = failures(check_all(base, venue()))
    assert found == {
        "event_log_complete": ["fill row settlement:m1:tok of order settlement has no fill event"]
    }


def redemption(
    n: int, state: str = "confirmed", *, market: str = "m1", when: float = 20
) -> ChainRow:
    return ChainRow(
        operation_id=f"redeem-{n}",
        kind="redeem",
        market=market,
        state=state,
        payout=Decimal(20),
        tx_id=None if state == "requested" else f"tx-{n}",
        created_at=at(when),
        requested_by="system:trader",
    )


def redeemed_log(*ops: ChainRow, moved: Decimal = Decimal(20), run: str = "r1") -> list[Event]:
    log = [
        (0, "startup", None, {}),
        (5, "market_settled", "s", {"market": "m1", "payouts": {}, "redeemable": "20"}),
    ]
    log += [
        (
            30,
            "redemption_confirmed",
            f"c{o.operation_id}",
            {
                "operation_id": o.operation_id,
                "market": o.market,
                "payout": str(o.payout),
                "cash_moved": str(moved),
            },
        )
        for o in ops
        if o.state == "confirmed"
    ]
    return [replace(e, run_id=run) for e in events(*log)]


def test_a_market_redeemed_once_holds_and_one_redeemed_twice_fails() -> None:
    once = replace(ledger(), chain=[redemption(1)], events=redeemed_log(redemption(1)))
    twice_ops = [redemption(1), redemption(2, when=40)]
    twice = replace(ledger(), chain=twice_ops, events=redeemed_log(*twice_ops))

    assert failures(check_all(once, venue())) == {}
    found = failures(check_all(twice, venue()))
    assert "m1 redeemed 2 times" in " ".join(found["never_redeemed_twice"])
    assert "asked after it was redeemed" in " ".join(found["never_redeemed_twice"])
    assert "40 moved for a payout of 20" in " ".join(found["cash_matches_payouts"])


def test_two_operations_in_flight_for_one_market_or_a_tx_recorded_twice_fail() -> None:
    flight = [redemption(1, "sent"), redemption(2, "requested")]
    same_tx = [redemption(1, "failed"), replace(redemption(2, "sent"), tx_id="tx-1")]

    assert "2 operations in flight" in " ".join(
        never_redeemed_twice(replace(ledger(), chain=flight))
    )
    assert never_redeemed_twice(replace(ledger(), chain=same_tx)) == ["tx tx-1 recorded 2 times"]


def test_a_redemption_paying_other_than_its_settlement_or_without_its_event_fails() -> None:
    short = replace(redemption(1), payout=Decimal(15))
    paid_less = replace(ledger(), chain=[short], events=redeemed_log(short))
    silent = replace(ledger(), chain=[redemption(1)], events=redeemed_log())

    assert cash_matches_payouts(paid_less) == ["market m1 redeemed for 15, settled at 20"]
    assert cash_matches_payouts(silent) == ["redemption redeem-1 has no redemption_confirmed event"]


def test_cash_moved_again_in_a_later_run_is_a_restart_not_a_double_payout() -> None:
    reconciled = [
        *redeemed_log(run="r1"),
        Event(10, at(40), "redemption_received", "x", {"market": "m1", "amount": "20"}, "r1"),
        Event(11, at(50), "redemption_received", "y", {"market": "m1", "amount": "20"}, "r2"),
    ]
    doubled = [*reconciled[:-1], replace(reconciled[-1], run_id="r1")]

    assert cash_matches_payouts(replace(ledger(), events=reconciled)) == []
    assert cash_matches_payouts(replace(ledger(), events=doubled)) == [
        "market m1: 40 moved for a payout of 20"
    ]


# --- maker orders: a reprice is not a duplicate; a real duplicate still is ------------------


def maker_world(
    *,
    replaces: str | None = "0x1",
    cancel_at: float | None = 11,
    first_status: str = "CANCELED",
    first_matched: Decimal = Decimal(2),
    second_size: Decimal = Decimal(3),
) -> tuple[Ledger, VenueView]:
    """One maker intent "m": 0x1 posted at 10 (5 shares, 2 matched), cancelled at
    `cancel_at`, and 0x2 for `second_size` created at 12 replacing `replaces`, resting."""
    first = replace(
        order(1, corr="m", when=10, status=first_status, matched=first_matched), post_only=True
    )
    second = replace(order(2, corr="m", when=12, status="LIVE", matched=Decimal(0)), post_only=True)
    created: dict[str, Any] = {"order_id": "0x2"}
    if replaces is not None:
        created["replaces"] = replaces
    kinds: list[tuple[float, str, str | None, dict[str, Any]]] = [
        (0, "startup", None, {"trading_state": "RUNNING"}),
        (9, "intent_received", "m", {}),
        (10, "order_created", "m", {"order_id": "0x1"}),
        (10.5, "fill", "m", {"trade_id": "t-0x1", "order_id": "0x1"}),
        (12, "order_created", "m", created),
    ]
    if cancel_at is not None:
        kinds.append((cancel_at, "order_canceled", "m", {"order_id": "0x1"}))
        kinds.sort(key=lambda k: k[0])
    if cancel_at is not None and cancel_at < 12:
        kinds.insert(-1, (11.5, "maker_repriced", "m", {"order_id": "0x1"}))
    books = Ledger(
        orders=[first, second],
        fills={("t-0x1", "0x1")},
        positions={"tok": first_matched},
        events=events(*kinds),
    )
    world = VenueView(
        orders=[
            {
                "id": "0x1",
                "status": first_status,
                "original_size": "5",
                "size_matched": str(first_matched),
            },
            {"id": "0x2", "status": "LIVE", "original_size": str(second_size), "size_matched": "0"},
        ],
        open_ids={"0x2"} | ({"0x1"} if first_status == "LIVE" else set()),
        trade_legs={("t-0x1", "0x1")},
        holdings={"tok": first_matched},
    )
    return books, world


def test_a_maker_reprice_cancel_then_replace_is_not_a_duplicate() -> None:
    books, world = maker_world()
    assert failures(check_all(books, world)) == {}


def test_an_intent_sent_twice_without_a_cancelled_predecessor_is_still_a_duplicate() -> None:
    unnamed = maker_world(replaces=None)  # no reprice named: the same intent sent again
    late_cancel = maker_world(cancel_at=13)  # the new order went out before the cancel
    never_canceled = maker_world(cancel_at=None, first_status="LIVE", first_matched=Decimal(0))
    too_big = maker_world(second_size=Decimal(4))  # asks for more than the 3 left unmatched
    wrong = maker_world(replaces="0x9")

    for books, world in (unnamed, late_cancel, never_canceled, too_big, wrong):
        found = failures(check_all(books, world)).get("no_duplicate_orders", [])
        assert found == ["intent m (BUY tok...) reached the venue 2 times"], found


def test_a_maker_reprice_decided_while_killed_is_an_order_while_stopped() -> None:
    books, world = maker_world()
    killed = [*books.events, Event(99, at(11.2), "kill", "k", {})]
    killed.sort(key=lambda e: e.ts)
    renumbered = [replace(e, seq=i) for i, e in enumerate(killed, 1)]
    found = failures(check_all(replace(books, events=renumbered), world))
    assert list(found) == ["no_orders_while_stopped"]
    assert "po-2" in found["no_orders_while_stopped"][0]


def test_a_maker_order_from_before_the_last_start_still_open_is_an_orphan() -> None:
    books, world = maker_world()
    restarted = [*books.events, Event(len(books.events) + 1, at(20), "startup", None, {})]
    found = failures(check_all(replace(books, events=restarted), world))
    assert found == {
        "no_orphan_maker_orders": [
            "maker order 0x2 from before the last start is still open at the venue"
        ]
    }


def test_shares_still_held_at_the_venue_match_only_while_their_redemption_is_in_flight() -> None:
    settled = events(
        (0, "startup", None, {}),
        (5, "market_settled", "s", {"market": "m1", "payouts": {"win": "1", "lose": "0"}}),
    )
    at_venue = VenueView(orders=[], open_ids=set(), trade_legs=set(), holdings={"win": SIZE})
    in_flight = replace(ledger(), chain=[redemption(1, "sent")], events=settled)
    redeemed = replace(ledger(), chain=[redemption(1)], events=settled)
    never_sent = replace(ledger(), events=settled)

    assert "positions_match" not in failures(check_all(in_flight, at_venue))
    for world in (redeemed, never_sent):  # confirmed, or nothing asked: the venue must agree
        assert failures(check_all(world, at_venue))["positions_match"] == [
            "token win...: ours 0, venue 5"
        ]

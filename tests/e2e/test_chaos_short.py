"""The chaos run in short (two trials), and the invariant checks it relies on.

The short run is what CI affords of `make chaos`: the simulator and the app in live mode,
faults through the admin API, a database lock, an operator /kill and /rearm over Telegram,
two SIGKILLs and three restarts; every invariant must hold after each restart. The checks
themselves are tested first on hand-made snapshots: a chaos run that passes only means
something if each check fails on the breakage it names.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from chaos import report
from chaos.invariants import (
    INVARIANTS,
    Event,
    Ledger,
    OrderRecord,
    VenueView,
    check_all,
    failures,
)
from chaos.runner import ChaosConfig, run_chaos

T0 = datetime(2026, 5, 1, 12, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def order(
    n: int, *, corr: str | None = None, when: float = 10, strategy: str = "edge"
) -> OrderRecord:
    return OrderRecord(
        client_order_id=f"po-{n}",
        venue_order_id=f"0x{n}",
        token_id="tok",
        side="BUY",
        status="MATCHED",
        created_at=at(when),
        strategy=strategy,
        correlation_id=corr or f"c{n}",
    )


def events(*kinds: tuple[float, str, str | None, dict[str, Any]]) -> list[Event]:
    return [
        Event(i + 1, at(ts), kind, corr, payload)
        for i, (ts, kind, corr, payload) in enumerate(kinds)
    ]


def venue(*orders: OrderRecord, legs: set[tuple[str, str]] | None = None) -> VenueView:
    return VenueView(
        orders=[{"id": o.venue_order_id} for o in orders],
        open_ids=set(),
        trade_legs={(f"t-{o.venue_order_id}", str(o.venue_order_id)) for o in orders}
        if legs is None
        else legs,
        holdings={"tok": Decimal(5) * len(orders)} if orders else {},
    )


def ledger(*orders: OrderRecord, log: list[Event] | None = None) -> Ledger:
    return Ledger(
        orders=list(orders),
        fills={(f"t-{o.venue_order_id}", str(o.venue_order_id)) for o in orders},
        positions={"tok": Decimal(5) * len(orders)} if orders else {},
        events=log
        if log is not None
        else events((0, "startup", None, {"trading_state": "RUNNING"})),
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
    off = Ledger([one], {("t-0x1", "0x1")}, {"tok": Decimal(4)}, ledger().events)
    assert "positions_match" in failures(check_all(off, venue(one)))


def test_invariants_catch_a_gap_in_the_event_log() -> None:
    gap = [Event(1, at(0), "startup", None, {}), Event(3, at(1), "fill", None, {})]
    found = failures(check_all(ledger(log=gap), venue()))
    assert found["event_log_continuous"] == ["seq 3 where 2 was expected"]


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
    assert list(found) == ["no_orders_while_stopped"]
    assert len(found["no_orders_while_stopped"]) == 1
    assert "po-2" in found["no_orders_while_stopped"][0]


def test_a_restart_in_the_killed_state_counts_as_stopped_even_without_the_kill_event() -> None:
    sent = order(1, corr="x", when=20)  # no intent event: the order row's time is used
    log = events(
        (0, "startup", None, {"trading_state": "RUNNING"}),
        (15, "startup", None, {"trading_state": "KILLED"}),
    )
    found = failures(check_all(ledger(sent, log=log), venue(sent)))
    assert list(found) == ["no_orders_while_stopped"]


@pytest.mark.slow
async def test_a_short_chaos_run_keeps_every_invariant(tmp_path: Path) -> None:
    config = ChaosConfig(
        trials=2,
        seed=20261122,
        phase_s=(3.0, 5.0),
        faults_per_trial=(2, 3),
        lock_chance=1.0,
        kill_chance=1.0,
    )
    result = await run_chaos(config, tmp_path)
    (tmp_path / "results.json").write_text(report.to_json(result))

    summary = report.summary(result)
    problems = {r.number: failures(r.invariants) for r in [*result.trials, result.final]}
    assert not report.failed(result), f"{problems}\n{report.table(result)}"
    assert summary["trials run"] == 2
    assert summary["SIGKILLs"] == 2
    assert summary["faults injected"] >= 4
    assert len(summary["faults by kind"]) == summary["faults injected"]  # no kind repeats
    assert summary["database locks"] == 2
    assert summary["operator kills"] == 2
    assert summary["re-arms"] >= 1  # the second trial started KILLED and was re-armed
    assert summary["orders"] > 0
    held = report.invariant_counts(result)
    assert all(held[name][0] >= 2 for name in INVARIANTS)  # checked after each restart
    written = json.loads((tmp_path / "results.json").read_text())
    assert written["passed"] is True
    assert len(written["trials"]) == 2

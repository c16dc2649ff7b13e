"""The chaos run's counting: faults that hit (not rules added) and the coverage it claims."""

from __future__ import annotations

from pathlib import Path

from chaos import report
from chaos.faults import CATALOG, HitCount, hit_counts
from chaos.runner import ChaosConfig, ChaosResult, TrialRecord


def test_a_rule_counts_as_hit_only_when_the_simulator_recorded_a_hit_for_it() -> None:
    injected = {1: "rate_limit", 2: "rate_limit", 3: "latency", 4: "error_after_accept"}
    hits = [
        {"rule_id": 1, "kind": "rate_limit", "method": "POST", "path": "/order", "order_ids": []},
        {"rule_id": 1, "kind": "rate_limit", "method": "POST", "path": "/orders", "order_ids": []},
        {"rule_id": 3, "kind": "latency", "method": "GET", "path": "/data/orders", "order_ids": []},
        {"rule_id": 4, "kind": "error_after_accept", "method": "POST", "path": "/order",
         "order_ids": ["0xabc"]},
        {"rule_id": 9, "kind": "hang", "method": "POST", "path": "/order", "order_ids": []},
    ]  # fmt: skip

    counts = hit_counts(injected, hits)

    assert counts == {
        "error_after_accept": HitCount(injected=1, hit=1, hits=1, order_hits=1),
        "latency": HitCount(injected=1, hit=1, hits=1, order_hits=0),
        "rate_limit": HitCount(injected=2, hit=1, hits=2, order_hits=2),  # rule 2 never hit
    }  # rule 9 is not this run's


def result(trials: list[TrialRecord], hits: dict[str, HitCount], **totals: int) -> ChaosResult:
    return ChaosResult(ChaosConfig(), trials, TrialRecord(0), dict(totals), Path("."), hits)


def test_coverage_names_what_the_run_did_not_exercise() -> None:
    hit_all = {kind: HitCount(1, 1, 1, 0) for kind in CATALOG}
    done = TrialRecord(1, flatten_kills=1, db_lock_hits=3)
    assert (
        report.coverage_gaps(result([done], hit_all, unknown_outcomes=2, markets_settled=1)) == []
    )

    missed = dict(hit_all, drop_ws=HitCount(injected=2, hit=0))
    bare = TrialRecord(1)
    gaps = report.coverage_gaps(result([bare], missed, unknown_outcomes=0))

    assert gaps == [
        "fault drop_ws never hit",
        "no unknown outcome",
        "no operator kill with flatten",
        "no database lock that the app ran into past its busy timeout",
        "no held market resolved and settled (nothing to redeem)",
    ]
    assert "Coverage: fault drop_ws never hit" in report.table(result([bare], missed))

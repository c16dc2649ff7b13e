"""The chaos run in short, what CI affords of `make chaos`: the simulator and the app in live
mode, faults through the admin API, a database lock held past the busy timeout in each
trial, an operator kill with flatten over Telegram, maker orders (post-only, repriced every
second) in both trials, two SIGKILLs and three starts; every
invariant must hold after each restart, and the run must have exercised what it set up:
the faults hit orders, the app outlived the unknown outcomes they left and the lock, the
kill flattened.

The invariant checks themselves are tested on deliberately broken snapshots in
tests/unit/test_chaos_invariants.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chaos import report
from chaos.invariants import INVARIANTS, failures
from chaos.runner import BUSY_TIMEOUT_S, ChaosConfig, run_chaos


@pytest.mark.slow
async def test_a_short_chaos_run_keeps_every_invariant_and_hits_what_it_injects(
    tmp_path: Path,
) -> None:
    # Seed 20261154 deals trial 1 hang_after_accept and error_after_accept (no operator kill:
    # they hit orders and the app outlives both unknown outcomes) and trial 2 rate_limit,
    # post_only_mode and submit_timeout with a kill that flattens; both trials lock the
    # database past its busy timeout.
    config = ChaosConfig(
        trials=2,
        seed=20261154,
        phase_s=(2.5, 3.5),
        faults_per_trial=(2, 3),
        lock_chance=1.0,
        lock_s=(BUSY_TIMEOUT_S + 0.8, BUSY_TIMEOUT_S + 1.2),
        kill_chance=0.5,
        flatten_share=1.0,
        outlive_chance=1.0,
        hit_wait_s=12.0,
        maker_every=1,  # both trials' entries are maker orders: post-only, repriced each second
    )
    result = await run_chaos(config, tmp_path)
    (tmp_path / "results.json").write_text(report.to_json(result))
    print(report.table(result))  # shown with -s: the figures of this run

    summary = report.summary(result)
    table = report.table(result)
    first, second = result.trials
    problems = {r.number: failures(r.invariants) for r in [*result.trials, result.final]}
    assert not report.failed(result), f"{problems}\n{table}"
    assert summary["SIGKILLs"] == 2
    assert sorted(first.faults) == ["error_after_accept", "hang_after_accept"]
    assert all(result.hits[kind].order_hits >= 1 for kind in first.faults), table
    assert summary["faults that hit"] >= 2
    assert result.totals["unknown_outcomes"] >= 2, table
    assert result.totals["unknown_outcomes_resolved"] == result.totals["unknown_outcomes"]
    assert first.outlived >= 1, table  # lived past the submit timeout, before the SIGKILL
    assert sum(t.db_locks for t in result.trials) == 2
    assert sum(t.db_lock_hits for t in result.trials) > 0, table  # past the busy timeout
    assert sum(t.db_locks_survived for t in result.trials) == 2
    assert (first.flatten_kills, second.flatten_kills) == (0, 1), table
    assert result.totals["flatten_kills_logged"] >= 1
    assert summary["orders"] > 0
    assert all(t.maker for t in result.trials)
    assert result.totals["maker_orders"] > 0, table  # post-only orders rested at the venue
    assert result.totals["maker_reprices"] > 0, table  # and were repriced among the faults
    held = report.invariant_counts(result)
    assert all(held[name][0] >= 2 for name in INVARIANTS)  # checked after each restart
    written = json.loads((tmp_path / "results.json").read_text())
    assert written["passed"] is True
    assert len(written["trials"]) == 2

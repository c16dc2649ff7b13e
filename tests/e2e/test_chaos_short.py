"""The chaos run in short, what CI affords of `make chaos`: the simulator and the app in live
mode, faults through the admin API, a database lock held past the busy timeout, operator
kills over Telegram (one with flatten) and re-arms, SIGKILLs and restarts; every invariant
must hold after each restart, and the run must have exercised what it set up: each fault it
injected hit something, the app met the lock and outlived it, the kill flattened.

The invariant checks themselves are tested on deliberately broken snapshots in
tests/unit/test_chaos_invariants.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chaos import report
from chaos.invariants import INVARIANTS, failures
from chaos.runner import ChaosConfig, run_chaos


@pytest.mark.slow
async def test_a_short_chaos_run_keeps_every_invariant_and_hits_what_it_injects(
    tmp_path: Path,
) -> None:
    config = ChaosConfig(
        trials=2,
        seed=20261122,
        phase_s=(3.0, 5.0),
        faults_per_trial=(2, 3),
        lock_chance=1.0,
        kill_chance=1.0,
        flatten_share=1.0,
        outlive_chance=1.0,
        hit_wait_s=15.0,
    )
    result = await run_chaos(config, tmp_path)
    (tmp_path / "results.json").write_text(report.to_json(result))

    summary = report.summary(result)
    table = report.table(result)
    problems = {r.number: failures(r.invariants) for r in [*result.trials, result.final]}
    assert not report.failed(result), f"{problems}\n{table}"
    assert summary["trials run"] == 2
    assert summary["SIGKILLs"] == 2
    injected = [kind for t in result.trials for kind in t.faults]
    assert len(injected) >= 4
    assert len(set(injected)) == len(injected)  # the deck deals no kind twice in a row
    assert report.coverage_gaps(result, kinds=tuple(injected))[:1] in (
        [],
        ["no unknown outcome"],  # only when the deck dealt no unknown-outcome kind
    ), table
    assert all(result.hits[k].hit >= 1 for k in injected), table  # each one hit
    assert summary["faults that hit"] == len(injected)
    assert sum(t.db_locks for t in result.trials) == 2
    assert sum(t.db_lock_hits for t in result.trials) > 0, table  # past the busy timeout
    assert sum(t.db_locks_survived for t in result.trials) == 2
    assert sum(t.operator_kills for t in result.trials) == 2
    assert sum(t.flatten_kills for t in result.trials) == 2
    assert result.totals["flatten_kills_logged"] >= 2
    assert summary["re-arms"] >= 1  # the second trial started KILLED and was re-armed
    assert summary["orders"] > 0
    held = report.invariant_counts(result)
    assert all(held[name][0] >= 2 for name in INVARIANTS)  # checked after each restart
    written = json.loads((tmp_path / "results.json").read_text())
    assert written["passed"] is True
    assert len(written["trials"]) == 2

"""The chaos run's tables and its results file.

`coverage_gaps` says what a run claims to have exercised but did not: a fault kind that never
hit, no unknown outcome, no kill with flatten, no database lock the app ran into, no maker order
(or none repriced) in a run whose trials made maker orders. `make chaos`
fails on a gap as it does on a failed invariant.
"""

from __future__ import annotations

import json
import platform
from collections import Counter
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from chaos.faults import CATALOG
from chaos.invariants import INVARIANTS
from chaos.runner import ChaosResult, TrialRecord


def _checked(result: ChaosResult) -> list[TrialRecord]:
    """Every record that carries invariant verdicts: the trials and the final stop."""
    return [*result.trials, result.final]


def invariant_counts(result: ChaosResult) -> dict[str, tuple[int, int]]:
    """Per invariant: (checks held, checks failed)."""
    counts = {}
    for name in INVARIANTS:
        verdicts = [r.invariants[name] for r in _checked(result) if name in r.invariants]
        failed = sum(1 for problems in verdicts if problems)
        counts[name] = (len(verdicts) - failed, failed)
    return counts


def failed(result: ChaosResult) -> bool:
    return any(failed for _, failed in invariant_counts(result).values())


def coverage_gaps(result: ChaosResult, kinds: tuple[str, ...] = tuple(CATALOG)) -> list[str]:
    """What the run did not exercise, in words (empty: everything it claims)."""
    gaps = [f"fault {k} never hit" for k in kinds if not _hit(result, k)]
    if not result.totals.get("unknown_outcomes"):
        gaps.append("no unknown outcome")
    if not sum(t.flatten_kills for t in result.trials):
        gaps.append("no operator kill with flatten")
    if not sum(t.db_lock_hits for t in result.trials):
        gaps.append("no database lock that the app ran into past its busy timeout")
    if result.config.resolutions and not result.totals.get("markets_settled"):
        gaps.append("no held market resolved and settled (nothing to redeem)")
    if any(t.maker for t in result.trials):
        if not result.totals.get("maker_orders"):
            gaps.append("no maker order reached the venue")
        elif not result.totals.get("maker_reprices"):
            gaps.append("no maker order repriced")
    return gaps


def _hit(result: ChaosResult, kind: str) -> int:
    count = result.hits.get(kind)
    return count.hit if count else 0


def summary(result: ChaosResult) -> dict[str, Any]:
    trials = result.trials
    kinds = Counter(kind for t in trials for kind in t.faults)
    counts = invariant_counts(result)
    return {
        "trials run": len(trials),
        "faults injected": sum(kinds.values()),
        "faults that hit": sum(c.hit for c in result.hits.values()),
        "requests hit": sum(c.hits for c in result.hits.values()),
        "order posts hit": sum(c.order_hits for c in result.hits.values()),
        "SIGKILLs": sum(t.sigkills for t in trials),
        "kill points": dict(Counter(t.kill_point for t in trials)),
        "price moves": sum(t.price_moves for t in trials),
        "database locks (held past the busy timeout)": sum(t.db_locks for t in trials),
        "app writes that met a lock / locks survived": (
            f"{sum(t.db_lock_hits for t in trials)} / {sum(t.db_locks_survived for t in trials)}"
        ),
        "operator kills / with flatten": (
            f"{sum(t.operator_kills for t in trials)} / {sum(t.flatten_kills for t in trials)}"
        ),
        "unknown outcomes lived through / resolved before the SIGKILL": (
            f"{sum(t.outlived for t in trials)} / {sum(t.resolved_alive for t in trials)}"
        ),
        "re-arms": sum(t.rearms for t in trials),
        **{k.replace("_", " "): v for k, v in result.totals.items()},
        "invariant checks held": sum(held for held, _ in counts.values()),
        "invariant checks failed": sum(bad for _, bad in counts.values()),
        "mean start-up s": round(
            sum(t.startup_s for t in [*trials, result.final]) / (len(trials) + 1), 2
        ),
    }


def table(result: ChaosResult) -> str:
    lines = ["| chaos | value |", "|---|---|"]
    for key, value in summary(result).items():
        if isinstance(value, dict):
            shown = ", ".join(f"{k} {v}" for k, v in value.items()) or "-"
        else:
            shown = str(value)
        lines.append(f"| {key} | {shown} |")
    lines += [
        "",
        "| fault | injected | hit | requests hit | of them order posts |",
        "|---|---|---|---|---|",
    ]
    for kind, count in sorted(result.hits.items()):
        lines.append(
            f"| {kind} | {count.injected} | {count.hit} | {count.hits} | {count.order_hits} |"
        )
    lines += ["", "| invariant | held | failed |", "|---|---|---|"]
    for name, (held, bad) in invariant_counts(result).items():
        lines.append(f"| {name} | {held} | {bad} |")
    problems = [
        f"trial {r.number or 'final'}: {name}: {'; '.join(found[:3])}"
        for r in _checked(result)
        for name, found in r.invariants.items()
        if found
    ]
    if problems:
        lines += ["", "Invariant failures:", *problems]
    notes = [f"trial {r.number or 'final'}: {note}" for r in _checked(result) for note in r.notes]
    if notes:
        lines += ["", "Notes:", *notes]
    gaps = coverage_gaps(result)
    lines += ["", "Coverage: " + ("every claim exercised" if not gaps else "; ".join(gaps))]
    return "\n".join(lines)


def to_json(result: ChaosResult) -> str:
    config = asdict(result.config)
    config["workdir"] = str(result.workdir)
    payload = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {platform.python_implementation()} "
        f"{platform.python_version()}",
        "config": config,
        "passed": not failed(result),
        "coverage_gaps": coverage_gaps(result),
        "summary": summary(result),
        "fault_hits": {kind: asdict(count) for kind, count in sorted(result.hits.items())},
        "invariants": {
            name: {"held": held, "failed": bad}
            for name, (held, bad) in invariant_counts(result).items()
        },
        "trials": [asdict(t) for t in result.trials],
        "final": asdict(result.final),
    }
    return json.dumps(payload, indent=2, default=str) + "\n"


__all__ = ["coverage_gaps", "failed", "invariant_counts", "summary", "table", "to_json"]

"""`make bench`: run every benchmark module, print one table, write bench/results.json.

Each module in BENCHMARKS exposes `run() -> dict[str, float]`. A module that is missing or
fails is reported in the table (never silently skipped). Then the targets (issue 21): each
figure beside its target, and whether it meets it or misses it.
"""

from __future__ import annotations

import importlib
import json
import platform
import sys
import time
import traceback
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

BENCHMARKS = [
    "bench.bus",
    "bench.eventlog",
    "bench.sim_roundtrip",
    "bench.paper_fills",
    "bench.hot_path",
    "bench.cycle",
    "bench.forecast_cost",
    "bench.telegram_status",
    "bench.report",
    "bench.footprint",
    "bench.backtest",
    "bench.recorder",
]
RESULTS = Path(__file__).with_name("results.json")
CYCLE_MARKETS = 200  # bench.cycle's universe


@dataclass(frozen=True)
class Target:
    what: str
    bench: str
    figure: str  # a key of that benchmark's figures, or a derived one (see `_derived`)
    limit: float
    unit: str


TARGETS = (
    Target("ready: /health answers after start", "footprint", "startup_to_health_s", 2.0, "s"),
    Target("idle RSS", "footprint", "idle_rss_mb", 120.0, "MB"),
    Target(
        "loop stall while the 365-day report renders (the app's path)",
        "report",
        "process_year_loop_stall_max_ms",
        5.0,
        "ms",
    ),
    Target("hot path with SQLite order rows, p99", "hot_path", "sqlite_p99_us", 2000.0, "us"),
    Target(
        "/status round trip over the echo bot's (p50)", "telegram_status", "ratio_p50", 1.2, "x"
    ),
    *(
        Target(
            f"LLM cost per analysed market, {run}",
            "forecast_cost",
            f"{run}: cost_per_analysed_market_usd",
            0.002,
            "$",
        )
        for run in (
            "screen on + batch",
            "screen on + batch, warm cycle 15 min later",
            "screen on + batch, warm cycle 30 min later, half the markets with a new news item",
            "screen on",
            "screen off + batch",
            "screen off",
        )
    ),
    Target(
        "recorder cost per book update on the hot path (kept), p50",
        "recorder",
        "book_kept_p50_us",
        5.0,
        "us",
    ),
)


def main(argv: list[str]) -> int:
    wanted = [name if name.startswith("bench.") else f"bench.{name}" for name in argv] or BENCHMARKS
    results: dict[str, dict[str, float | str]] = {}
    failures = 0
    for name in wanted:
        started = time.perf_counter()
        try:
            module = importlib.import_module(name)
            figures: dict[str, float | str] = dict(module.run())
        except Exception as error:
            traceback.print_exc()
            figures = {"error": f"{type(error).__name__}: {error}"}
            failures += 1
        figures["bench_seconds"] = round(time.perf_counter() - started, 2)
        results[name.removeprefix("bench.")] = figures
    print(table(results))
    print()
    print(targets(results))
    payload = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {platform.python_implementation()} "
        f"{platform.python_version()}",
        "results": results,
    }
    if not argv:
        RESULTS.write_text(json.dumps(payload, indent=2) + "\n")
        print(f"\nwritten to {RESULTS}")
    return 1 if failures else 0


def _derived(bench: str, figures: dict[str, float | str], name: str) -> float | str | None:
    if name in figures:
        return figures[name]
    cost = figures.get("first_cycle_cost_usd")
    if bench == "cycle" and name == "cost_per_market_usd" and isinstance(cost, float):
        return cost / CYCLE_MARKETS
    return None


def targets(results: dict[str, dict[str, float | str]]) -> str:
    lines = ["| target | figure | value | limit | verdict |", "|---|---|---|---|---|"]
    missed = []
    for target in TARGETS:
        figures = results.get(target.bench)
        value = None if figures is None else _derived(target.bench, figures, target.figure)
        if not isinstance(value, float | int):
            verdict, shown = "not measured", "-"
        else:
            verdict = "meets" if value <= target.limit else "MISSES"
            shown = f"{value:,.2f} {target.unit}" if value >= 1 else f"{value:.4g} {target.unit}"
            if verdict == "MISSES":
                missed.append(target.what)
        lines.append(
            f"| {target.what} | {target.bench}.{target.figure} | {shown} | "
            f"<= {target.limit:g} {target.unit} | {verdict} |"
        )
    lines.append("")
    lines.append(f"misses: {'; '.join(missed)}" if missed else "misses: none")
    return "\n".join(lines)


def table(results: dict[str, dict[str, float | str]]) -> str:
    lines = ["| benchmark | figure | value |", "|---|---|---|"]
    for bench, figures in results.items():
        for key, value in figures.items():
            shown = (
                f"{value:,.3f}"
                if isinstance(value, float)
                else f"{value:,}"
                if isinstance(value, int)
                else str(value)
            )
            lines.append(f"| {bench} | {key} | {shown} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""`make bench`: run every benchmark module, print one table, write bench/results.json.

Each module in BENCHMARKS exposes `run() -> dict[str, float]`. A module that is missing or
fails is reported in the table (never silently skipped).
"""

from __future__ import annotations

import importlib
import json
import platform
import sys
import time
import traceback
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
]
RESULTS = Path(__file__).with_name("results.json")


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

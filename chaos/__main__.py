"""`python -m chaos --trials N --seed S` (`make chaos`): the chaos run; see chaos/runner.py.

Prints tables (trials, faults injected and hit per kind, kills, invariants held and failed),
writes chaos/results.json (or --results PATH) and exits 1 if any invariant failed or the run
did not exercise what it claims (a fault kind that never hit, no unknown outcome, no kill
with flatten, no lock the app ran into). The processes' logs and the database stay in the
work directory (a temporary one unless --workdir), which is removed after a passing run
unless --keep.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
from pathlib import Path

from chaos.report import coverage_gaps, failed, table, to_json
from chaos.runner import ChaosConfig, run_chaos

RESULTS = Path(__file__).with_name("results.json")


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m chaos", description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=20, help="trials (one SIGKILL each)")
    parser.add_argument("--seed", type=int, default=1, help="random seed: same seed, same plan")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the JSON goes")
    parser.add_argument("--workdir", type=Path, default=None, help="logs and database here")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument(
        "--phase", type=float, nargs=2, default=(4.0, 9.0), metavar=("MIN", "MAX"),
        help="seconds of chaos before each SIGKILL",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.trials < 1:
        parser.error("--trials must be at least 1")
    return args


def main(argv: list[str]) -> int:
    args = parse(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="polyops-chaos-"))
    workdir.mkdir(parents=True, exist_ok=True)
    config = ChaosConfig(trials=args.trials, seed=args.seed, phase_s=(args.phase[0], args.phase[1]))
    print(f"chaos: {args.trials} trials, seed {args.seed}, work directory {workdir}", flush=True)
    result = asyncio.run(run_chaos(config, workdir))
    print(table(result))
    args.results.write_text(to_json(result))
    print(f"\nwritten to {args.results}")
    if failed(result):
        print(f"INVARIANTS FAILED: logs and database kept in {workdir}")
        return 1
    if coverage_gaps(result):
        print(f"COVERAGE INCOMPLETE (more trials?): logs and database kept in {workdir}")
        return 1
    if args.workdir is None and not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""A `/backtest` child that hangs (what `BacktestJobs(work=hang)` runs), and a tiny app that
starts one and waits to be SIGKILLed:

    python -m tests.support.backtest_child OUT

prints `CHILD <pid>` once the hanging child is up, then sleeps.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from trader.backtest.job import BacktestJobs, BacktestRequest
from trader.clock import FakeClock
from trader.config import load_settings


def hang(request: BacktestRequest) -> None:
    """Say it runs, with its pid, then never finish (a kernel stuck in a loop)."""
    progress = {"state": "running", "done": 1, "total": 97, "pid": os.getpid()}
    temporary = request.progress_path.with_suffix(".tmp")
    temporary.write_text(json.dumps(progress))
    temporary.replace(request.progress_path)
    while True:
        time.sleep(3600)


def hang_deaf(request: BacktestRequest) -> None:
    """Hang, and ignore SIGTERM too."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    hang(request)


def main(out: Path) -> None:
    jobs = BacktestJobs(load_settings(None), FakeClock(datetime(2026, 1, 1, tzinfo=UTC)), out, hang)
    started = jobs.start("llm_edge", 1)
    path = out / started.job_id / "progress.json"
    while not path.exists():
        time.sleep(0.02)
    print(f"CHILD {json.loads(path.read_text())['pid']}", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main(Path(sys.argv[1]))

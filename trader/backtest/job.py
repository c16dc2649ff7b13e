"""`/backtest <strategy> <days>` from the chat: one backtest at a time, in a child process.

`BacktestJobs` (the Control API's `BacktestRunner`) starts the run in a `spawn` child (a clean
interpreter, as the report worker's: the app's event loop never runs the kernel, never waits
for it, and never imports pyarrow or matplotlib) at a lower CPU priority, and answers `status`
from a small progress file the child rewrites as it goes (cycles done of all, then the
headline figures and the PNG, or the reason it failed). A child that dies without saying so is
reported failed with its exit code.

A run gets `BACKTEST_TIMEOUT_S` of wall-clock time (`time.monotonic`, checked whenever
`status` or `start` is asked): past it the child is sent SIGTERM and reported failed, and a
later check sends SIGKILL once it has had `STOP_GRACE_S` to stop, so a hung run never blocks
the next `/backtest`. `status` runs on the event loop and never waits for a child; `start`
may wait (up to the grace) for a stopped child to be gone, so the Control API calls it on a
thread, one call at a time (`_starting`), and `close` stops every child with one shared
grace.
The child never outlives the app: on Linux it asks the kernel for SIGKILL when its parent dies
(`prctl(PR_SET_PDEATHSIG)`), and everywhere its progress callback exits when its parent pid
changed (the app was SIGKILLed and the child re-parented). `close` terminates, then kills.

The child's history: the recording (`RECORDER_DIR`, `trader.backtest.recorded`) merged into the
venue history cache (`BACKTEST_HISTORY_CACHE`) when either exists; with neither it fails saying
how to get one. Forecasts: `replay` of the recorded forecasts when the recording holds any,
else `heuristic`. The window ends at the parent's now and starts `days` before; settings
(cycle interval, risk limits, sizing, bankroll) are the app's, as `trader backtest` reads them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from trader.children import die_with_parent
from trader.clock import Clock
from trader.config import Settings
from trader.control.types import BacktestStatus, ControlError

CHILD_NICENESS = 10
PROGRESS_EVERY_S = 0.25  # the child rewrites its progress file at most this often
RECORDED_BEFORE = timedelta(days=1)  # books and news read from this long before the window
STOP_GRACE_S = 5.0  # after SIGTERM, this long before SIGKILL
PARENT_GONE_EXIT = 70  # the child's exit code when it finds its parent gone


@dataclass(frozen=True, slots=True)
class BacktestRequest:
    """What the child needs: everything picklable."""

    job_id: str
    settings: Settings
    strategy: str
    days: int
    start: datetime
    end: datetime
    out: Path
    parent_pid: int

    @property
    def progress_path(self) -> Path:
        return self.out / "progress.json"


Work = Callable[[BacktestRequest], None]


class BacktestJobs:
    def __init__(
        self,
        settings: Settings,
        clock: Clock,
        out: Path,
        work: Work | None = None,
        monotonic: Callable[[], float] = time.monotonic,  # the deadline's clock (tests move it)
    ) -> None:
        self._settings = settings
        self._monotonic = monotonic
        self._clock = clock
        self._out = out
        self._work = work  # what the child runs (None: the backtest; tests give a hang)
        self._jobs: dict[str, tuple[BacktestRequest, BaseProcess]] = {}
        self._started: dict[str, float] = {}  # job id: time.monotonic() at start
        self._kill_at: dict[str, float] = {}  # job id: when a SIGTERMed child gets SIGKILL
        # job id: why it was stopped (kept here, not written to the progress file, which the
        # dying child may still be rewriting through the same temporary file)
        self._timed_out: dict[str, str] = {}
        self._starting = threading.Lock()  # two /backtest at once: one child, one refusal
        self._stopping = threading.Lock()  # `status` (loop) and `start` (thread) both stop runs

    def start(self, strategy: str, days: int) -> BacktestStatus:
        """Blocking: waits for a child stopped at its deadline to end (up to `STOP_GRACE_S`
        after its SIGTERM, then as long again after a SIGKILL)."""
        with self._starting:
            return self._start(strategy, days)

    def _start(self, strategy: str, days: int) -> BacktestStatus:
        for request, process in list(self._jobs.values()):
            seen = self.status(request.job_id)  # stops a run past its deadline
            kill_at = self._kill_at.get(request.job_id)
            if kill_at is not None and process.is_alive():
                _reap(process, kill_at - self._monotonic())  # stopped: gone within the grace
            if process.is_alive():
                raise ControlError(
                    f"a backtest is running already ({seen.strategy}, {seen.cycles_done} of"
                    f" {seen.cycles_total} cycles): wait for it to finish"
                )
        end = self._clock.now()
        job_id = f"bt-{secrets.token_hex(4)}"
        request = BacktestRequest(
            job_id,
            self._settings,
            strategy,
            days,
            end - timedelta(days=days),
            end,
            self._out / job_id,
            os.getpid(),
        )
        request.out.mkdir(parents=True, exist_ok=True)
        process = multiprocessing.get_context("spawn").Process(
            target=run_request, args=(request, self._work), name=f"backtest-{job_id}", daemon=True
        )
        process.start()
        self._jobs[job_id] = (request, process)
        self._started[job_id] = self._monotonic()
        return self.status(job_id)

    def status(self, job_id: str) -> BacktestStatus:
        found = self._jobs.get(job_id)
        if found is None:
            raise ControlError(f"no backtest {job_id[:20]!r} in this process")
        request, process = found
        self._enforce_deadline(request, process)
        progress = _read(request.progress_path)
        state = progress.get("state", "running")
        lines = tuple(progress.get("lines", ()))
        reason = self._timed_out.get(job_id)
        if state == "running" and reason is not None:
            state, lines = "failed", (reason,)
        elif state == "running" and not process.is_alive():
            code = process.exitcode
            state, lines = "failed", (f"the backtest process ended with exit code {code}",)
        image = progress.get("image")
        return BacktestStatus(
            job_id=job_id,
            strategy=request.strategy,
            days=request.days,
            state=state,
            cycles_done=int(progress.get("done", 0)),
            cycles_total=int(progress.get("total", 0)),
            lines=lines,
            image_path=Path(image) if image else None,
        )

    def _enforce_deadline(self, request: BacktestRequest, process: BaseProcess) -> None:
        """Never waits (but for the other thread's check): SIGTERM at the deadline, SIGKILL at a
        check after the grace."""
        with self._stopping:
            self._stop_if_late(request, process)

    def _stop_if_late(self, request: BacktestRequest, process: BaseProcess) -> None:
        if not process.is_alive():
            return
        now = self._monotonic()
        kill_at = self._kill_at.get(request.job_id)
        if kill_at is not None:
            if now >= kill_at:
                process.kill()
            return
        limit = self._settings.backtest_timeout_s
        if now - self._started[request.job_id] <= limit:
            return
        process.terminate()
        self._kill_at[request.job_id] = now + STOP_GRACE_S
        reason = f"timed out: still running after {limit:g} s (BACKTEST_TIMEOUT_S); stopped"
        self._timed_out[request.job_id] = reason  # unless it finished just in time (status)

    def close(self) -> None:
        """Stop every run still going (the app is stopping). Blocking, up to twice the grace
        in all however many there are, after a start in progress: call it off the event loop."""
        with self._starting:  # a start in progress adds its child first
            stop(*(process for _, process in list(self._jobs.values())))


def stop(*processes: BaseProcess) -> None:
    """SIGTERM each, then SIGKILL those still there `STOP_GRACE_S` later."""
    alive = [process for process in processes if process.is_alive()]
    for process in alive:
        process.terminate()
    kill_at = time.monotonic() + STOP_GRACE_S
    for process in alive:
        _reap(process, kill_at - time.monotonic())


def _reap(process: BaseProcess, grace: float) -> None:
    """Wait up to `grace` seconds for a SIGTERMed child to end, then SIGKILL it."""
    process.join(timeout=max(0.0, grace))
    if process.is_alive():
        process.kill()
        process.join(timeout=STOP_GRACE_S)


def _read(path: Path) -> dict[str, Any]:
    try:
        loaded: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}  # not written yet (or being replaced): still starting
    return loaded


def _write(path: Path, progress: dict[str, Any]) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(progress))
    temporary.replace(path)


# --- the child -----------------------------------------------------------------------------


def run_request(request: BacktestRequest, work: Work | None = None) -> None:
    """The child's entry point."""
    die_with_parent()
    exit_if_orphaned(request)  # the parent died before the kernel was told
    with contextlib.suppress(OSError):
        os.nice(CHILD_NICENESS)
    if work is not None:
        work(request)
        return
    asyncio.run(_run(request))


def parent_alive(request: BacktestRequest) -> bool:
    """False once the app that started this child is gone (the child was re-parented)."""
    return os.getppid() == request.parent_pid


def exit_if_orphaned(request: BacktestRequest) -> None:
    if not parent_alive(request):
        os._exit(PARENT_GONE_EXIT)  # nobody reads the result: stop at once


async def _run(request: BacktestRequest) -> None:
    from trader.backtest.kernel import cycle_count

    path = request.progress_path
    try:
        config, history, source = _prepare(request)
        total = cycle_count(config)
        _write(path, {"state": "running", "done": 0, "total": total})
        last = [0.0]

        def progress(done: int, all_cycles: int) -> None:
            exit_if_orphaned(request)
            now = time.monotonic()
            if now - last[0] >= PROGRESS_EVERY_S:
                last[0] = now
                _write(path, {"state": "running", "done": done, "total": all_cycles})

        from trader.backtest.kernel import run_backtest

        run = await run_backtest(history, config, progress)
        lines, image = _results(request, run, source)
        done = {"state": "done", "done": total, "total": total, "lines": lines, "image": image}
        _write(path, done)
    except Exception as error:  # the chat says why; the parent stays up
        _write(path, {"state": "failed", "lines": [f"{type(error).__name__}: {error}"]})


def _prepare(request: BacktestRequest) -> tuple[Any, Any, str]:
    from trader.backtest.command import backtest_config
    from trader.backtest.feed import FillModel
    from trader.backtest.history import load_history
    from trader.backtest.kernel import BacktestError
    from trader.backtest.recorded import history_with_recording, load_recording

    settings = request.settings
    cache, root = settings.backtest_history_cache, settings.recorder_dir
    base = load_history(cache) if cache.is_file() else None
    recording = None
    if root.is_dir():
        recording = load_recording(root, request.start - RECORDED_BEFORE, request.end)
    if base is None and (recording is None or not any(recording.counts().values())):
        raise BacktestError(
            f"no history to replay: nothing recorded in {root} (RECORDER_ENABLED) and no venue"
            f" history at {cache} (trader backtest --fetch)"
        )
    history = history_with_recording(recording, base) if recording is not None else base
    replay = recording is not None and bool(recording.of("forecasts"))
    config = backtest_config(
        settings,
        start=request.start,
        end=request.end,
        strategy=request.strategy,
        forecasts="replay" if replay else "heuristic",
        bankroll=None,
        forecast_database=None,
        fill_model=FillModel(),
    )
    if replay:
        config = replace(config, recording=root)
    names = [name for name, found in (("recording", recording), ("venue history", base)) if found]
    return config, history, " + ".join(names)


def _results(request: BacktestRequest, run: Any, source: str) -> tuple[list[str], str]:
    from trader.backtest.chart import render_png
    from trader.backtest.command import headline
    from trader.backtest.results import summarise

    summary = summarise(run)
    (request.out / "backtest.json").write_text(json.dumps(summary, indent=1, sort_keys=True))
    image = render_png(summary, request.out / "backtest.png", source=source)
    return headline(summary).splitlines(), str(image)

"""/backtest over the fake Bot API: the run is a child process, the progress message is edited
as it goes, the PNG arrives, and /status is answered while the backtest runs."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.backtest_child import hang, hang_deaf
from tests.support.backtest_history import START
from tests.support.backtest_jobs import two_day_jobs
from tests.support.chat_stack import ChatStack, ask, start_chat_stack
from tests.support.telegram_server import OPERATOR_ID, VIEWER_ID, FakeBotAPI
from tests.support.waiting import eventually
from trader.backtest.job import BacktestJobs, BacktestRequest, parent_alive
from trader.clock import FakeClock
from trader.config import load_settings

pytestmark = pytest.mark.slow
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
async def stack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[FakeBotAPI, ChatStack]]:
    monkeypatch.setattr("bot.commands.backtest.POLL_S", 0.2)
    jobs, clock = two_day_jobs(tmp_path)
    async with FakeBotAPI() as api:
        chat = await start_chat_stack(api, clock=clock, backtests=jobs)
        try:
            yield api, chat
        finally:
            jobs.close()
            await chat.stop()


async def test_backtest_edits_its_progress_sends_the_png_and_status_still_answers(
    stack: tuple[FakeBotAPI, ChatStack],
) -> None:
    api, _ = stack

    first = await ask(api, OPERATOR_ID, "/backtest llm_edge 2")
    status = await ask(api, OPERATOR_ID, "/status")
    photos_when_status_answered = [m for m in api.to(OPERATOR_ID) if m.photo]

    assert first.plain.startswith("Backtest llm_edge over 2 days: starting")
    assert "Paper" in status.plain or "paper" in status.plain  # the /status screen
    assert photos_when_status_answered == []  # answered while the backtest ran
    await eventually(lambda: any(m.photo for m in api.to(OPERATOR_ID)), timeout=120)
    photo = next(m for m in api.to(OPERATOR_ID) if m.photo)
    assert photo.photo is not None
    assert photo.photo.startswith(PNG)
    assert first.edits >= 2  # at least one progress figure, then the result
    assert first.plain.startswith("Backtest llm_edge over 2 days: done")
    assert "PnL" in first.plain
    assert "Brier" in first.plain


async def test_backtest_is_refused_to_a_viewer_and_for_an_unknown_strategy(
    stack: tuple[FakeBotAPI, ChatStack],
) -> None:
    api, _ = stack

    viewer = await ask(api, VIEWER_ID, "/backtest llm_edge 2")
    unknown = await ask(api, OPERATOR_ID, "/backtest moonshot 2")
    too_long = await ask(api, OPERATOR_ID, "/backtest llm_edge 400")

    assert "needs the operator role" in viewer.plain
    assert "unknown strategy 'moonshot'" in unknown.plain
    assert "between 1 and 90" in too_long.plain


def gone(pid: int) -> bool:
    """The process is no more (or a zombie waiting to be reaped: it runs no code)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


def child_pid(jobs_dir: Path) -> int:
    (progress,) = jobs_dir.glob("*/progress.json")
    return int(json.loads(progress.read_text())["pid"])


@pytest.fixture
async def hung_stack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[FakeBotAPI, BacktestJobs]]:
    monkeypatch.setattr("bot.commands.backtest.POLL_S", 0.1)
    settings = load_settings(None, backtest_timeout_s=8.0)  # a loaded machine spawns slowly
    jobs = BacktestJobs(settings, FakeClock(START), tmp_path / "backtests", hang)
    async with FakeBotAPI() as api:
        chat = await start_chat_stack(api, clock=FakeClock(START), backtests=jobs)
        try:
            yield api, jobs
        finally:
            jobs.close()
            await chat.stop()


async def test_a_hung_backtest_is_stopped_after_its_deadline_and_a_new_one_can_start(
    hung_stack: tuple[FakeBotAPI, BacktestJobs], tmp_path: Path
) -> None:
    api, _ = hung_stack

    first = await ask(api, OPERATOR_ID, "/backtest llm_edge 2")
    await eventually(lambda: "1 of 97 cycles" in first.plain, timeout=30)
    pid = child_pid(tmp_path / "backtests")
    refused = await ask(api, OPERATOR_ID, "/backtest llm_edge 2")
    assert "running already" in refused.plain
    await eventually(lambda: "failed" in first.plain, timeout=30)
    again = await ask(api, OPERATOR_ID, "/backtest llm_edge 1")

    assert first.plain.startswith("Backtest llm_edge over 2 days: failed")
    assert "timed out" in first.plain
    assert "BACKTEST_TIMEOUT_S" in first.plain
    assert gone(pid)
    assert again.plain.startswith("Backtest llm_edge over 1 days: starting")


async def test_the_chat_stops_following_a_backtest_after_its_maximum_and_says_so(
    monkeypatch: pytest.MonkeyPatch, hung_stack: tuple[FakeBotAPI, BacktestJobs]
) -> None:
    monkeypatch.setattr("bot.commands.backtest.FOLLOW_MAX_S", 0.5)
    api, jobs = hung_stack
    jobs._settings = jobs._settings.model_copy(update={"backtest_timeout_s": 3600.0})

    first = await ask(api, OPERATOR_ID, "/backtest llm_edge 2")
    await eventually(lambda: "timed out" in first.plain, timeout=30)

    assert first.plain.startswith("Backtest llm_edge over 2 days: timed out")
    assert "stopped following" in first.plain


def test_close_kills_a_child_that_ignores_sigterm(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr("trader.backtest.job.STOP_GRACE_S", 1.0)
    jobs = BacktestJobs(load_settings(None), FakeClock(START), tmp_path, hang_deaf)
    _, pid = started_child(jobs, tmp_path)

    jobs.close()

    assert gone(pid)


def started_child(jobs: BacktestJobs, out: Path) -> tuple[str, int]:
    """Start a run and wait until its (hanging) child has said it runs: its job id and pid."""
    job_id = jobs.start("llm_edge", 1).job_id
    deadline = time.monotonic() + 30
    while not list(out.glob("*/progress.json")) and time.monotonic() < deadline:
        time.sleep(0.05)
    return job_id, child_pid(out)


class Monotonic:
    """The backtest deadline's clock, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_deaf_child_past_its_deadline_is_reported_failed_at_once_and_killed_later(
    tmp_path: Path,
) -> None:
    """`status` runs on the event loop: it sends SIGTERM and answers without waiting for the
    child, and a check after the grace (5 s) sends SIGKILL."""
    monotonic = Monotonic()
    settings = load_settings(None, backtest_timeout_s=60.0)
    jobs = BacktestJobs(settings, FakeClock(START), tmp_path, hang_deaf, monotonic)
    job_id, pid = started_child(jobs, tmp_path)
    monotonic.now += 61  # past the deadline

    at_deadline = jobs.status(job_id)
    alive_after_answer = not gone(pid)  # it ignores SIGTERM: still there
    monotonic.now += 4.9
    within_grace = jobs.status(job_id)
    alive_within_grace = not gone(pid)
    monotonic.now += 0.2  # past the grace
    jobs.status(job_id)
    deadline = time.monotonic() + 10
    while not gone(pid) and time.monotonic() < deadline:
        time.sleep(0.05)

    assert at_deadline.state == within_grace.state == "failed"
    assert "timed out: still running after 60 s" in at_deadline.lines[0]
    assert alive_after_answer
    assert alive_within_grace
    assert gone(pid)


def test_a_new_backtest_waits_for_a_stopped_deaf_child_then_starts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr("trader.backtest.job.STOP_GRACE_S", 0.5)  # real seconds: start waits
    monotonic = Monotonic()
    settings = load_settings(None, backtest_timeout_s=60.0)
    jobs = BacktestJobs(settings, FakeClock(START), tmp_path, hang_deaf, monotonic)
    try:
        job_id, pid = started_child(jobs, tmp_path)
        monotonic.now += 61
        assert jobs.status(job_id).state == "failed"
        assert not gone(pid)

        second = jobs.start("llm_edge", 1)  # waits out the grace, then SIGKILLs the first

        assert gone(pid)
        assert second.job_id != job_id
        assert second.state == "running"
    finally:
        jobs.close()


def test_a_backtest_child_whose_parent_is_sigkilled_exits(tmp_path: Path) -> None:
    app = subprocess.Popen(  # noqa: S603 - our own interpreter and module, fixed arguments
        [sys.executable, "-m", "tests.support.backtest_child", str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert app.stdout is not None
        line = app.stdout.readline()
        assert line.startswith("CHILD "), line
        pid = int(line.split()[1])
        assert not gone(pid)
        app.send_signal(signal.SIGKILL)
        app.wait(10)
        deadline = time.monotonic() + 10
        while not gone(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert gone(pid)
    finally:
        app.kill()
        app.wait(10)
        if app.stdout is not None:
            app.stdout.close()


def test_the_child_sees_its_parent_gone_when_it_is_re_parented(tmp_path: Path) -> None:
    # the check the progress callback makes on every cycle (where prctl is not available)
    request = BacktestRequest(
        "bt-1", load_settings(None), "llm_edge", 1, START, START, tmp_path, os.getppid()
    )

    assert parent_alive(request)
    assert not parent_alive(dataclasses.replace(request, parent_pid=os.getppid() + 100_000))

"""The scheduler running for real: short intervals, overlapping and failing jobs, run_now."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.support.waiting import eventually
from trader.clock import SystemClock
from trader.domain import Alert, Severity
from trader.scheduler import JobHook, JobScheduler, PlannedJob

FAST = timedelta(seconds=0.02)
NEVER = DateTrigger(datetime(2099, 1, 1, tzinfo=UTC))  # fires only through run_now


def job(
    name: str,
    coroutine: Callable[[], Awaitable[object]],
    *,
    every: timedelta | None = FAST,
    timeout: timedelta = timedelta(seconds=5),
) -> PlannedJob:
    trigger = IntervalTrigger(seconds=every.total_seconds()) if every else NEVER
    return PlannedJob(name, name, trigger, timeout, coroutine)


@pytest.fixture
async def make() -> AsyncIterator[Callable[..., JobScheduler]]:
    built: list[JobScheduler] = []

    def factory(*jobs: PlannedJob, alerts: list[Alert] | None = None) -> JobScheduler:
        scheduler = JobScheduler(
            list(jobs), clock=SystemClock(), alert=alerts.append if alerts is not None else None
        )
        built.append(scheduler)
        return scheduler

    yield factory
    for scheduler in built:
        await scheduler.stop()


async def test_a_slow_job_never_overlaps_itself(make: Callable[..., JobScheduler]) -> None:
    running = 0
    most = 0
    release = asyncio.Event()

    async def slow() -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        try:
            await release.wait()
        finally:
            running -= 1

    scheduler = make(job("slow", slow))
    scheduler.start()

    await eventually(lambda: scheduler.status()["slow"].skipped >= 3)
    assert most == 1
    assert scheduler.status()["slow"].running
    assert (await scheduler.run_now("slow")).outcome == "already running"

    release.set()
    await eventually(lambda: scheduler.status()["slow"].runs >= 2)
    assert most == 1


async def test_a_failing_job_alerts_and_the_scheduler_keeps_going(
    make: Callable[..., JobScheduler],
) -> None:
    alerts: list[Alert] = []
    calls = 0
    healthy_runs = 0

    async def flaky() -> None:
        nonlocal calls
        calls += 1
        if calls <= 3:
            raise RuntimeError(f"venue down ({calls})")

    async def healthy() -> None:
        nonlocal healthy_runs
        healthy_runs += 1

    scheduler = make(job("flaky", flaky), job("healthy", healthy), alerts=alerts)
    scheduler.start()

    await eventually(lambda: any(a.kind == "job_recovered" for a in alerts))
    failures = [a for a in alerts if a.kind == "job_failed"]
    assert [a.severity for a in failures] == [Severity.WARNING, Severity.WARNING, Severity.CRITICAL]
    assert failures[0].title == "Job flaky failed"
    assert failures[0].body == "RuntimeError: venue down (1)"
    assert failures[2].title == "Job flaky failed (3 times in a row)"
    assert {a.dedupe_key for a in alerts} == {"job:flaky"}
    status = scheduler.status()["flaky"]
    assert (status.failures, status.consecutive_failures) == (3, 0)
    assert status.last_error == "RuntimeError: venue down (3)"
    await eventually(lambda: healthy_runs >= 3)
    assert scheduler.status()["healthy"].failures == 0


async def test_a_job_past_its_timeout_is_cancelled_and_reported(
    make: Callable[..., JobScheduler],
) -> None:
    alerts: list[Alert] = []
    cancelled = asyncio.Event()

    async def hangs() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    scheduler = make(
        job("hangs", hangs, every=None, timeout=timedelta(seconds=0.05)), alerts=alerts
    )

    run = await scheduler.run_now("hangs")

    assert (run.outcome, run.error) == ("failed", "timed out after 0.05 s: cancelled")
    assert cancelled.is_set()
    assert alerts[0].body == run.error


async def test_a_job_raising_its_own_timeout_error_is_a_plain_failure(
    make: Callable[..., JobScheduler],
) -> None:
    async def times_out_inside() -> None:
        raise TimeoutError("feed took too long")

    scheduler = make(job("inner", times_out_inside, every=None))

    run = await scheduler.run_now("inner")

    assert run.error == "TimeoutError: feed took too long"


async def test_run_now_runs_at_once_and_survives_its_caller_being_cancelled(
    make: Callable[..., JobScheduler],
) -> None:
    started = asyncio.Event()
    release = asyncio.Event()
    finished: list[str] = []

    async def cycle() -> None:
        started.set()
        await release.wait()
        finished.append("cycle")

    scheduler = make(job("signal_cycle", cycle, every=None))
    caller = asyncio.create_task(scheduler.run_now("signal_cycle"))
    await started.wait()
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller

    assert scheduler.status()["signal_cycle"].running
    release.set()
    await eventually(lambda: finished == ["cycle"])
    await eventually(lambda: scheduler.status()["signal_cycle"].runs == 1)
    status = scheduler.status()["signal_cycle"]
    assert status.last_started is not None
    assert status.last_finished is not None
    assert status.last_finished >= status.last_started
    with pytest.raises(KeyError):
        await scheduler.run_now("nope")


async def test_next_runs_are_known_once_started_and_stop_cancels_runs_in_progress(
    make: Callable[..., JobScheduler],
) -> None:
    stopped = asyncio.Event()

    async def long() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            stopped.set()

    hourly = PlannedJob("reconcile", "", IntervalTrigger(hours=1), timedelta(hours=1), long)
    scheduler = make(hourly, job("daily_report", long, every=None))
    assert scheduler.next_runs() == {"reconcile": None, "daily_report": None}

    before = datetime.now(UTC)
    scheduler.start()
    runs = scheduler.next_runs()

    reconcile = runs["reconcile"]
    assert reconcile is not None
    assert reconcile.tzinfo is not None
    assert before + timedelta(minutes=59) < reconcile <= datetime.now(UTC) + timedelta(hours=1)
    assert runs["daily_report"] == datetime(2099, 1, 1, tzinfo=UTC)

    run = asyncio.create_task(scheduler.run_now("reconcile"))
    await eventually(lambda: scheduler.status()["reconcile"].running)
    await scheduler.stop()

    assert stopped.is_set()
    assert not scheduler.started
    cancelled = scheduler.status()["reconcile"]
    assert (cancelled.runs, cancelled.failures, cancelled.running) == (0, 0, False)
    assert scheduler.next_runs()["reconcile"] is None
    with pytest.raises(asyncio.CancelledError):
        await run


async def test_the_job_hook_answers_the_control_api_for_one_job(
    make: Callable[..., JobScheduler],
) -> None:
    release = asyncio.Event()
    outcomes: list[str] = ["ok", "fail"]

    async def cycle() -> None:
        await release.wait()
        if outcomes.pop(0) == "fail":
            raise RuntimeError("no markets")

    scheduler = make(job("signal_cycle", cycle, every=None))
    hook = JobHook(scheduler, "signal_cycle", describe=lambda: "4 markets analysed")
    with pytest.raises(KeyError):
        JobHook(scheduler, "daily_report")
    assert hook.last_cycle_at() is None

    first = asyncio.create_task(hook.run_now())
    await eventually(lambda: scheduler.status()["signal_cycle"].running)
    assert await hook.run_now() == "signal_cycle is already running: not started again"
    release.set()
    assert await first == "4 markets analysed"
    succeeded = hook.last_cycle_at()
    assert succeeded is not None

    assert await hook.run_now() == "signal_cycle failed: RuntimeError: no markets"
    assert hook.last_cycle_at() == succeeded  # the last run that went well


async def test_a_database_failure_is_alerted_in_words_without_the_sql(
    make: Callable[..., JobScheduler],
) -> None:
    alerts: list[Alert] = []
    database = create_async_engine("sqlite+aiosqlite://")

    async def report() -> None:
        async with database.connect() as connection:
            await connection.execute(text("SELECT secret_column FROM missing_table WHERE id = 7"))

    scheduler = make(job("daily_report", report, every=None), alerts=alerts)

    run = await scheduler.run_now("daily_report")
    await database.dispose()

    (alert,) = alerts
    for chat_text in (
        alert.title,
        alert.body,
        run.error,
        scheduler.status()["daily_report"].last_error,
    ):
        assert "SELECT" not in chat_text
        assert "missing_table" not in chat_text
        assert "[SQL" not in chat_text
    assert alert.title == "Job daily_report failed"
    assert alert.body == (
        "database error: the database could not be reached or used (OperationalError); "
        "details in the log"
    )

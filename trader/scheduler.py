"""The periodic jobs: one table of (name, trigger), run by APScheduler's AsyncIOScheduler.

`JOBS` is the only definition of what runs when. `job_plan(config, coroutines)` pairs each row
with the coroutine the composition root provides; a job without one is simply not scheduled.

How a job runs (`JobScheduler`):
- APScheduler only fires; the run itself is a task this module owns. A job never overlaps
  itself: a firing (or `run_now`) while the previous run is still going is skipped and said so.
  APScheduler's own `max_instances=1, coalesce=True` back this up, and `misfire_grace_time=None`
  means a late firing (a busy loop, a suspended laptop) still runs, once.
- A run longer than its timeout is cancelled and counts as a failure.
- A failure is logged (with its traceback) and becomes an `Alert` (warning; critical from the
  third failure in a row, with a per-job dedupe key) that says what failed in words, never the
  SQL behind a database error (`trader.ops.failures`); the scheduler keeps going and the next
  firing runs as usual.
- `next_runs()` and `status()` are for the Control API; `run_now(name)` (the /cycle command)
  runs a job at once and returns how it went.

The daily report fires at REPORT_TIME in OPERATOR_TZ through `DailyTrigger`, not APScheduler's
`CronTrigger`: in APScheduler 3.11 a cron time inside the hour that repeats when clocks go back
fires twice that night. `DailyTrigger` fires once per local day, at the first occurrence of the
time; a time skipped when clocks go forward fires at the same offset after the jump (02:30
becomes 03:30).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.interval import IntervalTrigger

from trader.clock import Clock
from trader.config import Settings
from trader.domain import Alert, Severity
from trader.ops.failures import describe_failure

log = logging.getLogger(__name__)

JobCoroutine = Callable[[], Awaitable[object]]
AlertSink = Callable[[Alert], object]
CRITICAL_AFTER = 3  # failures in a row before a job's alert is critical


@dataclass(frozen=True, slots=True)
class ScheduleConfig:
    market_refresh: timedelta = timedelta(minutes=5)
    signal_cycle: timedelta = timedelta(minutes=30)
    rebalance: timedelta = timedelta(hours=6)
    health_check: timedelta = timedelta(minutes=15)
    reconcile: timedelta = timedelta(minutes=1)
    equity_snapshot: timedelta = timedelta(minutes=5)
    forecast_refit: timedelta = timedelta(days=1)
    redemption: timedelta = timedelta(minutes=1)
    zone: tzinfo = UTC
    report_at: time = time(7, 0)
    report_timeout: timedelta = timedelta(minutes=15)


def schedule_config(settings: Settings) -> ScheduleConfig:
    return ScheduleConfig(
        market_refresh=timedelta(seconds=settings.market_refresh_s),
        signal_cycle=timedelta(seconds=settings.signal_cycle_s),
        rebalance=timedelta(seconds=settings.rebalance_s),
        health_check=timedelta(seconds=settings.health_check_s),
        reconcile=timedelta(seconds=settings.reconcile_s),
        equity_snapshot=timedelta(seconds=settings.equity_snapshot_s),
        forecast_refit=timedelta(seconds=settings.forecast_refit_s),
        redemption=timedelta(seconds=settings.redeem_s),
        zone=settings.zone,
        report_at=settings.report_at,
    )


class DailyTrigger(BaseTrigger):  # type: ignore[misc]  # APScheduler ships no type hints
    """Once per local calendar day at `at` in `zone` (see the module docstring for DST)."""

    def __init__(self, at: time, zone: tzinfo) -> None:
        self.at = at.replace(tzinfo=None, fold=0)
        self.zone = zone
        self.jitter = None

    def fire_time(self, day: date) -> datetime:
        # fold=0: the first of two repeated times; a skipped time maps past the jump.
        return datetime.combine(day, self.at, tzinfo=self.zone).astimezone(UTC)

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        # After a firing, the next one strictly after it (the scheduler walks missed firings
        # up to `now` and coalesces them); before any, the first at or after `now`.
        start = (
            now if previous_fire_time is None else previous_fire_time + timedelta(microseconds=1)
        )
        day = start.astimezone(self.zone).date()
        while (fire := self.fire_time(day)) < start:
            day += timedelta(days=1)
        return fire

    def __str__(self) -> str:
        return f"daily at {self.at:%H:%M} {self.zone}"

    def __repr__(self) -> str:
        return f"<DailyTrigger ({self})>"


def _every(interval: timedelta) -> BaseTrigger:
    return IntervalTrigger(seconds=interval.total_seconds(), timezone=UTC)


@dataclass(frozen=True, slots=True)
class JobDefinition:
    name: str
    description: str
    trigger: Callable[[ScheduleConfig], BaseTrigger]
    timeout: Callable[[ScheduleConfig], timedelta]  # a run longer than this is cancelled


def _interval(
    name: str, description: str, every: Callable[[ScheduleConfig], timedelta]
) -> JobDefinition:
    """A job every `every(config)`, whose run may last at most one interval."""
    return JobDefinition(name, description, lambda c: _every(every(c)), every)


# The one table of periodic jobs.
JOBS: tuple[JobDefinition, ...] = (
    _interval("market_refresh", "refresh markets and books", lambda c: c.market_refresh),
    _interval("signal_cycle", "news, analysis, sizing: publish intents", lambda c: c.signal_cycle),
    _interval("rebalance", "rebalance and exposure check", lambda c: c.rebalance),
    _interval("health_check", "health checks", lambda c: c.health_check),
    _interval("reconcile", "reconcile orders and positions", lambda c: c.reconcile),
    _interval("equity_snapshot", "equity snapshot", lambda c: c.equity_snapshot),
    _interval("redemption", "redeem resolved markets, merge YES+NO pairs", lambda c: c.redemption),
    _interval(
        "forecast_refit",
        "refit the model's calibration and blend weight on resolved forecasts",
        lambda c: c.forecast_refit,
    ),
    JobDefinition(
        "daily_report",
        "daily report",
        lambda c: DailyTrigger(c.report_at, c.zone),
        lambda c: c.report_timeout,
    ),
)
JOB_NAMES = tuple(job.name for job in JOBS)


@dataclass(frozen=True, slots=True)
class PlannedJob:
    name: str
    description: str
    trigger: BaseTrigger
    timeout: timedelta
    coroutine: JobCoroutine


def job_plan(config: ScheduleConfig, coroutines: Mapping[str, JobCoroutine]) -> list[PlannedJob]:
    """The jobs of `JOBS` that have a coroutine. An unknown name is a wiring mistake: raises."""
    unknown = set(coroutines) - set(JOB_NAMES)
    if unknown:
        raise ValueError(f"no such scheduled job: {', '.join(sorted(unknown))}")
    return [
        PlannedJob(job.name, job.description, job.trigger(config), job.timeout(config), coro)
        for job in JOBS
        if (coro := coroutines.get(job.name)) is not None
    ]


@dataclass(frozen=True, slots=True)
class JobStatus:
    name: str
    description: str
    running: bool = False
    runs: int = 0
    failures: int = 0
    consecutive_failures: int = 0
    skipped: int = 0  # firings that found the previous run still going
    last_started: datetime | None = None
    last_finished: datetime | None = None
    last_duration_s: float | None = None
    last_error: str = ""
    last_success: datetime | None = None  # when the last run that went well started


@dataclass(frozen=True, slots=True)
class JobRun:
    """What `run_now` did: "ok", "failed" (with the error) or "already running"."""

    name: str
    outcome: str
    error: str = ""
    duration_s: float | None = None


class JobScheduler:
    """Runs the planned jobs on their triggers; see the module docstring."""

    def __init__(
        self, jobs: list[PlannedJob], *, clock: Clock, alert: AlertSink | None = None
    ) -> None:
        self._jobs = {job.name: job for job in jobs}
        self._clock = clock
        self._alert = alert
        self._status = {job.name: JobStatus(job.name, job.description) for job in jobs}
        self._tasks: dict[str, asyncio.Task[JobRun]] = {}
        self._scheduler: AsyncIOScheduler | None = None

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        coroutines: Mapping[str, JobCoroutine],
        *,
        clock: Clock,
        alert: AlertSink | None = None,
    ) -> JobScheduler:
        return cls(job_plan(schedule_config(settings), coroutines), clock=clock, alert=alert)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._jobs)

    @property
    def started(self) -> bool:
        return self._scheduler is not None

    def start(self) -> None:
        """Start firing (needs a running event loop). The first interval run is one interval
        after the start; call `run_now` for a run at once."""
        if self._scheduler is not None:
            return
        defaults: dict[str, Any] = {
            "max_instances": 1,
            "coalesce": True,
            "misfire_grace_time": None,
        }
        scheduler = AsyncIOScheduler(timezone=UTC, job_defaults=defaults)
        for job in self._jobs.values():
            scheduler.add_job(self._fire, job.trigger, args=(job.name,), id=job.name, name=job.name)
        scheduler.start()
        self._scheduler = scheduler

    async def stop(self) -> None:
        """Stop firing, cancel the runs in progress and wait for them to end."""
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def run(self) -> None:
        """Start and run until cancelled (for the supervisor), then stop."""
        self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await self.stop()

    def next_runs(self) -> dict[str, datetime | None]:
        """Each job's next firing in UTC; None before `start` or for a paused job."""
        runs: dict[str, datetime | None] = dict.fromkeys(self._jobs)
        if self._scheduler is None:
            return runs
        for name in self._jobs:
            job = self._scheduler.get_job(name)
            when = getattr(job, "next_run_time", None) if job is not None else None
            runs[name] = when.astimezone(UTC) if when is not None else None
        return runs

    def status(self) -> dict[str, JobStatus]:
        return {
            name: replace(status, running=self._running(name))
            for name, status in self._status.items()
        }

    async def run_now(self, name: str) -> JobRun:
        """Run `name` at once and wait for it; "already running" if a run is in progress.
        Cancelling the caller does not cancel the run."""
        if name not in self._jobs:
            raise KeyError(f"no scheduled job {name!r}")
        task = self._launch(name)
        if task is None:
            return JobRun(name, "already running")
        return await asyncio.shield(task)

    def _running(self, name: str) -> bool:
        task = self._tasks.get(name)
        return task is not None and not task.done()

    async def _fire(self, name: str) -> None:
        """What APScheduler runs: start the job's run and return at once."""
        self._launch(name)

    def _launch(self, name: str) -> asyncio.Task[JobRun] | None:
        if self._running(name):
            status = self._status[name]
            self._status[name] = replace(status, skipped=status.skipped + 1)
            log.info("job %s: previous run still going, this one skipped", name)
            return None
        task = asyncio.get_running_loop().create_task(self._execute(name), name=f"job:{name}")
        self._tasks[name] = task
        return task

    async def _execute(self, name: str) -> JobRun:
        job = self._jobs[name]
        self._status[name] = replace(self._status[name], last_started=self._clock.now())
        start = self._clock.monotonic()
        error = ""
        timeout = asyncio.timeout(job.timeout.total_seconds())
        try:
            async with timeout:
                await job.coroutine()
        except asyncio.CancelledError:  # stopping: neither a run nor a failure
            self._status[name] = replace(self._status[name], last_finished=self._clock.now())
            raise
        except TimeoutError as exc:
            if not timeout.expired():
                error = _describe(exc)
                log.exception("job %s failed", name)
            else:
                error = f"timed out after {job.timeout.total_seconds():g} s: cancelled"
                log.error("job %s %s", name, error)
        except Exception as exc:
            error = _describe(exc)
            log.exception("job %s failed", name)
        duration = self._clock.monotonic() - start
        self._finish(name, error, duration)
        return JobRun(name, "failed" if error else "ok", error, duration)

    def _finish(self, name: str, error: str, duration: float) -> None:
        before = self._status[name]
        failed = bool(error)
        after = replace(
            before,
            runs=before.runs + 1,
            failures=before.failures + failed,
            consecutive_failures=before.consecutive_failures + 1 if failed else 0,
            last_finished=self._clock.now(),
            last_duration_s=duration,
            last_error=error or before.last_error,
            last_success=before.last_success if failed else before.last_started,
        )
        self._status[name] = after
        if failed:
            severity = (
                Severity.CRITICAL
                if after.consecutive_failures >= CRITICAL_AFTER
                else Severity.WARNING
            )
            times = after.consecutive_failures
            title = f"Job {name} failed" + (f" ({times} times in a row)" if times > 1 else "")
            self._publish(Alert("job_failed", severity, title, error, dedupe_key=f"job:{name}"))
        elif before.consecutive_failures:
            title = f"Job {name} ran again after {before.consecutive_failures} failure(s)"
            self._publish(Alert("job_recovered", Severity.INFO, title, dedupe_key=f"job:{name}"))

    def _publish(self, alert: Alert) -> None:
        if self._alert is None:
            return
        try:
            self._alert(alert)
        except Exception:  # an alert sink's failure never stops the jobs
            log.exception("could not publish the alert %r", alert.title)


class JobHook:
    """One job as the Control API sees it (its `CycleHook`): when it last went well, when it
    runs next, and run it now (/cycle) with a reply; `describe` words a good run."""

    def __init__(
        self, scheduler: JobScheduler, name: str, describe: Callable[[], str] | None = None
    ) -> None:
        if name not in scheduler.names:
            raise KeyError(f"job {name!r} is not scheduled")
        self._scheduler, self._name = scheduler, name
        self._describe = describe or (lambda: f"{name}: done")

    def last_cycle_at(self) -> datetime | None:
        return self._scheduler.status()[self._name].last_success

    def next_cycle_at(self) -> datetime | None:
        return self._scheduler.next_runs()[self._name]

    async def run_now(self) -> str:
        run = await self._scheduler.run_now(self._name)
        if run.outcome == "already running":
            return f"{self._name} is already running: not started again"
        if run.outcome == "failed":
            return f"{self._name} failed: {run.error}"
        return self._describe()


def _describe(error: BaseException) -> str:
    return describe_failure(error)  # words for the chat; the traceback is in the log

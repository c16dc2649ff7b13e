"""The job table and the daily trigger, with time moved by hand (no scheduler running)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from apscheduler.triggers.interval import IntervalTrigger

from trader.config import Settings
from trader.scheduler import (
    JOB_NAMES,
    DailyTrigger,
    ScheduleConfig,
    job_plan,
    schedule_config,
)

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")


async def nothing() -> None:
    return None


def fires(trigger: DailyTrigger, start: datetime, count: int) -> list[datetime]:
    """The next `count` firings from `start`, as the scheduler asks for them."""
    found: list[datetime] = []
    previous, now = None, start
    for _ in range(count):
        fire = trigger.get_next_fire_time(previous, now)
        assert fire is not None
        found.append(fire)
        previous = now = fire
    return found


def test_daily_report_follows_london_summer_time_at_the_same_local_hour() -> None:
    trigger = DailyTrigger(time(7, 0), LONDON)

    found = fires(trigger, datetime(2026, 3, 27, 12, tzinfo=UTC), 3)

    assert found == [  # clocks go forward on Sunday 29 March 2026
        datetime(2026, 3, 28, 7, tzinfo=UTC),
        datetime(2026, 3, 29, 6, tzinfo=UTC),
        datetime(2026, 3, 30, 6, tzinfo=UTC),
    ]
    assert {f.astimezone(LONDON).time() for f in found} == {time(7, 0)}


def test_daily_report_in_the_repeated_hour_fires_once_when_clocks_go_back() -> None:
    trigger = DailyTrigger(time(1, 30), NEW_YORK)

    found = fires(trigger, datetime(2026, 10, 31, 12, tzinfo=UTC), 3)

    assert found == [  # 01:30 happens twice on 1 November 2026: the first one only
        datetime(2026, 11, 1, 5, 30, tzinfo=UTC),
        datetime(2026, 11, 2, 6, 30, tzinfo=UTC),
        datetime(2026, 11, 3, 6, 30, tzinfo=UTC),
    ]


def test_a_restart_during_the_repeated_hour_does_not_send_the_report_again() -> None:
    trigger = DailyTrigger(time(1, 30), NEW_YORK)
    second_pass = datetime(2026, 11, 1, 6, 0, tzinfo=UTC)  # 01:00 EST, after 01:30 EDT

    assert trigger.get_next_fire_time(None, second_pass) == datetime(2026, 11, 2, 6, 30, tzinfo=UTC)


def test_a_report_time_skipped_by_the_clocks_going_forward_still_fires_that_day() -> None:
    trigger = DailyTrigger(time(2, 30), NEW_YORK)

    found = fires(trigger, datetime(2026, 3, 7, 12, tzinfo=UTC), 2)

    # 02:30 does not exist on 8 March 2026: it fires at 03:30 EDT, then 02:30 EDT after
    assert found == [
        datetime(2026, 3, 8, 7, 30, tzinfo=UTC),
        datetime(2026, 3, 9, 6, 30, tzinfo=UTC),
    ]
    assert found[0].astimezone(NEW_YORK).date() == found[0].date()


def test_daily_trigger_fires_exactly_once_per_local_day_for_a_year() -> None:
    trigger = DailyTrigger(time(7, 0), LONDON)

    found = fires(trigger, datetime(2026, 1, 1, tzinfo=UTC), 365)

    days = [f.astimezone(LONDON).date() for f in found]
    assert len(set(days)) == 365
    assert all(later - earlier == timedelta(days=1) for earlier, later in pairwise(days))
    assert {f.astimezone(LONDON).time() for f in found} == {time(7, 0)}


def test_daily_trigger_at_the_exact_time_fires_then_and_a_missed_day_is_caught_up_once() -> None:
    trigger = DailyTrigger(time(7, 0), UTC)
    at = datetime(2026, 5, 1, 7, tzinfo=UTC)

    assert trigger.get_next_fire_time(None, at) == at
    # asked three days late, it names the first missed firing; the scheduler coalesces
    late = trigger.get_next_fire_time(at, at + timedelta(days=3))
    assert late == at + timedelta(days=1)


def test_the_plan_schedules_only_the_jobs_given_a_coroutine() -> None:
    plan = job_plan(ScheduleConfig(), {"signal_cycle": nothing, "daily_report": nothing})

    assert [job.name for job in plan] == ["signal_cycle", "daily_report"]
    cycle = plan[0]
    assert isinstance(cycle.trigger, IntervalTrigger)
    assert cycle.trigger.interval == timedelta(minutes=30)
    assert cycle.timeout == timedelta(minutes=30)


def test_the_plan_refuses_a_coroutine_for_a_job_that_does_not_exist() -> None:
    with pytest.raises(ValueError, match="signal_cylce"):
        job_plan(ScheduleConfig(), {"signal_cylce": nothing})


def test_schedule_config_comes_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in Settings.model_fields:  # the settings come from the test, not the environment
        monkeypatch.delenv(name.upper(), raising=False)
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        signal_cycle_s=600,
        reconcile_s=30,
        operator_tz="Europe/London",
        report_time="08:15",
    )

    config = schedule_config(settings)
    plan = {job.name: job for job in job_plan(config, dict.fromkeys(JOB_NAMES, nothing))}

    assert set(plan) == set(JOB_NAMES)
    assert plan["signal_cycle"].trigger.interval == timedelta(minutes=10)
    assert plan["reconcile"].trigger.interval == timedelta(seconds=30)
    assert plan["market_refresh"].trigger.interval == timedelta(minutes=5)
    assert plan["rebalance"].trigger.interval == timedelta(hours=6)
    assert plan["health_check"].trigger.interval == timedelta(minutes=15)
    report = plan["daily_report"].trigger
    assert isinstance(report, DailyTrigger)
    assert (report.at, report.zone) == (time(8, 15), LONDON)
    assert str(report) == "daily at 08:15 Europe/London"

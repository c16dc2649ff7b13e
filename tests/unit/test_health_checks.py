"""Each health check: made to fail, it raises exactly one alert per episode; recovery ends it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from trader.clock import FakeClock
from trader.domain import Alert, DrawdownMode, Severity
from trader.ops.health import (
    CheckStatus,
    ClockDriftCheck,
    CycleCheck,
    DiskCheck,
    DrawdownCheck,
    ErrorRateWindow,
    FeedCheck,
    HealthCheck,
    HealthMonitor,
    HealthSources,
    LlmSpendCheck,
    SupervisorCheck,
    VenueErrorCheck,
    WinRateCheck,
    build_checks,
    disk_free_fraction,
)

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@dataclass
class World:
    """Mutable inputs the providers read; a test breaks one and repairs it."""

    clock: FakeClock
    last_cycle: datetime | None = None
    mode: DrawdownMode = DrawdownMode.FULL
    wins: int = 0
    losses: int = 0
    feed_age: float | None = 1.0
    server_offset_s: float = 0.0
    free: float = 0.5
    spent: Decimal = Decimal(0)
    budget: Decimal = Decimal(5)
    restarts: int = 0
    tripped: tuple[str, ...] = ()

    async def server_time(self) -> datetime:
        return self.clock.now() + timedelta(seconds=self.server_offset_s)


@pytest.fixture
def world() -> World:
    return World(FakeClock(START))


def monitor_with(world: World, check: HealthCheck) -> tuple[HealthMonitor, list[Alert]]:
    alerts: list[Alert] = []
    return HealthMonitor([check], world.clock, alerts.append), alerts


async def fail_then_recover(
    world: World, check: HealthCheck, breaks: object, repair: object, runs: int = 3
) -> list[Alert]:
    """Run the monitor while broken (`runs` times), then repaired; returns the alerts."""
    monitor, alerts = monitor_with(world, check)
    first = await monitor.run_checks()
    assert first.healthy, first.to_json()
    breaks()  # type: ignore[operator]
    for _ in range(runs):
        world.clock.advance(60)
        report = await monitor.run_checks()
        assert not report.healthy
        assert report.failing == [check.name]
    failing = list(alerts)
    assert len(failing) == 1, [a.title for a in failing]
    assert failing[0].kind == check.kind
    assert failing[0].severity in (Severity.WARNING, Severity.CRITICAL)
    repair()  # type: ignore[operator]
    world.clock.advance(60)
    assert (await monitor.run_checks()).healthy
    assert len(alerts) == 2
    assert alerts[1].severity is Severity.INFO
    assert "recovered" in alerts[1].title
    return alerts


async def test_cycle_check_when_no_cycle_for_twice_the_interval_alerts_once(world: World) -> None:
    world.last_cycle = START
    check = CycleCheck(lambda: world.last_cycle, interval_s=1800, started_at=START)

    def breaks() -> None:
        world.clock.advance(2 * 1800)  # with the runs' advances: well past twice the interval

    def repair() -> None:
        world.last_cycle = world.clock.now()

    alerts = await fail_then_recover(world, check, breaks, repair)
    assert "last completed cycle" in alerts[0].body


async def test_cycle_check_before_any_cycle_counts_from_start(world: World) -> None:
    check = CycleCheck(lambda: None, interval_s=600, started_at=START)
    assert (await check.evaluate(START + timedelta(seconds=1199))).status is CheckStatus.OK
    result = await check.evaluate(START + timedelta(seconds=1201))
    assert result.failing
    assert "no cycle completed since start" in result.detail


async def test_drawdown_check_when_mode_not_full_alerts_once(world: World) -> None:
    check = DrawdownCheck(lambda: world.mode)

    def breaks() -> None:
        world.mode = DrawdownMode.REDUCED

    def repair() -> None:
        world.mode = DrawdownMode.FULL

    alerts = await fail_then_recover(world, check, breaks, repair)
    assert "REDUCED" in alerts[0].body


async def test_drawdown_halted_is_critical(world: World) -> None:
    result = await DrawdownCheck(lambda: "HALTED").evaluate(START)
    assert result.failing
    assert result.severity is Severity.CRITICAL


async def test_win_rate_check_under_40_percent_over_more_than_10_trades_alerts_once(
    world: World,
) -> None:
    asked: list[datetime] = []

    def win_rate(since: datetime) -> tuple[int, int, Decimal | None]:
        asked.append(since)
        return world.wins, world.losses, None

    check = WinRateCheck(win_rate)
    world.wins, world.losses = 1, 9  # 10 trades: not more than 10, so not judged

    def breaks() -> None:
        world.wins, world.losses = 4, 7  # 11 trades, 36 %

    def repair() -> None:
        world.wins, world.losses = 6, 5

    alerts = await fail_then_recover(world, check, breaks, repair)
    assert "36%" in alerts[0].body
    assert asked[0] == START - timedelta(days=30)


async def test_venue_error_spike_alerts_once(world: World) -> None:
    window = ErrorRateWindow(world.clock, window_s=300)
    check = VenueErrorCheck(window.counts)
    for _ in range(20):
        window.record(ok=True)

    def breaks() -> None:
        for _ in range(10):
            window.record(ok=False)

    def repair() -> None:
        world.clock.advance(301)  # the errors leave the window
        window.record(ok=True)

    # the runs advance 60 s each: 3 runs keep the errors inside the 300 s window
    alerts = await fail_then_recover(world, check, breaks, repair, runs=3)
    assert "10 errors" in alerts[0].body


async def test_venue_errors_below_the_minimum_are_not_a_spike(world: World) -> None:
    result = await VenueErrorCheck(lambda: (4, 4)).evaluate(START)
    assert result.status is CheckStatus.OK


async def test_feed_check_when_stale_alerts_once(world: World) -> None:
    check = FeedCheck(lambda: world.feed_age, stale_after_s=30)

    def breaks() -> None:
        world.feed_age = 45.0

    def repair() -> None:
        world.feed_age = 0.5

    alerts = await fail_then_recover(world, check, breaks, repair)
    assert alerts[0].kind == "feed_stale"


async def test_clock_drift_over_two_seconds_alerts_once(world: World) -> None:
    check = ClockDriftCheck(world.server_time, world.clock)

    def breaks() -> None:
        world.server_offset_s = -2.5  # the venue is behind: we are ahead

    def repair() -> None:
        world.server_offset_s = 0.3

    alerts = await fail_then_recover(world, check, breaks, repair)
    assert "ahead of the venue" in alerts[0].body


async def test_clock_drift_allows_for_whole_second_server_time(world: World) -> None:
    clock = FakeClock(datetime(2026, 3, 1, 12, 0, 5, 900_000, tzinfo=UTC))

    async def whole_seconds() -> datetime:
        return datetime(2026, 3, 1, 12, 0, 5, tzinfo=UTC)  # the true time truncated

    result = await ClockDriftCheck(whole_seconds, clock).evaluate(clock.now())
    assert result.status is CheckStatus.OK
    assert result.value == 0.0


async def test_disk_check_under_10_percent_free_alerts_once_and_is_critical(world: World) -> None:
    check = DiskCheck(lambda: world.free)

    def breaks() -> None:
        world.free = 0.07

    def repair() -> None:
        world.free = 0.4

    alerts = await fail_then_recover(world, check, breaks, repair)
    assert alerts[0].severity is Severity.CRITICAL


async def test_disk_free_fraction_reads_the_real_file_system(tmp_path: Path) -> None:
    free = await disk_free_fraction(tmp_path)()
    assert 0.0 <= free <= 1.0


async def test_llm_spend_over_80_percent_alerts_once(world: World) -> None:
    async def spend() -> tuple[Decimal, Decimal]:
        return world.spent, world.budget

    check = LlmSpendCheck(spend)

    def breaks() -> None:
        world.spent = Decimal("4.10")

    def repair() -> None:
        world.budget = Decimal(10)  # the operator raised the budget

    alerts = await fail_then_recover(world, check, breaks, repair)
    assert "$4.10 of $5.00" in alerts[0].body


async def test_supervisor_restarts_alert_once_per_episode(world: World) -> None:
    check = SupervisorCheck(
        lambda: world.restarts, lambda: world.tripped, world.clock, window_s=600
    )

    def breaks() -> None:
        world.restarts += 1

    def repair() -> None:
        world.clock.advance(600)  # no restart for a whole window

    alerts = await fail_then_recover(world, check, breaks, repair, runs=3)
    assert "1 restarts" in alerts[0].body


async def test_supervisor_tripped_component_is_critical(world: World) -> None:
    check = SupervisorCheck(lambda: 2, lambda: ["signals"], world.clock)
    result = await check.evaluate(START)
    assert result.failing
    assert result.severity is Severity.CRITICAL
    assert "signals" in result.detail


async def test_a_new_failure_after_recovery_is_a_new_episode(world: World) -> None:
    monitor, alerts = monitor_with(world, FeedCheck(lambda: world.feed_age))
    for age in (99.0, 99.0, 1.0, 99.0, 99.0):
        world.feed_age = age
        world.clock.advance(10)
        await monitor.run_checks()
    assert [a.severity for a in alerts] == [Severity.WARNING, Severity.INFO, Severity.WARNING]


async def test_a_provider_that_raises_is_unknown_and_neither_alerts_nor_recovers(
    world: World,
) -> None:
    state = {"raise": False}

    def age() -> float:
        if state["raise"]:
            raise RuntimeError("venue gone")
        return 99.0

    monitor, alerts = monitor_with(world, FeedCheck(age))
    await monitor.run_checks()
    state["raise"] = True
    report = await monitor.run_checks()
    assert report.results[0].status is CheckStatus.UNKNOWN
    assert report.healthy  # unknown is shown, not failing
    assert "venue gone" in report.results[0].detail
    assert len(alerts) == 1  # the failure; no recovery from an unknown


async def test_report_serves_the_cached_run_when_fresh(world: World) -> None:
    calls: list[int] = []

    def age() -> float:
        calls.append(1)
        return 1.0

    monitor, _ = monitor_with(world, FeedCheck(age))
    await monitor.report(max_age_s=5)
    world.clock.advance(3)
    await monitor.report(max_age_s=5)
    assert len(calls) == 1
    world.clock.advance(3)
    await monitor.report(max_age_s=5)
    assert len(calls) == 2


async def test_report_json_names_each_check_and_when_it_started_failing(world: World) -> None:
    monitor, _ = monitor_with(world, FeedCheck(lambda: 99.0))
    body = (await monitor.run_checks()).to_json()
    assert body["status"] == "failing"
    assert body["checks"]["feed"]["status"] == "failing"
    assert body["checks"]["feed"]["failing_since"] == START.isoformat()


def test_duplicate_check_names_are_refused(world: World) -> None:
    with pytest.raises(ValueError, match="unique"):
        HealthMonitor([FeedCheck(lambda: 1.0), FeedCheck(lambda: 2.0)], world.clock, print)


async def test_build_checks_makes_only_the_wired_checks(world: World, tmp_path: Path) -> None:
    sources = HealthSources(
        started_at=START,
        cycle_interval_s=1800,
        last_cycle_at=lambda: None,
        feed_age_s=lambda: world.feed_age,
        disk_path=tmp_path,
        restarts_total=lambda: 0,
    )
    checks = build_checks(sources, world.clock)
    assert [check.name for check in checks] == ["cycle", "feed", "disk", "supervisor"]
    report = await HealthMonitor(checks, world.clock, print).run_checks()
    assert report.healthy, report.to_json()


async def test_concurrent_runs_share_one_evaluation(world: World) -> None:
    calls: list[int] = []

    async def age() -> float:
        calls.append(1)
        await asyncio.sleep(0)
        return 1.0

    monitor, _ = monitor_with(world, FeedCheck(age))
    first, second = await asyncio.gather(monitor.run_checks(), monitor.run_checks())
    assert first is second
    assert len(calls) == 1

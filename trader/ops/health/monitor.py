"""Runs the health checks on a schedule and on /health, and raises one alert per episode.

An episode starts when a check first fails: one alert, with the check's kind and severity. It
stays open, silently, while the check keeps failing, however often the checks run (every
HEALTH_CHECK_S, and on each /health request). The first passing run ends it with an INFO
"recovered" alert; the next failure is a new episode. An UNKNOWN result (the provider raised or
timed out) neither opens nor closes an episode.

Checks run concurrently, each under `check_timeout_s`, and one run at a time (a /health request
during a scheduled run waits for it and gets its report). `report(max_age_s)` serves a recent
report from cache, so a monitoring system polling /health does not hammer the venue's /time.

`HealthSources` is what the composition root wires: every input an optional provider.
`build_checks` makes a check for each wired one and leaves the rest out (a paper venue has no
server time, a run without an LLM key has no budget), so /health lists only checks that mean
something.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from trader.clock import Clock
from trader.domain import Alert, DrawdownMode, Severity
from trader.ops.health.checks import (
    CheckResult,
    CheckStatus,
    ClockDriftCheck,
    CycleCheck,
    DiskCheck,
    DrawdownCheck,
    FeedCheck,
    HealthCheck,
    LlmSpendCheck,
    Provider,
    SupervisorCheck,
    VenueErrorCheck,
    WinRate,
    WinRateCheck,
    disk_free_fraction,
)

log = logging.getLogger(__name__)

AlertPublisher = Callable[[Alert], object]
FailingSink = Callable[[str, bool], None]  # (check name, failing), e.g. Metrics.set_health


@dataclass(frozen=True, slots=True)
class HealthReport:
    checked_at: datetime
    results: tuple[CheckResult, ...]
    episodes: dict[str, datetime] = field(default_factory=dict)  # failing since

    @property
    def healthy(self) -> bool:
        return not any(result.failing for result in self.results)

    @property
    def failing(self) -> list[str]:
        return [result.name for result in self.results if result.failing]

    def to_json(self) -> dict[str, Any]:
        return {
            "status": "ok" if self.healthy else "failing",
            "checked_at": self.checked_at.isoformat(),
            "failing": self.failing,
            "checks": {
                result.name: {
                    "status": result.status.value,
                    "detail": result.detail,
                    "severity": result.severity.value if result.failing else None,
                    "value": result.value,
                    "failing_since": (
                        self.episodes[result.name].isoformat()
                        if result.name in self.episodes
                        else None
                    ),
                }
                for result in self.results
            },
        }


class HealthMonitor:
    def __init__(
        self,
        checks: Sequence[HealthCheck],
        clock: Clock,
        publish: AlertPublisher,
        *,
        interval_s: float = 900.0,
        check_timeout_s: float = 10.0,
        on_result: FailingSink | None = None,
    ) -> None:
        names = [check.name for check in checks]
        if len(set(names)) != len(names):
            raise ValueError(f"health check names must be unique: {names}")
        self._checks = tuple(checks)
        self._clock = clock
        self._publish = publish
        self.interval_s = interval_s
        self._timeout_s = check_timeout_s
        self._on_result = on_result
        self._episodes: dict[str, datetime] = {}
        self._lock = asyncio.Lock()
        self._last: HealthReport | None = None
        self._last_monotonic = 0.0
        self._runs = 0
        self.alerts_raised = 0

    @property
    def last_report(self) -> HealthReport | None:
        return self._last

    async def run(self) -> None:
        """Check now, then every `interval_s`, until cancelled (a supervised component)."""
        while True:
            await self.run_checks()
            await self._clock.sleep(self.interval_s)

    async def report(self, max_age_s: float = 5.0) -> HealthReport:
        """The last report if it is younger than `max_age_s`, else a fresh run."""
        if self._last is not None and self._clock.monotonic() - self._last_monotonic <= max_age_s:
            return self._last
        return await self.run_checks()

    async def run_checks(self) -> HealthReport:
        generation = self._runs
        async with self._lock:
            if self._last is not None and self._runs != generation:
                return self._last  # a run finished while we waited: it is fresh enough
            now = self._clock.now()
            results = await asyncio.gather(*(self._evaluate(check, now) for check in self._checks))
            for check, result in zip(self._checks, results, strict=True):
                self._track(check, result, now)
            report = HealthReport(now, tuple(results), dict(self._episodes))
            self._last = report
            self._runs += 1
            self._last_monotonic = self._clock.monotonic()
        return report

    async def _evaluate(self, check: HealthCheck, now: datetime) -> CheckResult:
        try:
            async with asyncio.timeout(self._timeout_s):
                return await check.evaluate(now)
        except TimeoutError:
            detail = f"no answer within {self._timeout_s:.0f} s"
        except Exception as error:
            log.warning("health check %s could not run", check.name, exc_info=True)
            detail = f"could not check: {type(error).__name__}: {error}"
        return CheckResult(check.name, CheckStatus.UNKNOWN, detail[:300])

    def _track(self, check: HealthCheck, result: CheckResult, now: datetime) -> None:
        if result.status is CheckStatus.UNKNOWN:
            return
        if self._on_result is not None:
            self._on_result(check.name, result.failing)
        open_since = self._episodes.get(check.name)
        if result.failing and open_since is None:
            self._episodes[check.name] = now
            log.warning("health check %s failing: %s", check.name, result.detail)
            self._raise(
                Alert(
                    check.kind,
                    result.severity,
                    f"Health: {check.title} failing",
                    result.detail,
                    dedupe_key=f"health:{check.name}",
                )
            )
        elif not result.failing and open_since is not None:
            del self._episodes[check.name]
            log.info("health check %s recovered: %s", check.name, result.detail)
            self._raise(
                Alert(
                    check.kind,
                    Severity.INFO,
                    f"Health: {check.title} recovered",
                    result.detail,
                    dedupe_key=f"health:{check.name}:recovered",
                )
            )

    def _raise(self, alert: Alert) -> None:
        self.alerts_raised += 1
        try:
            self._publish(alert)
        except Exception:
            log.exception("could not publish the health alert %r", alert.title)


# --- wiring -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HealthSources:
    started_at: datetime
    cycle_interval_s: float
    last_cycle_at: Provider[datetime | None] | None = None  # scheduler
    drawdown_mode: Provider[DrawdownMode | str] | None = None  # portfolio / risk
    win_rate: Callable[[datetime], WinRate] | None = None  # portfolio.win_rate(since)
    venue_errors: Provider[tuple[int, int]] | None = None  # ErrorRateWindow.counts
    feed_age_s: Provider[float | None] | None = None  # desk.feed_age
    stale_feed_s: float = 30.0  # STALE_BOOK_S
    server_time: Provider[datetime] | None = None  # live venue's server_time
    disk_path: Path | None = None  # where the database (or data/) lives
    llm_spend: Provider[tuple[Decimal, Decimal]] | None = None  # SpendSource.llm_spend_today
    restarts_total: Provider[int] | None = None  # supervisor.restarts_total
    tripped: Provider[Sequence[str]] | None = None  # supervisor.tripped


def build_checks(sources: HealthSources, clock: Clock) -> list[HealthCheck]:
    checks: list[HealthCheck] = []
    if sources.last_cycle_at is not None:
        checks.append(
            CycleCheck(sources.last_cycle_at, sources.cycle_interval_s, sources.started_at)
        )
    if sources.drawdown_mode is not None:
        checks.append(DrawdownCheck(sources.drawdown_mode))
    if sources.win_rate is not None:
        checks.append(WinRateCheck(sources.win_rate))
    if sources.venue_errors is not None:
        checks.append(VenueErrorCheck(sources.venue_errors))
    if sources.feed_age_s is not None:
        checks.append(FeedCheck(sources.feed_age_s, sources.stale_feed_s))
    if sources.server_time is not None:
        checks.append(ClockDriftCheck(sources.server_time, clock))
    if sources.disk_path is not None:
        checks.append(DiskCheck(disk_free_fraction(sources.disk_path)))
    if sources.llm_spend is not None:
        checks.append(LlmSpendCheck(sources.llm_spend))
    if sources.restarts_total is not None:
        checks.append(
            SupervisorCheck(sources.restarts_total, sources.tripped or (lambda: ()), clock)
        )
    return checks

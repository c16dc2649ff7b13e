"""The health checks: each one a small object with a name, an alert kind and `evaluate(now)`.

Inputs are injected providers (plain callables, sync or async), so the composition root wires
them to the portfolio, the venue, the scheduler, the LLM budget and the supervisor, and tests
hand in lambdas. A check never raises: the monitor turns an exception or a timeout into an
UNKNOWN result, which is shown on /health but neither starts nor ends an alert episode.

Thresholds are the issue's: no completed cycle for twice its interval; drawdown mode not FULL;
win rate under 40 % over more than 10 trades in 30 days; a venue error-rate spike; a stale book
feed; clock drift against the venue over 2 s; free disk under 10 %; LLM spend over 80 % of the
day's budget; supervisor restarts (or a tripped component) within the last hour.
"""

from __future__ import annotations

import asyncio
import inspect
import shutil
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Protocol, TypeVar, cast

from trader.clock import Clock
from trader.domain import DrawdownMode, Severity

T = TypeVar("T")
Provider = Callable[[], T | Awaitable[T]]


class CheckStatus(StrEnum):
    OK = "ok"
    FAILING = "failing"
    UNKNOWN = "unknown"  # the provider failed or timed out: shown, but no alert either way


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    status: CheckStatus
    detail: str
    severity: Severity = Severity.WARNING  # used when failing
    value: float | None = None

    @property
    def failing(self) -> bool:
        return self.status is CheckStatus.FAILING


class HealthCheck(Protocol):
    """One check. `kind` is the alert kind its episodes raise; `title` names it in alerts."""

    @property
    def name(self) -> str: ...

    @property
    def kind(self) -> str: ...

    @property
    def title(self) -> str: ...

    async def evaluate(self, now: datetime) -> CheckResult: ...


async def resolve(provider: Provider[T]) -> T:
    """Call a provider; await its result if it is awaitable."""
    value = provider()
    if inspect.isawaitable(value):
        return cast(T, await value)
    return value


def human(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _ok(name: str, detail: str, value: float | None = None) -> CheckResult:
    return CheckResult(name, CheckStatus.OK, detail, value=value)


def _fail(
    name: str, detail: str, value: float | None = None, severity: Severity = Severity.WARNING
) -> CheckResult:
    return CheckResult(name, CheckStatus.FAILING, detail, severity, value)


@dataclass(frozen=True, slots=True)
class CycleCheck:
    """No completed signal cycle for twice its interval (counted from start before the first)."""

    last_cycle_at: Provider[datetime | None]
    interval_s: float
    started_at: datetime
    name: str = "cycle"
    kind: str = "cycle_failed"
    title: str = "signal cycle"

    async def evaluate(self, now: datetime) -> CheckResult:
        last = await resolve(self.last_cycle_at)
        since = (now - (last or self.started_at)).total_seconds()
        what = "last completed cycle" if last else "no cycle completed since start"
        detail = f"{what} {human(since)} ago (interval {human(self.interval_s)})"
        if since > 2 * self.interval_s:
            return _fail(self.name, detail, since)
        return _ok(self.name, detail, since)


@dataclass(frozen=True, slots=True)
class DrawdownCheck:
    drawdown_mode: Provider[DrawdownMode | str]
    name: str = "drawdown"
    kind: str = "risk_mode"
    title: str = "drawdown mode"

    async def evaluate(self, now: datetime) -> CheckResult:
        mode = DrawdownMode(str(await resolve(self.drawdown_mode)))
        if mode is DrawdownMode.FULL:
            return _ok(self.name, "drawdown mode FULL")
        severity = Severity.CRITICAL if mode is DrawdownMode.HALTED else Severity.WARNING
        return _fail(self.name, f"drawdown mode {mode.value}: sizing cut", severity=severity)


WinRate = tuple[int, int, Decimal | None]  # wins, losses, wins / (wins + losses)


@dataclass(frozen=True, slots=True)
class WinRateCheck:
    """Win rate under `minimum` over more than `min_trades` trades in the last `window`."""

    win_rate: Callable[[datetime], WinRate | Awaitable[WinRate]]
    minimum: Decimal = Decimal("0.40")
    min_trades: int = 10
    window: timedelta = timedelta(days=30)
    name: str = "win_rate"
    kind: str = "win_rate"
    title: str = "win rate"

    async def evaluate(self, now: datetime) -> CheckResult:
        since = now - self.window
        wins, losses, _rate = await resolve(lambda: self.win_rate(since))
        trades = wins + losses
        if trades <= self.min_trades:
            return _ok(self.name, f"{trades} trades in {self.window.days} days: too few to judge")
        rate = Decimal(wins) / Decimal(trades)
        detail = f"win rate {rate:.0%} over {trades} trades in {self.window.days} days"
        if rate < self.minimum:
            return _fail(self.name, f"{detail} (under {self.minimum:.0%})", float(rate))
        return _ok(self.name, detail, float(rate))


class ErrorRateWindow:
    """Venue calls and errors over a sliding window; the venue wrapper calls `record`."""

    def __init__(self, clock: Clock, window_s: float = 300.0) -> None:
        self._clock = clock
        self.window_s = window_s
        self._calls: deque[tuple[float, bool]] = deque()

    def record(self, *, ok: bool) -> None:
        self._calls.append((self._clock.monotonic(), ok))
        self._trim()

    def counts(self) -> tuple[int, int]:
        """(errors, calls) within the window."""
        self._trim()
        errors = sum(1 for _, ok in self._calls if not ok)
        return errors, len(self._calls)

    def _trim(self) -> None:
        horizon = self._clock.monotonic() - self.window_s
        while self._calls and self._calls[0][0] < horizon:
            self._calls.popleft()


@dataclass(frozen=True, slots=True)
class VenueErrorCheck:
    """A spike: at least `min_errors` errors and `max_ratio` of the calls in the window."""

    counts: Provider[tuple[int, int]]  # (errors, calls) in the recent window
    min_errors: int = 5
    max_ratio: float = 0.25
    name: str = "venue_errors"
    kind: str = "venue_errors"
    title: str = "venue error rate"

    async def evaluate(self, now: datetime) -> CheckResult:
        errors, calls = await resolve(self.counts)
        ratio = errors / calls if calls else 0.0
        detail = f"{errors} errors in {calls} venue calls ({ratio:.0%})"
        if errors >= self.min_errors and ratio >= self.max_ratio:
            return _fail(self.name, detail, ratio)
        return _ok(self.name, detail, ratio)


@dataclass(frozen=True, slots=True)
class FeedCheck:
    feed_age_s: Provider[float | None]
    stale_after_s: float = 30.0
    name: str = "feed"
    kind: str = "feed_stale"
    title: str = "book feed"

    async def evaluate(self, now: datetime) -> CheckResult:
        age = await resolve(self.feed_age_s)
        if age is None:
            return _ok(self.name, "no book subscribed")
        detail = f"last book update {human(age)} ago (stale after {human(self.stale_after_s)})"
        if age > self.stale_after_s:
            return _fail(self.name, detail, age)
        return _ok(self.name, detail, age)


@dataclass(frozen=True, slots=True)
class ClockDriftCheck:
    """Our clock against the venue's server time, allowing for the round trip.

    Polymarket's /time has whole seconds: when the answer has no fraction the true server time
    is anywhere in [t, t + 1), so only a distance outside that interval counts as drift.
    """

    server_time: Provider[datetime]
    clock: Clock
    max_drift_s: float = 2.0
    name: str = "clock_drift"
    kind: str = "clock_drift"
    title: str = "clock drift"

    async def evaluate(self, now: datetime) -> CheckResult:
        started = self.clock.monotonic()
        server = await resolve(self.server_time)
        round_trip = self.clock.monotonic() - started
        local = self.clock.now() - timedelta(seconds=round_trip / 2)
        offset = (local - server).total_seconds()
        drift = offset
        if server.microsecond == 0:  # whole seconds: the server was somewhere in [t, t + 1)
            drift = 0.0 if 0.0 <= offset < 1.0 else (offset - 1.0 if offset >= 1.0 else offset)
        sign = "ahead of" if drift > 0 else "behind"
        detail = f"local clock {abs(drift):.2f} s {sign} the venue (round trip {round_trip:.2f} s)"
        if abs(drift) > self.max_drift_s:
            return _fail(self.name, detail, drift)
        return _ok(self.name, detail, drift)


def disk_free_fraction(path: Path) -> Callable[[], Awaitable[float]]:
    """A provider: the free fraction of the file system holding `path` (statvfs in a thread)."""

    async def read() -> float:
        usage = await asyncio.to_thread(shutil.disk_usage, path)
        return usage.free / usage.total if usage.total else 0.0

    return read


@dataclass(frozen=True, slots=True)
class DiskCheck:
    free_fraction: Provider[float]
    minimum: float = 0.10
    name: str = "disk"
    kind: str = "disk_space"
    title: str = "free disk"

    async def evaluate(self, now: datetime) -> CheckResult:
        free = await resolve(self.free_fraction)
        detail = f"{free:.1%} of the disk free (minimum {self.minimum:.0%})"
        if free < self.minimum:
            return _fail(self.name, detail, free, Severity.CRITICAL)
        return _ok(self.name, detail, free)


@dataclass(frozen=True, slots=True)
class LlmSpendCheck:
    spend: Provider[tuple[Decimal, Decimal]]  # (spent today, daily budget), as SpendSource
    maximum: Decimal = Decimal("0.80")
    name: str = "llm_spend"
    kind: str = "llm_budget"
    title: str = "LLM spend"

    async def evaluate(self, now: datetime) -> CheckResult:
        spent, budget = await resolve(self.spend)
        if budget <= 0:
            return _ok(self.name, f"${spent:.2f} spent today; no LLM budget set")
        share = spent / budget
        detail = f"${spent:.2f} of ${budget:.2f} spent today ({share:.0%})"
        if share > self.maximum:
            return _fail(self.name, detail, float(share))
        return _ok(self.name, detail, float(share))


class SupervisorCheck:
    """Fails while a component is tripped, or for `window_s` after any restart."""

    name = "supervisor"
    kind = "supervisor"
    title = "supervised components"

    def __init__(
        self,
        restarts_total: Provider[int],
        tripped: Provider[Sequence[str]],
        clock: Clock,
        *,
        window_s: float = 3600.0,
    ) -> None:
        self._restarts_total = restarts_total
        self._tripped = tripped
        self._clock = clock
        self._window_s = window_s
        self._seen: int | None = None
        self._restarts: deque[tuple[float, int]] = deque()  # (monotonic, how many)

    async def evaluate(self, now: datetime) -> CheckResult:
        total = await resolve(self._restarts_total)
        tripped = list(await resolve(self._tripped))
        mono = self._clock.monotonic()
        if self._seen is not None and total > self._seen:
            self._restarts.append((mono, total - self._seen))
        self._seen = total
        while self._restarts and mono - self._restarts[0][0] > self._window_s:
            self._restarts.popleft()
        recent = sum(count for _, count in self._restarts)
        if tripped:
            detail = f"stopped after repeated crashes: {', '.join(sorted(tripped))}"
            return _fail(self.name, detail, float(recent), Severity.CRITICAL)
        detail = f"{recent} restarts in the last {human(self._window_s)} ({total} since start)"
        if recent:
            return _fail(self.name, detail, float(recent))
        return _ok(self.name, detail, 0.0)

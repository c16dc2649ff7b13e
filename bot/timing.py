"""Time for the chat: quiet hours and token buckets, on the trader's injected `Clock`.

`bot` may import only `trader.control.api` and `trader.domain` from the trader, so the clock
protocol comes through `trader.control.api`. Times are timezone-aware UTC everywhere; the
operator's zone appears only when a quiet-hours window is checked or shown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo

from trader.control.api import Clock

_WINDOW = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)-([01]?\d|2[0-3]):([0-5]\d)$")


class QuietHoursError(ValueError):
    """A quiet-hours window that is not HH:MM-HH:MM."""


@dataclass(frozen=True, slots=True)
class QuietHours:
    """A daily window in the operator's zone; it may wrap midnight (22:00-07:00)."""

    start: time
    end: time

    @classmethod
    def parse(cls, text: str) -> QuietHours:
        match = _WINDOW.match(text.strip())
        if match is None:
            raise QuietHoursError(f"expected HH:MM-HH:MM (24-hour clock), got {text!r}")
        h1, m1, h2, m2 = (int(group) for group in match.groups())
        if (h1, m1) == (h2, m2):
            raise QuietHoursError("the window starts and ends at the same minute")
        return cls(time(h1, m1), time(h2, m2))

    def contains(self, when: datetime, zone: ZoneInfo) -> bool:
        local = when.astimezone(zone).time().replace(second=0, microsecond=0)
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


def parse_quiet_hours(text: str | None) -> QuietHours | None:
    """Stored form ('' or None = no quiet hours) -> value; a bad stored value is ignored."""
    if not text or text == "off":
        return None
    try:
        return QuietHours.parse(text)
    except QuietHoursError:
        return None


# Float sums of elapsed time leave a token at 0.9999999999999991 now and then; waiting the
# 3e-17 s still missing does not move a clock that reads 0.6 (0.6 + 3e-17 == 0.6), so an
# exact comparison would wait for ever. A billionth of a token is not worth a stall.
_SLACK = 1e-9


class TokenBucket:
    """`rate` tokens per second, at most `burst` banked. Time comes from the injected clock."""

    def __init__(self, clock: Clock, *, rate: float, burst: float) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a token bucket needs rate > 0 and burst >= 1")
        self._clock = clock
        self._rate = rate
        self._burst = burst
        self._tokens = burst
        self._stamp = clock.monotonic()

    def _refill(self) -> None:
        now = self._clock.monotonic()
        self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now

    def wait_time(self) -> float:
        """Seconds until one token is available (0 when one is available now)."""
        self._refill()
        return 0.0 if self._tokens >= 1 - _SLACK else (1 - self._tokens) / self._rate

    def take(self) -> bool:
        self._refill()
        if self._tokens >= 1 - _SLACK:
            self._tokens = max(0.0, self._tokens - 1)
            return True
        return False

    async def acquire(self) -> None:
        while not self.take():
            await self._clock.sleep(self.wait_time())

"""Pure arithmetic for the report: the operator's day, scores, uptime, series for the charts.

No I/O and no clock reads: every function takes the times it needs. Probabilities and money
stay `Decimal`; the charts convert to float only when drawing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from itertools import pairwise
from zoneinfo import ZoneInfo

from trader.domain import ONE, ZERO
from trader.reports.model import CalibrationBin, DayWindow, EquityPoint, Uptime

CALIBRATION_BINS = 10
ELLIPSIS = "…"


def day_window(day: date, zone: ZoneInfo) -> DayWindow:
    """The operator's calendar day `day` as UTC [start, end): 23 or 25 hours across DST."""
    start = datetime.combine(day, time(0), zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), zone).astimezone(UTC)
    return DayWindow(day=day, start=start, end=end, zone=zone.key)


def yesterday(now: datetime, zone: ZoneInfo) -> date:
    """The operator's previous calendar day at `now` (aware)."""
    return now.astimezone(zone).date() - timedelta(days=1)


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), zone).astimezone(UTC)


def truncate(text: str, limit: int) -> str:
    """`text` on one line, at most `limit` characters, with an ellipsis when cut."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: max(1, limit - 1)].rstrip() + ELLIPSIS


# --- forecasts ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Resolved:
    """One resolved forecast: the model's own probability (its aggregate), the market's price
    then, the payout, and the blend of the two that was traded (None on rows from before the
    aggregate was stored, whose `model` is the traded view)."""

    model: Decimal
    market: Decimal | None
    outcome: Decimal
    blend: Decimal | None = None


def brier(pairs: Iterable[tuple[Decimal, Decimal]]) -> Decimal | None:
    """Mean squared error of probabilities against outcomes; None for no pairs."""
    total, count = ZERO, 0
    for probability, outcome in pairs:
        total += (probability - outcome) ** 2
        count += 1
    return total / count if count else None


def scores(rows: Sequence[Resolved]) -> tuple[int, Decimal | None, Decimal | None]:
    """(pairs, model Brier, market Brier) over the forecasts that have a market price, so the
    two scores are over the same questions."""
    paired = [r for r in rows if r.market is not None]
    model = brier((r.model, r.outcome) for r in paired)
    market = brier((r.market, r.outcome) for r in paired if r.market is not None)
    return len(paired), model, market


def blend_score(rows: Sequence[Resolved]) -> tuple[int, Decimal | None]:
    """(pairs, the blend's Brier) over the forecasts that stored a blend and a market price."""
    paired = [r for r in rows if r.market is not None and r.blend is not None]
    return len(paired), brier((r.blend, r.outcome) for r in paired if r.blend is not None)


def calibration_bins(
    pairs: Iterable[tuple[Decimal, Decimal]], bins: int = CALIBRATION_BINS
) -> tuple[CalibrationBin, ...]:
    """Reliability: forecasts grouped by probability into `bins` equal bins (1 in the last);
    per non-empty bin, the mean probability and how often the outcome happened."""
    sums: dict[int, tuple[Decimal, Decimal, int]] = {}
    width = ONE / bins
    for probability, outcome in pairs:
        index = min(bins - 1, max(0, int(probability * bins)))
        p_sum, o_sum, count = sums.get(index, (ZERO, ZERO, 0))
        sums[index] = (p_sum + probability, o_sum + outcome, count + 1)
    return tuple(
        CalibrationBin(
            low=index * width,
            high=(index + 1) * width,
            mean_probability=p_sum / count,
            frequency=o_sum / count,
            count=count,
        )
        for index, (p_sum, o_sum, count) in sorted(sums.items())
    )


# --- uptime ------------------------------------------------------------------------------


def uptime(
    samples: Sequence[datetime],
    start: datetime,
    end: datetime,
    *,
    gap: timedelta,
    restarts: int = 0,
    heartbeats: tuple[tuple[str, float], ...] = (),
) -> Uptime:
    """Liveness over [start, end) from sorted sample times (the trader writes one every few
    minutes; include the last one before `start`). A stretch longer than `gap` without a
    sample counts as down, in full, as does the time before the first sample."""
    span = end - start
    if span <= timedelta(0) or not samples or samples[0] >= end:
        return Uptime(None, restarts=restarts, heartbeats=heartbeats)
    gaps: list[tuple[datetime, datetime]] = []
    if samples[0] > start:
        gaps.append((start, samples[0]))
    gaps.extend((a, b) for a, b in pairwise(samples) if b - a > gap)
    if end - samples[-1] > gap:
        gaps.append((samples[-1], end))
    down, longest, longest_at = timedelta(0), timedelta(0), None
    for a, b in gaps:
        clipped = min(b, end) - max(a, start)
        if clipped <= timedelta(0):
            continue
        down += clipped
        if clipped > longest:
            longest, longest_at = clipped, max(a, start)
    fraction = Decimal(str(round(1 - down / span, 6)))
    return Uptime(fraction, down, longest, longest_at, restarts, heartbeats)


# --- equity series -----------------------------------------------------------------------


class EquitySeries:
    """Fed snapshots oldest first: the running peak, each operator day's first and last
    equity (for exact daily PnL), and the curve to draw, kept as it streams in: [start, end)
    is cut into `limit // 2` buckets, each keeping its lowest point and its last, so a year
    of 5-minute snapshots becomes about `limit` points and a drawdown stays visible."""

    def __init__(self, zone: ZoneInfo, start: datetime, end: datetime, limit: int = 1500) -> None:
        self._zone = zone
        self._start = start
        self._bucket_s = max(1.0, (end - start).total_seconds() / max(1, limit // 2))
        self._peak = ZERO
        self._buckets: dict[int, tuple[EquityPoint, EquityPoint]] = {}  # (lowest, last)
        self._days: dict[date, tuple[Decimal, Decimal]] = {}  # day -> (first, last)
        self._flows: dict[date, Decimal] = {}  # day -> deposits less withdrawals (not PnL)
        self._day: date | None = None
        self._day_span = (start, start)

    def add(self, at: datetime, equity: Decimal, drawdown: Decimal) -> None:
        """A snapshot. Its stored drawdown is net of cash flows (the peak scaled with each
        deposit or withdrawal), so the curve's peak is the one that drawdown implies."""
        self._peak = equity / (ONE - drawdown) if ZERO < drawdown < ONE else equity
        day = self._local_day(at)
        first_last = self._days.get(day)
        self._days[day] = (equity if first_last is None else first_last[0], equity)
        if at < self._start:
            return
        point = EquityPoint(at, equity, self._peak)
        index = int((at - self._start).total_seconds() // self._bucket_s)
        kept = self._buckets.get(index)
        low = point if kept is None or equity < kept[0].equity else kept[0]
        self._buckets[index] = (low, point)

    def flow(self, at: datetime, amount: Decimal) -> None:
        """A deposit (> 0) or withdrawal (< 0): its day's PnL does not count it."""
        day = at.astimezone(self._zone).date()
        self._flows[day] = self._flows.get(day, ZERO) + amount

    def _local_day(self, at: datetime) -> date:
        """The operator's date of `at`, converting only when a snapshot crosses midnight."""
        if self._day is None or not self._day_span[0] <= at < self._day_span[1]:
            self._day = at.astimezone(self._zone).date()
            self._day_span = (
                local_midnight(self._day, self._zone),
                local_midnight(self._day + timedelta(days=1), self._zone),
            )
        return self._day

    def points(self) -> tuple[EquityPoint, ...]:
        kept: list[EquityPoint] = []
        for index in sorted(self._buckets):
            low, last = self._buckets[index]
            kept.extend((low, last) if low is not last else (last,))
        return tuple(kept)

    def daily_pnl(self, first_day: date) -> tuple[tuple[date, Decimal], ...]:
        """Per day from `first_day`: the day's last equity minus the previous day's last (or,
        with no earlier snapshot, the day's first), less the day's cash flows."""
        result: list[tuple[date, Decimal]] = []
        previous: Decimal | None = None
        for day in sorted(self._days):
            first, last = self._days[day]
            if day >= first_day:
                change = last - (first if previous is None else previous)
                result.append((day, change - self._flows.get(day, ZERO)))
            previous = last
        return tuple(result)


def daily_totals(
    rows: Iterable[tuple[datetime, str, Decimal]], zone: ZoneInfo
) -> dict[str, tuple[tuple[date, Decimal], ...]]:
    """(time, key, amount) summed per key and operator day, days ascending."""
    totals: dict[str, dict[date, Decimal]] = {}
    for at, key, amount in rows:
        day = at.astimezone(zone).date()
        per_day = totals.setdefault(key, {})
        per_day[day] = per_day.get(day, ZERO) + amount
    return {key: tuple(sorted(days.items())) for key, days in totals.items()}


def top_with_other(
    values: Iterable[tuple[str, Decimal]], limit: int, *, other: str = "other"
) -> tuple[tuple[str, Decimal], ...]:
    """Summed by label, largest first; beyond `limit - 1` labels the rest is one "other (n)"."""
    sums: dict[str, Decimal] = {}
    for label, value in values:
        sums[label] = sums.get(label, ZERO) + value
    ranked = sorted(sums.items(), key=lambda item: (-item[1], item[0]))
    if len(ranked) <= limit:
        return tuple(ranked)
    head, tail = ranked[: limit - 1], ranked[limit - 1 :]
    return (*head, (f"{other} ({len(tail)})", sum((v for _, v in tail), ZERO)))


def duration(value: timedelta | float) -> str:
    """A short human duration: "45 s", "12 min", "3 h 05 min", "2 d 4 h"."""
    seconds = int(value.total_seconds() if isinstance(value, timedelta) else value)
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"

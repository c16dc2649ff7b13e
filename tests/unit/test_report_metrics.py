"""The report's pure arithmetic: operator days across DST, scores, uptime, series."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from trader.reports.metrics import (
    EquitySeries,
    Resolved,
    brier,
    calibration_bins,
    day_window,
    duration,
    scores,
    top_with_other,
    truncate,
    uptime,
    yesterday,
)

NEW_YORK = ZoneInfo("America/New_York")
D = Decimal


@pytest.mark.parametrize(
    ("day", "hours", "start_utc"),
    [
        (date(2026, 3, 8), 23, datetime(2026, 3, 8, 5, tzinfo=UTC)),  # spring forward
        (date(2026, 11, 1), 25, datetime(2026, 11, 1, 4, tzinfo=UTC)),  # fall back
        (date(2026, 6, 1), 24, datetime(2026, 6, 1, 4, tzinfo=UTC)),
    ],
)
def test_day_window_is_the_operators_calendar_day(
    day: date, hours: int, start_utc: datetime
) -> None:
    window = day_window(day, NEW_YORK)

    assert window.start == start_utc
    assert window.hours == hours
    assert window.end - window.start == timedelta(hours=hours)
    assert window.zone == "America/New_York"


def test_yesterday_is_taken_in_the_operators_zone_not_utc() -> None:
    # 02:30 UTC on 9 March is still 8 March (22:30 EDT) in New York.
    now = datetime(2026, 3, 9, 2, 30, tzinfo=UTC)

    assert yesterday(now, NEW_YORK) == date(2026, 3, 7)
    assert yesterday(now, ZoneInfo("UTC")) == date(2026, 3, 8)
    assert yesterday(now, ZoneInfo("Asia/Tokyo")) == date(2026, 3, 8)


def test_brier_and_paired_scores_by_hand() -> None:
    rows = [
        Resolved(D("0.8"), D("0.6"), D(1)),
        Resolved(D("0.3"), D("0.5"), D(0)),
        Resolved(D("0.9"), None, D(0)),  # no market price: left out of the comparison
    ]

    scored, model, market = scores(rows)

    assert scored == 2
    assert model == D("0.065")  # (0.2^2 + 0.3^2) / 2
    assert market == D("0.205")  # (0.4^2 + 0.5^2) / 2
    assert brier([]) is None


def test_calibration_bins_group_by_probability_and_count_outcomes() -> None:
    pairs = [(D("0.05"), D(0)), (D("0.08"), D(1)), (D("0.95"), D(1)), (D(1), D(1))]

    bins = calibration_bins(pairs)

    assert [(b.low, b.high, b.count) for b in bins] == [
        (D(0), D("0.1"), 2),
        (D("0.9"), D("1.0"), 2),
    ]
    assert bins[0].mean_probability == D("0.065")
    assert bins[0].frequency == D("0.5")
    assert bins[1].frequency == D(1)


def test_uptime_counts_gaps_longer_than_the_threshold_in_full() -> None:
    start = datetime(2026, 3, 8, 5, tzinfo=UTC)
    end = start + timedelta(hours=23)
    samples = [start - timedelta(minutes=10)]
    samples += [start + timedelta(minutes=10 * i) for i in range(138)]
    samples = [
        s for s in samples if not start + timedelta(hours=5) <= s < start + timedelta(hours=7)
    ]

    result = uptime(samples, start, end, gap=timedelta(minutes=15), restarts=1)

    assert result.down == timedelta(hours=2, minutes=10)
    assert result.longest_gap == timedelta(hours=2, minutes=10)
    assert result.longest_gap_at == start + timedelta(hours=4, minutes=50)
    assert result.fraction == D("0.905797")
    assert result.restarts == 1


def test_uptime_without_samples_is_unknown_and_before_the_first_sample_is_down() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    end = start + timedelta(hours=24)

    assert uptime([], start, end, gap=timedelta(minutes=15)).fraction is None
    late = uptime(
        [start + timedelta(hours=12, minutes=m) for m in range(0, 721, 5)],
        start,
        end,
        gap=timedelta(minutes=15),
    )
    assert late.fraction == D("0.5")
    assert late.longest_gap_at == start


def test_equity_series_daily_pnl_uses_the_previous_days_close() -> None:
    zone = ZoneInfo("UTC")
    series = EquitySeries(zone, datetime(2026, 1, 2, tzinfo=UTC), datetime(2026, 1, 5, tzinfo=UTC))
    series.add(datetime(2026, 1, 1, 23, tzinfo=UTC), D(1000), D(0))  # before the window
    series.add(datetime(2026, 1, 2, 1, tzinfo=UTC), D(1005), D(0))
    series.add(datetime(2026, 1, 2, 23, tzinfo=UTC), D(990), D("0.05"))
    series.add(datetime(2026, 1, 4, 12, tzinfo=UTC), D(1001), D(0))

    assert series.daily_pnl(date(2026, 1, 2)) == (
        (date(2026, 1, 2), D(-10)),
        (date(2026, 1, 4), D(11)),
    )
    points = series.points()
    assert len(points) == 3  # the snapshot before the window only seeds the peak and PnL
    # the stored drawdown reveals a peak above anything in the window: 990 / 0.95
    assert points[1].peak == D(990) / D("0.95")


def test_equity_series_thins_a_year_but_keeps_the_low_points_and_the_last() -> None:
    zone = ZoneInfo("UTC")
    start = datetime(2025, 1, 1, tzinfo=UTC)
    series = EquitySeries(zone, start, start + timedelta(days=365), limit=500)
    for i in range(365 * 288):  # every 5 minutes for a year
        dip = 500 if i == 77_777 else 0
        series.add(start + timedelta(minutes=5 * i), D(1000 - dip), D(0))

    kept = series.points()

    assert len(kept) <= 500
    assert min(p.equity for p in kept) == D(500)
    assert kept[-1].at == start + timedelta(minutes=5 * (365 * 288 - 1))
    assert list(kept) == sorted(kept, key=lambda p: p.at)
    assert len(series.daily_pnl(start.date())) == 365


def test_top_with_other_sums_labels_and_folds_the_tail() -> None:
    values = [(f"m{i}", D(i)) for i in range(1, 13)] + [("m12", D(1))]

    top = top_with_other(values, 4)

    assert top == (("m12", D(13)), ("m11", D(11)), ("m10", D(10)), ("other (9)", D(45)))


def test_truncate_and_duration_are_short_and_flat() -> None:
    assert truncate("Will  it\nrain?", 40) == "Will it rain?"
    assert truncate("abcdefghij", 5) == "abcd…"
    assert duration(42) == "42 s"
    assert duration(timedelta(minutes=130)) == "2 h 10 min"
    assert duration(timedelta(days=3, hours=2)) == "3 d 2 h"

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from trader.clock import FakeClock
from trader.signals.budget import (
    HAIKU,
    SONNET,
    BudgetExceeded,
    DailyBudget,
    ModelPrice,
    estimate_tokens,
)
from trader.signals.records import InMemoryUsageRecorder, UsageRecord
from trader.signals.throttle import TokenBucket

NEW_YORK = ZoneInfo("America/New_York")


def usage(when: datetime, cost: str) -> UsageRecord:
    return UsageRecord(when, "m", "analysis", 0, 0, 0, 0, Decimal(cost), ok=True)


async def test_budget_refuses_a_reservation_that_would_pass_the_limit() -> None:
    budget = DailyBudget(Decimal(1), FakeClock(), UTC)
    first = await budget.reserve(Decimal("0.6"))
    with pytest.raises(BudgetExceeded) as refused:
        await budget.reserve(Decimal("0.5"))
    assert refused.value.remaining == Decimal("0.4")
    await budget.settle(first, Decimal("0.1"))
    await budget.reserve(Decimal("0.5"))
    state = await budget.state()
    assert (state.spent, state.reserved, state.remaining) == (
        Decimal("0.1"),
        Decimal("0.5"),
        Decimal("0.4"),
    )


async def test_parallel_reservations_never_overshoot() -> None:
    budget = DailyBudget(Decimal(5), FakeClock(), UTC)
    all_tried = asyncio.Event()
    tried = 0

    async def call() -> bool:
        nonlocal tried
        try:
            reservation = await budget.reserve(Decimal(1))
        except BudgetExceeded:
            return False
        finally:
            tried += 1
            if tried == 16:
                all_tried.set()
        await all_tried.wait()  # every call is "in flight" before any settles
        await budget.settle(reservation, Decimal("0.9"))
        return True

    results = await asyncio.gather(*(call() for _ in range(16)))
    state = await budget.state()
    assert sum(results) == 5
    assert state.spent == Decimal("4.5")
    assert state.reserved == 0


async def test_release_returns_the_whole_reservation() -> None:
    budget = DailyBudget(Decimal(1), FakeClock(), UTC)
    reservation = await budget.reserve(Decimal(1))
    await budget.release(reservation)
    assert (await budget.state()).remaining == Decimal(1)


async def test_the_day_is_the_operators_day_and_rolls_over_at_local_midnight() -> None:
    # 03:30 UTC on 2 March is still 1 March in New York (UTC-5).
    clock = FakeClock(datetime(2026, 3, 2, 3, 30, tzinfo=UTC))
    budget = DailyBudget(Decimal(1), clock, NEW_YORK)
    reservation = await budget.reserve(Decimal(1))
    await budget.settle(reservation, Decimal(1))
    assert (await budget.state()).day.isoformat() == "2026-03-01"
    with pytest.raises(BudgetExceeded):
        await budget.reserve(Decimal("0.01"))
    clock.set(datetime(2026, 3, 2, 5, 0, 1, tzinfo=UTC))  # 00:00:01 in New York
    await budget.reserve(Decimal("0.5"))
    assert (await budget.state()).day.isoformat() == "2026-03-02"


async def test_spend_already_recorded_today_is_read_back_after_a_restart() -> None:
    clock = FakeClock(datetime(2026, 3, 2, 15, tzinfo=UTC))
    ledger = InMemoryUsageRecorder()
    await ledger.record(usage(datetime(2026, 3, 2, 4, 59, tzinfo=UTC), "5"))  # yesterday in NY
    await ledger.record(usage(datetime(2026, 3, 2, 5, 1, tzinfo=UTC), "0.75"))  # today
    budget = DailyBudget(Decimal(1), clock, NEW_YORK, ledger=ledger)
    assert (await budget.state()).spent == Decimal("0.75")
    with pytest.raises(BudgetExceeded):
        await budget.reserve(Decimal("0.3"))


def test_day_bounds_follow_daylight_saving() -> None:
    budget = DailyBudget(Decimal(1), FakeClock(), NEW_YORK)
    start, end = budget.day_bounds(date(2026, 3, 8))  # DST starts: a 23-hour day
    assert end - start == timedelta(hours=23)


def test_cost_counts_each_token_kind_at_its_price() -> None:
    price = ModelPrice(Decimal(3), Decimal(15), Decimal("0.30"), Decimal("3.75"))
    cost = price.cost(
        input_tokens=1_000_000,
        output_tokens=100_000,
        cache_read_tokens=1_000_000,
        cache_write_tokens=100_000,
    )
    assert cost == Decimal(3) + Decimal("1.5") + Decimal("0.3") + Decimal("0.375")
    assert SONNET.input > HAIKU.input


def test_sonnet_cache_writes_cost_1_25x_or_2x_input_reads_0_1x_and_a_batch_half() -> None:
    # 2,000 prompt tokens: 1,500 read from the cache, 300 written (100 of them for an hour),
    # 200 plain input; 400 output. Sonnet: $3 in, $15 out a million.
    tokens = {
        "input_tokens": 200,
        "output_tokens": 400,
        "cache_read_tokens": 1500,
        "cache_write_tokens": 300,
        "cache_write_1h_tokens": 100,
    }
    direct = SONNET.cost(**tokens)
    batched = SONNET.discounted(Decimal("0.5")).cost(**tokens)

    # 200 x 3 + 400 x 15 + 1,500 x 0.30 + 200 x 3.75 + 100 x 6 = 8,400 per million
    assert direct == Decimal("0.0084")
    assert batched == Decimal("0.0042")
    assert SONNET.cache_read == SONNET.input / 10
    assert SONNET.cache_write == SONNET.input * Decimal("1.25")
    assert SONNET.hour_write == SONNET.input * 2 == HAIKU.hour_write * 3


def test_hour_writes_cannot_exceed_the_writes() -> None:
    with pytest.raises(ValueError, match="1-hour cache writes"):
        SONNET.cost(input_tokens=0, output_tokens=0, cache_write_tokens=1, cache_write_1h_tokens=2)


def test_worst_case_is_an_upper_bound_of_any_split_of_the_same_prompt() -> None:
    worst = SONNET.worst_case(prompt_tokens=1000, max_output_tokens=500)
    for split in range(0, 1001, 250):
        actual = SONNET.cost(
            input_tokens=1000 - split,
            output_tokens=500,
            cache_write_tokens=split,
            cache_write_1h_tokens=split // 2,
        )
        assert actual <= worst


def test_estimate_tokens_overestimates_prose() -> None:
    text = "The Federal Reserve held interest rates steady on Wednesday. " * 20
    assert estimate_tokens(text) >= len(text) / 3


async def test_token_bucket_allows_a_burst_then_waits_on_the_clock() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=2.0, capacity=3, clock=clock)
    waits = [await bucket.acquire() for _ in range(5)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert waits[3] == pytest.approx(0.5)
    assert waits[4] == pytest.approx(0.5)
    assert clock.monotonic() == pytest.approx(1.0)


async def test_token_bucket_refills_up_to_capacity_only() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=1.0, capacity=2, clock=clock)
    await bucket.acquire()
    clock.advance(100)
    assert bucket.available == 2
    with pytest.raises(ValueError, match="more tokens"):
        await bucket.acquire(3)


async def test_token_bucket_on_a_fake_clock_never_waits_for_float_dust() -> None:
    # 5 a second: the refills leave 0.9999999999999998 tokens at 1.2 s, and a wait of 4e-17 s
    # does not move a float clock at 1.2; the bucket used to spin there forever
    clock = FakeClock()
    bucket = TokenBucket(rate=5.0, capacity=10, clock=clock)

    async with asyncio.timeout(5):
        for _ in range(200):
            await bucket.acquire()

    assert clock.monotonic() == pytest.approx(190 / 5)
    assert len(clock.sleeps) < 250


async def test_token_bucket_far_into_a_fake_clock_never_spins() -> None:
    clock = FakeClock()
    clock.advance(1e7)  # where a float clock's step is ~2e-9 s
    bucket = TokenBucket(rate=3.0, capacity=10, clock=clock)

    async with asyncio.timeout(5):
        for _ in range(200):
            await bucket.acquire()

    assert clock.monotonic() - 1e7 == pytest.approx(190 / 3, abs=1e-3)

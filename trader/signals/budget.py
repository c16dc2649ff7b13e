"""A daily spending limit for model calls that parallel calls cannot overshoot.

Before a call, the caller reserves its worst-case cost (the whole prompt at the dearest input
rate plus `max_tokens` of output); after, it settles the reservation to the actual cost. Both
happen under one asyncio lock, and a reservation is refused when spent + reserved + amount
would pass the limit. So however many calls run at once, spend stays within the limit as long
as the worst-case estimate is an upper bound.

The day is the operator's calendar day (time zone injected). On the first use of a day, what was
already spent that day is read back from the ledger, so a restart does not reset the budget.

Model prices (USD per million tokens) and the cost arithmetic live here too.
"""

from __future__ import annotations

import asyncio
import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import Decimal
from typing import Protocol

from trader.clock import Clock
from trader.domain import ZERO

MILLION = Decimal(1_000_000)


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """USD per million tokens, as Anthropic bills them: cache writes with the 5-minute lifetime
    cost 1.25x input, with the 1-hour lifetime 2x (`cache_write_1h`, 2x input when not given),
    cache reads 0.1x; the Message Batches API halves every rate (`discounted`)."""

    input: Decimal
    output: Decimal
    cache_read: Decimal
    cache_write: Decimal
    cache_write_1h: Decimal | None = None

    @property
    def hour_write(self) -> Decimal:
        return self.cache_write_1h if self.cache_write_1h is not None else self.input * 2

    def cost(
        self,
        *,
        input_tokens: int,
        output_tokens: int,
        cache_read_tokens: int = 0,
        cache_write_tokens: int = 0,
        cache_write_1h_tokens: int = 0,
    ) -> Decimal:
        """Cost of one call. Anthropic's `input_tokens` excludes the cached ones;
        `cache_write_tokens` counts every write, `cache_write_1h_tokens` those of them with the
        1-hour lifetime."""
        if not 0 <= cache_write_1h_tokens <= cache_write_tokens:
            raise ValueError("1-hour cache writes are a part of the cache writes")
        total = (
            self.input * input_tokens
            + self.output * output_tokens
            + self.cache_read * cache_read_tokens
            + self.cache_write * (cache_write_tokens - cache_write_1h_tokens)
            + self.hour_write * cache_write_1h_tokens
        )
        return total / MILLION

    def discounted(self, factor: Decimal) -> ModelPrice:
        """Every rate times `factor` (the Message Batches API bills half)."""
        return ModelPrice(
            self.input * factor,
            self.output * factor,
            self.cache_read * factor,
            self.cache_write * factor,
            self.hour_write * factor,
        )

    def worst_case(self, *, prompt_tokens: int, max_output_tokens: int) -> Decimal:
        """An upper bound for a call: every prompt token at the dearest input rate."""
        dearest = max(self.input, self.cache_write, self.cache_read, self.hour_write)
        return (dearest * prompt_tokens + self.output * max_output_tokens) / MILLION


# List prices (USD per million tokens) as published for these models in 2026; constructor
# settings, so an operator can change them. Sonnet 4.5 is kept priced for operators who pin it,
# but it is not the default: the SDK marks it deprecated (end of life 2026-11-30).
HAIKU = ModelPrice(Decimal(1), Decimal(5), Decimal("0.10"), Decimal("1.25"), Decimal(2))
SONNET = ModelPrice(Decimal(3), Decimal(15), Decimal("0.30"), Decimal("3.75"), Decimal(6))
DEFAULT_PRICES: Mapping[str, ModelPrice] = {
    "claude-haiku-4-5": HAIKU,
    "claude-sonnet-4-6": SONNET,
    "claude-sonnet-4-5": SONNET,
}


def estimate_tokens(text: str, *, chars_per_token: float = 2.0) -> int:
    """A deliberately high token count for `text`.

    English averages about four characters a token; two (the default) overestimates ordinary
    prose and headlines by about half, which keeps a budget reservation an upper bound.
    """
    return math.ceil(len(text) / chars_per_token) + 8


class BudgetExceeded(Exception):
    """The call would take the day's spend past the limit: it is not made."""

    def __init__(self, needed: Decimal, remaining: Decimal, limit: Decimal) -> None:
        super().__init__(
            f"LLM budget: need up to ${needed:.4f}, ${remaining:.4f} of ${limit:.2f} left today"
        )
        self.needed = needed
        self.remaining = remaining
        self.limit = limit


class SpendLedger(Protocol):
    async def spent_between(self, start: datetime, end: datetime) -> Decimal: ...


@dataclass(frozen=True, slots=True)
class Reservation:
    reservation_id: int
    amount: Decimal


@dataclass(frozen=True, slots=True)
class BudgetState:
    day: date
    limit: Decimal
    spent: Decimal
    reserved: Decimal

    @property
    def remaining(self) -> Decimal:
        return self.limit - self.spent - self.reserved


class DailyBudget:
    def __init__(
        self,
        limit: Decimal,
        clock: Clock,
        tz: tzinfo,
        *,
        ledger: SpendLedger | None = None,
    ) -> None:
        if limit < ZERO:
            raise ValueError("the daily budget cannot be negative")
        self.limit = limit
        self._clock = clock
        self._tz = tz
        self._ledger = ledger
        self._lock = asyncio.Lock()
        self._day: date | None = None
        self._spent = ZERO
        self._outstanding: dict[int, Decimal] = {}
        self._ids = itertools.count(1)

    def _today(self) -> date:
        return self._clock.now().astimezone(self._tz).date()

    def day_bounds(self, day: date) -> tuple[datetime, datetime]:
        """The operator's day as a UTC [start, end) pair (DST-correct with zoneinfo)."""
        start = datetime.combine(day, time(), tzinfo=self._tz).astimezone(UTC)
        end = datetime.combine(day + timedelta(days=1), time(), tzinfo=self._tz).astimezone(UTC)
        return start, end

    async def _roll(self) -> None:
        today = self._today()
        if today == self._day:
            return
        self._day = today
        self._spent = ZERO
        if self._ledger is not None:
            start, end = self.day_bounds(today)
            self._spent = await self._ledger.spent_between(start, end)

    @property
    def _reserved(self) -> Decimal:
        return sum(self._outstanding.values(), ZERO)

    async def reserve(self, amount: Decimal) -> Reservation:
        """Hold `amount` against today's limit, or raise `BudgetExceeded`."""
        if amount < ZERO:
            raise ValueError("a reservation cannot be negative")
        async with self._lock:
            await self._roll()
            remaining = self.limit - self._spent - self._reserved
            if amount > remaining:
                raise BudgetExceeded(amount, max(remaining, ZERO), self.limit)
            reservation = Reservation(next(self._ids), amount)
            self._outstanding[reservation.reservation_id] = amount
            return reservation

    async def settle(self, reservation: Reservation, actual: Decimal) -> None:
        """Replace the reservation by what the call really cost (zero if it was never billed)."""
        async with self._lock:
            await self._roll()
            self._outstanding.pop(reservation.reservation_id, None)
            self._spent += actual

    async def release(self, reservation: Reservation) -> None:
        await self.settle(reservation, ZERO)

    async def state(self) -> BudgetState:
        async with self._lock:
            await self._roll()
            return BudgetState(self._today(), self.limit, self._spent, self._reserved)

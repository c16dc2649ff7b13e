"""A token bucket on the injected clock: the request-rate limit of the LLM clients."""

from __future__ import annotations

import asyncio

from trader.clock import Clock

_DUST = 1e-9  # tokens


class TokenBucket:
    """`rate` tokens a second, at most `capacity` saved up. `acquire` waits for one token.

    Waiters are served in arrival order (the lock is fair), and the wait is done with the
    clock's `sleep`, so a fake clock moves time instead of blocking.
    """

    def __init__(self, rate: float, capacity: float, clock: Clock) -> None:
        if rate <= 0 or capacity < 1:
            raise ValueError("a token bucket needs rate > 0 and capacity >= 1")
        self.rate = rate
        self.capacity = capacity
        self._clock = clock
        self._tokens = capacity
        self._updated = clock.monotonic()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self._clock.monotonic()
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(self.capacity, self._tokens + elapsed * self.rate)
        self._updated = now

    @property
    def available(self) -> float:
        self._refill()
        return self._tokens

    async def acquire(self, tokens: float = 1.0) -> float:
        """Take `tokens`, waiting as long as needed; returns the seconds waited."""
        if tokens > self.capacity:
            raise ValueError("cannot take more tokens than the bucket holds")
        waited = 0.0
        async with self._lock:
            self._refill()
            # A shortfall of float dust is none; and a wait too short for the clock's float to
            # show (a fake clock asked for 1e-17 s at 1.2 s) counts as done, or it would spin.
            while self._tokens < tokens - _DUST:
                delay = (tokens - self._tokens) / self.rate
                before = self._clock.monotonic()
                await self._clock.sleep(delay)
                waited += delay
                if self._clock.monotonic() == before:
                    self._tokens = tokens
                self._refill()
            self._tokens = max(0.0, self._tokens - tokens)
        return waited

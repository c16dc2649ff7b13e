"""The bounded retry of venue reads: one primitive, whatever client made the read.

A read that failed certainly had no effect, so a throttled, restarting or unreachable venue is
asked again after the delay it advertised (or an exponential backoff), a bounded number of
times in all. `classify` turns what the client raised into the venue's typed error: the
Polymarket SDK's exceptions are mapped by `trader.venue.polymarket.errors.map_read_error`;
the SDK-free public reads (`trader.venue.polymarket.public`) raise typed errors already.
Never use this for submits.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from trader.clock import Clock
from trader.venue.base import (
    Maintenance,
    PostOnlyMode,
    RateLimited,
    VenueError,
    VenueUnavailable,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
RETRYABLE = (RateLimited, Maintenance, PostOnlyMode, VenueUnavailable)


def as_venue_error(error: BaseException) -> VenueError:
    """A typed venue error as it is; a timeout as the venue unavailable; anything else as a
    venue error that is not retried."""
    if isinstance(error, VenueError):
        return error
    if isinstance(error, asyncio.TimeoutError | TimeoutError):
        return VenueUnavailable(f"venue unreachable: {error or type(error).__name__}")
    return VenueError(f"venue call failed: {type(error).__name__}: {error}")


async def retry_read(
    call: Callable[[], Awaitable[T]],
    *,
    clock: Clock,
    what: str,
    attempts: int = 3,
    base_delay: float = 0.5,
    max_delay: float = 30.0,
    classify: Callable[[BaseException], VenueError] = as_venue_error,
) -> T:
    """Run a read; on a retryable failure wait the advertised delay (or back off) and try
    again, at most `attempts` times in all."""
    for attempt in range(1, attempts + 1):
        try:
            return await call()
        except Exception as raw:
            error = classify(raw)
            if not isinstance(error, RETRYABLE) or attempt == attempts:
                if error is raw:
                    raise
                raise error from raw
            advertised = getattr(error, "retry_after", None)
            delay = advertised if advertised is not None else base_delay * 2 ** (attempt - 1)
            delay = min(max(delay, 0.0), max_delay)
            log.warning("%s failed (%s); retry %d in %.2f s", what, error, attempt, delay)
            await clock.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


__all__ = ["RETRYABLE", "as_venue_error", "retry_read"]

"""The one protocol every venue implements: live Polymarket, paper, and anything a test injects.

Paper and live differ only in which implementation the composition root injects. Domain values
are `Decimal`; rounding to the market's tick size and size precision happens in the venue layer
(`trader.venue.rounding`), and an order the venue would refuse is refused before anything is sent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from trader.domain import Balance, Book, Fill, Market, Order, OrderRequest, OrderStatus, Position


class VenueError(Exception):
    """Base of every error a venue raises. `retryable` says whether trying again may help."""

    retryable: bool = False

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class OrderRefused(VenueError):
    """Refused locally before sending: below minimum size, outside [tick, 1 - tick], etc."""


class RateLimited(VenueError):
    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message, code="rate_limited")
        self.retry_after = retry_after


class Maintenance(VenueError):
    """HTTP 425: the matching engine is restarting (about 90 s weekly)."""

    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message, code="maintenance")
        self.retry_after = retry_after


class PostOnlyMode(VenueError):
    """HTTP 503 with code post_only_mode: only post-only orders are accepted for a while."""

    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message, code="post_only_mode")
        self.retry_after = retry_after


class VenueUnavailable(VenueError):
    """5xx or a connection failure where the request certainly had no effect (reads)."""

    retryable = True


class OrderRejected(VenueError):
    """The venue answered and said no, with its error code (INVALID_ORDER_MIN_SIZE, ...)."""


class WalletNotReady(VenueError):
    """The configured wallet cannot trade yet (not deployed, not this key's): fixed by a
    setting or by `trader setup`, not by waiting. `setting` names what to look at."""

    def __init__(self, message: str, *, setting: str = "POLYMARKET_SIGNATURE_TYPE") -> None:
        super().__init__(message, code="wallet_not_ready")
        self.setting = setting


class UnknownOutcome(VenueError):
    """A submit timed out or the connection reset: the order may or may not exist.

    Resolve by looking the order id (its hash) up; never re-sign.
    """

    def __init__(self, message: str, *, order_id: str) -> None:
        super().__init__(message, code="unknown_outcome")
        self.order_id = order_id


@dataclass(frozen=True, slots=True)
class SubmitResult:
    order_id: str
    status: OrderStatus
    fills: tuple[Fill, ...] = ()
    error_code: str | None = None
    message: str = ""


@dataclass(frozen=True, slots=True)
class CancelResult:
    canceled: tuple[str, ...] = ()
    not_canceled: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PreparedOrder:
    """A rounded, validated (and on a live venue, signed) order, with the id it will have.

    The execution engine persists `order_id` and `payload` before calling `submit`, so an
    unknown outcome can be resolved by looking the id up.
    """

    request: OrderRequest
    order_id: str
    payload: str  # the signed order as JSON (empty for venues that do not sign)


@runtime_checkable
class Venue(Protocol):
    name: str

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def list_markets(self, *, limit: int = 500) -> Sequence[Market]: ...

    async def get_book(self, token_id: str) -> Book: ...

    def book_updates(self, token_ids: Sequence[str]) -> AsyncIterator[Book]: ...

    def book_age(self, token_id: str) -> float | None:
        """Seconds since the last update of this token's book, or None if never seen."""
        ...

    async def prepare(self, request: OrderRequest) -> PreparedOrder:
        """Round and validate (and sign, on a live venue). Raises `OrderRefused`."""
        ...

    async def submit(self, order: PreparedOrder) -> SubmitResult: ...

    async def cancel(self, order_ids: Sequence[str]) -> CancelResult: ...

    async def cancel_all(self) -> CancelResult: ...

    async def get_order(self, order_id: str) -> Order | None: ...

    async def resolve_unknown(self, order_id: str) -> Order | None:
        """Find an order whose submit outcome was unknown, by its id; never re-sign."""
        ...

    async def open_orders(self, *, market: str | None = None) -> Sequence[Order]: ...

    async def trades(
        self, *, market: str | None = None, after: datetime | None = None
    ) -> Sequence[Fill]: ...

    def fills(self) -> AsyncIterator[Fill]:
        """Our fills as they happen, deduplicated on (trade id, order id)."""
        ...

    async def balance(self) -> Balance: ...

    async def positions(self) -> Sequence[Position]: ...

    async def server_time(self) -> datetime: ...

    async def heartbeat(self) -> None:
        """Keep the venue's dead-man switch alive (live: every 5 s)."""
        ...

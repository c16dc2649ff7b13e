"""SDK exceptions to the venue's typed errors, and the bounded retry of reads.

`polymarket-client` 0.14.0 surfaces what we need on its exceptions (polymarket.errors):
`RequestRejectedError.status`, `.code` (the body's `code`), `.retry_after` (the `Retry-After`
header, or `retry_after_seconds` in the body) and `.restriction` ("restarting" for 425,
"post_only" for 503 with code post_only_mode, "cancel_only"); `RateLimitError.retry_after` for 429;
`TransportError` for connection failures and httpx timeouts. Messages carry the request URL and
the venue's error text, never our credentials; we add nothing from the request body.

Reads and writes map differently: a read that failed certainly had no effect
(`VenueUnavailable`, retried by `retry_read`). A submit is rejected only on an answer that
proves it: a 4xx (the venue's refusal, 429 throttling, 425 engine restart) or a 503 that names
a trading restriction (post-only or cancel-only mode, which the venue reports before matching).
Any other answer, a bare 5xx (an HTML 503 from a proxy in front of the venue included), a lost
connection or a 2xx we cannot read, may come after the matching engine placed and even filled
the order: `UnknownOutcome` with the order id (the caller resolves it by hash, never re-signs).

Two refusals are about the account, not the order (`account_refusal`): production refuses an
EOA, proxy or Safe maker on an account opened since CLOB V2 ("maker address not allowed,
please use the deposit wallet flow") and a V1-signed order (`order_version_mismatch`). Their
`OrderRejected` says so in plain words with the fix, for the operator's alert and the
command's reply.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import TypeVar

from polymarket.errors import (
    PolymarketError,
    RateLimitError,
    RequestRejectedError,
    TransportError,
    UnexpectedResponseError,
    UserInputError,
)

from trader.clock import Clock
from trader.venue import retry
from trader.venue.base import (
    Maintenance,
    OrderRefused,
    OrderRejected,
    PostOnlyMode,
    RateLimited,
    UnknownOutcome,
    VenueError,
    VenueUnavailable,
)

T = TypeVar("T")

_CODE_TOKEN = re.compile(
    r"\b(INVALID_[A-Z_]+|[A-Z]+_ORDER_[A-Z_]+|EXECUTION_ERROR|MARKET_NOT_READY)\b"
)
_MESSAGE_CODES = (  # venue message fragments -> the venue's documented error codes
    ("min size", "INVALID_ORDER_MIN_SIZE"),
    ("minimum size", "INVALID_ORDER_MIN_SIZE"),
    ("tick size", "INVALID_ORDER_MIN_TICK_SIZE"),
    ("not enough balance", "INVALID_ORDER_NOT_ENOUGH_BALANCE"),
    ("insufficient balance", "INVALID_ORDER_NOT_ENOUGH_BALANCE"),
    ("expiration", "INVALID_ORDER_EXPIRATION"),
    ("post-only", "INVALID_POST_ONLY_ORDER"),
    ("duplicat", "INVALID_ORDER_DUPLICATED"),
    ("fok orders are fully filled or killed", "FOK_ORDER_NOT_FILLED_ERROR"),
    ("fak order", "FAK_ORDER_NOT_FILLED_ERROR"),
    ("not yet ready", "MARKET_NOT_READY"),
    ("delayed", "ORDER_DELAYED"),
)
_SDK_REJECT_CODES = {  # polymarket.models.clob.order_response.OrderResponseErrorCode
    "not_enough_balance": "INVALID_ORDER_NOT_ENOUGH_BALANCE",
    "market_not_ready": "MARKET_NOT_READY",
    "invalid_expiration": "INVALID_ORDER_EXPIRATION",
    "post_only_would_cross": "INVALID_POST_ONLY_ORDER",
    "post_only_mode": "post_only_mode",
    "fok_not_filled": "FOK_ORDER_NOT_FILLED_ERROR",
    "fak_not_filled": "FAK_ORDER_NOT_FILLED_ERROR",
    "unmatched": "FAK_ORDER_NOT_FILLED_ERROR",
}


# Refusals no order can fix, only the operator: (venue wording, our code, plain words with the fix)
_ACCOUNT_REFUSALS = (
    (
        "maker address not allowed",
        "maker_not_allowed",
        "Polymarket refuses orders made by the key's own address (an EOA), a Polymarket proxy or "
        "a Gnosis Safe for accounts opened since CLOB V2: this account must trade through its "
        "deposit wallet. Fix: set "
        "POLYMARKET_SIGNATURE_TYPE=3 (the default), run `trader setup` to deploy and approve "
        "the wallet, fund the address it shows, then restart.",
    ),
    (
        "order_version_mismatch",
        "order_version_mismatch",
        "Polymarket refused the order as signed in the old V1 format, which it no longer "
        "accepts since CLOB V2. Fix: reinstall Polyops so it signs with the polymarket-client "
        "version it pins (`pip install -e .`), then restart; py-clob-client cannot trade.",
    ),
)


def account_refusal(message: str) -> tuple[str, str] | None:
    """(code, plain words with the fix) when the venue refuses the account rather than the
    order: every order would fail the same way until the operator changes a setting."""
    lowered = message.lower()
    for fragment, code, plain in _ACCOUNT_REFUSALS:
        if fragment in lowered:
            return code, f"{plain} (Polymarket said: {fragment})"
    return None


def venue_code(message: str, code: str | None = None) -> str:
    """The venue's error code: given, spelled out in the message, or read from its wording."""
    if code and code != "unknown":
        return _SDK_REJECT_CODES.get(code, code)
    token = _CODE_TOKEN.search(message)
    if token:
        return token.group(1)
    lowered = message.lower()
    return next((c for fragment, c in _MESSAGE_CODES if fragment in lowered), "REJECTED")


def map_read_error(error: BaseException) -> VenueError:
    """A failed read (or cancel): it certainly had no effect on the venue's state."""
    if isinstance(error, VenueError):
        return error
    if isinstance(error, RateLimitError):
        return RateLimited(f"rate limited: {error}", retry_after=error.retry_after)
    if isinstance(error, RequestRejectedError):
        return _map_rejection(error, writing=False)
    if isinstance(error, TransportError | asyncio.TimeoutError | TimeoutError):
        return VenueUnavailable(f"venue unreachable: {error or type(error).__name__}")
    if isinstance(error, UnexpectedResponseError):
        return VenueError(f"unexpected answer from the venue: {error}", code="unexpected_response")
    if isinstance(error, UserInputError):
        return OrderRefused(f"refused by the SDK before sending: {error}", code="sdk_input")
    return VenueError(f"venue call failed: {type(error).__name__}: {error}")


def map_submit_error(error: BaseException, order_id: str) -> VenueError:
    """A failed submit: an answer that says no is typed; a lost or 5xx answer is unknown."""
    if isinstance(error, VenueError):
        return error
    if isinstance(error, RateLimitError):
        return RateLimited(f"order rate limited: {error}", retry_after=error.retry_after)
    if isinstance(error, RequestRejectedError):
        if not proves_rejection(error):
            return UnknownOutcome(
                f"venue answered {error.status} to a submit: {error}", order_id=order_id
            )
        return _map_rejection(error, writing=True)
    if isinstance(error, UserInputError):
        return OrderRefused(f"refused by the SDK before sending: {error}", code="sdk_input")
    if isinstance(error, TransportError | asyncio.TimeoutError | TimeoutError | PolymarketError):
        detail = str(error) or type(error).__name__
        return UnknownOutcome(f"submit outcome unknown: {detail}", order_id=order_id)
    return UnknownOutcome(f"submit failed: {type(error).__name__}", order_id=order_id)


def proves_rejection(error: RequestRejectedError) -> bool:
    """Whether an error answer to a submit proves the order was not placed: any 4xx, or a 5xx
    that names a trading restriction (which the venue checks before matching)."""
    if error.status < 500:
        return True
    return error.restriction in ("post_only", "cancel_only") or error.code == "post_only_mode"


def _map_rejection(error: RequestRejectedError, *, writing: bool) -> VenueError:
    message = str(error)
    if error.status == 425 or error.restriction == "restarting":
        return Maintenance(f"matching engine restarting: {message}", retry_after=error.retry_after)
    if error.restriction == "post_only" or error.code == "post_only_mode":
        return PostOnlyMode(f"post-only mode: {message}", retry_after=error.retry_after)
    if error.status == 429:
        return RateLimited(f"rate limited: {message}", retry_after=error.retry_after)
    if error.status >= 500:
        failure = VenueUnavailable(f"venue error {error.status}: {message}", code=error.code)
        if error.restriction == "cancel_only":
            failure.code = "cancel_only"
        return failure
    refusal = account_refusal(message)
    if refusal is not None:
        code, plain = refusal
        return OrderRejected(plain, code=code)
    if writing or error.status == 400:
        return OrderRejected(message, code=venue_code(message, error.code))
    return VenueError(f"venue refused ({error.status}): {message}", code=error.code)


async def retry_read(
    call: Callable[[], Awaitable[T]],
    *,
    clock: Clock,
    what: str,
    attempts: int = 3,
    base_delay: float = 0.5,
    max_delay: float = 30.0,
) -> T:
    """`trader.venue.retry.retry_read` for reads through the SDK (its exceptions mapped by
    `map_read_error`). Never use this for submits."""
    return await retry.retry_read(
        call,
        clock=clock,
        what=what,
        attempts=attempts,
        base_delay=base_delay,
        max_delay=max_delay,
        classify=map_read_error,
    )

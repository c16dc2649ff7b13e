"""Polymarket's public REST reads over plain httpx: Gamma's market pages and the CLOB's books.

Why not the official SDK here: paper trading needs two public endpoints, and importing
`polymarket-client` costs about a second and 55 MB (its pydantic models and the signing stack,
eth-account), while its public client opens five httpx clients, each loading the CA bundle.
These reads use one httpx client (the app's own when it hands one in) and the pure parsers
the recorded payloads test (`trader.venue.parsing.rest`); a test checks they read the venue's
payloads as the SDK does. The requests are the SDK's: `GET {gamma}/markets/keyset` paged by
`after_cursor`/`next_cursor`, `GET {clob}/book?token_id=`.

An answer that is not a success becomes the venue's typed error, as the SDK's exceptions are
mapped for reads (`trader.venue.polymarket.errors.map_read_error`): 429 `RateLimited`, 425
`Maintenance`, a 503 naming post-only mode `PostOnlyMode`, any other 5xx or a failed connection
`VenueUnavailable` (all retried by `trader.venue.retry.retry_read`), any other 4xx or an
unreadable body a `VenueError` (not retried).
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from trader.clock import Clock
from trader.venue.base import Maintenance, PostOnlyMode, RateLimited, VenueError, VenueUnavailable
from trader.venue.parsing.values import Payload

# the SDK's transport defaults (polymarket-client 0.14.0, clients/_transport.py)
TIMEOUT = httpx.Timeout(connect=5.0, read=10.0, write=10.0, pool=2.0)
Params = Mapping[str, str | int | bool | Sequence[str]]


class PublicReads:
    """The two public reads paper trading makes, on one httpx client.

    `http`: a client to share (its owner closes it); without one, a client is opened here and
    closed by `close()`.
    """

    def __init__(
        self,
        *,
        clob_url: str,
        gamma_url: str,
        clock: Clock,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self._clock = clock
        self._clob = clob_url.rstrip("/")
        self._gamma = gamma_url.rstrip("/")
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient(timeout=TIMEOUT)

    async def close(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def book(self, token_id: str) -> Payload:
        """The CLOB's `/book` answer for one token (levels best-last, as on the wire)."""
        answer = await self._get(f"{self._clob}/book", {"token_id": token_id})
        if not isinstance(answer, Mapping):
            raise VenueError(
                f"unexpected /book answer for {token_id[:12]}", code="unexpected_response"
            )
        return answer

    async def gamma_markets(self, params: Params, *, page_size: int) -> AsyncIterator[Payload]:
        """Gamma's markets matching `params`, page after page, each as sent."""
        cursor: str | None = None
        while True:
            query = {**params, "limit": page_size}
            if cursor is not None:
                query["after_cursor"] = cursor
            page = await self._get(f"{self._gamma}/markets/keyset", query)
            items, cursor = _keyset_page(page)
            for item in items:
                yield item
            if not cursor or not items:
                return

    async def _get(self, url: str, params: Params) -> Any:
        try:
            response = await self._http.get(url, params=params, timeout=TIMEOUT)
        except httpx.HTTPError as error:
            raise VenueUnavailable(f"venue unreachable: {error or type(error).__name__}") from error
        if not response.is_success:
            raise error_for(response, now=self._clock.now())
        try:
            return response.json()
        except ValueError as error:
            raise VenueError(
                f"non-JSON answer from {response.url}", code="unexpected_response"
            ) from error


def _keyset_page(page: object) -> tuple[list[Payload], str | None]:
    if not isinstance(page, Mapping) or not isinstance(page.get("markets"), list):
        raise VenueError("Gamma keyset answer has no 'markets' list", code="unexpected_response")
    cursor = page.get("next_cursor")
    items = [item for item in page["markets"] if isinstance(item, Mapping)]
    return items, str(cursor) if cursor else None


def error_for(response: httpx.Response, *, now: datetime) -> VenueError:
    """The typed error for an answer that is not a success (see the module's docstring)."""
    status, body = response.status_code, _json_body(response)
    message = f"{response.request.method} {response.url.path} answered {status}"
    detail = body.get("error") if isinstance(body.get("error"), str) else ""
    if detail:
        message += f": {detail}"
    retry_after = _retry_after(response, body, now)
    if status == 429:
        return RateLimited(f"rate limited: {message}", retry_after=retry_after)
    if status == 425:
        return Maintenance(f"matching engine restarting: {message}", retry_after=retry_after)
    if status == 503 and body.get("code") == "post_only_mode":
        return PostOnlyMode(f"post-only mode: {message}", retry_after=retry_after)
    if status >= 500:
        return VenueUnavailable(f"venue error: {message}", code=_code(body))
    return VenueError(f"venue refused: {message}", code=_code(body))


def _code(body: Mapping[str, Any]) -> str | None:
    code = body.get("code")
    return code if isinstance(code, str) and code else None


def _json_body(response: httpx.Response) -> Mapping[str, Any]:
    if "application/json" not in response.headers.get("content-type", "").lower():
        return {}
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, Mapping) else {}


def _retry_after(response: httpx.Response, body: Mapping[str, Any], now: datetime) -> float | None:
    """`Retry-After` in seconds or as an HTTP date, else the body's `retry_after_seconds`."""
    header = response.headers.get("retry-after")
    seconds: float | None = None
    if header:
        try:
            seconds = float(header)
        except ValueError:
            try:
                when = parsedate_to_datetime(header)
            except (TypeError, ValueError):
                when = None
            if when is not None and when.tzinfo is not None:
                seconds = max((when - now).total_seconds(), 0.0)
    if seconds is None:
        value = body.get("retry_after_seconds")
        if isinstance(value, int | float) and not isinstance(value, bool):
            seconds = float(value)
    return seconds if seconds is not None and math.isfinite(seconds) and seconds >= 0 else None


__all__ = ["TIMEOUT", "PublicReads", "error_for"]

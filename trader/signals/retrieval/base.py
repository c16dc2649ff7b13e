"""The one small protocol every news search provider implements, and what it returns.

A provider answers one query for one time window with `SearchHit`s, or raises `SearchError`
saying what went wrong (an HTTP status, a refused query, a body that is not the API's): the
retriever reports that failure for the market and uses the other providers' answers. A
provider never logs or reports its API key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import httpx


@dataclass(frozen=True, slots=True)
class SearchHit:
    title: str
    url: str
    published: datetime | None  # aware UTC, as the provider states it; None when it gives none
    provider: str
    query: str
    text: str = ""  # the article's text when the provider returns it (then it is not fetched)


class SearchError(Exception):
    """A provider could not answer a query. The message names no secret."""


class SearchProvider(Protocol):
    name: str

    async def search(
        self, query: str, *, since: datetime, until: datetime, limit: int
    ) -> list[SearchHit]:
        """Hits for `query` published in [since, until], best first, at most `limit`."""
        ...


def aware(value: datetime) -> datetime:
    """`value` in UTC; a naive value is read as UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def parse_time(value: object) -> datetime | None:
    """An ISO 8601 time (a trailing Z allowed) or GDELT's 20260301T120000Z, to aware UTC."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    for layout in ("%Y%m%dT%H%M%SZ", "%Y%m%d%H%M%S"):
        try:
            return datetime.strptime(text, layout).replace(tzinfo=UTC)
        except ValueError:
            continue
    try:
        return aware(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        return None


async def read_json(response: httpx.Response, provider: str) -> object:
    """The response's JSON body, or a `SearchError` naming the status or the bad body."""
    if response.status_code != 200:
        raise SearchError(f"{provider}: HTTP {response.status_code}")
    try:
        return response.json()
    except ValueError:
        snippet = response.text[:160].strip().replace("\n", " ")
        raise SearchError(f"{provider}: not JSON ({snippet!r})") from None


def describe_transport(error: Exception, provider: str) -> SearchError:
    """A transport failure (timeout, refused connection) as a `SearchError`."""
    detail = type(error).__name__
    if isinstance(error, httpx.TimeoutException):
        detail = "timed out"
    elif isinstance(error, httpx.ConnectError):
        detail = "connection failed"
    return SearchError(f"{provider}: {detail}")

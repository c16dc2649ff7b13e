"""The GDELT DOC 2.0 API: keyless full-text news search, the default provider.

`GET {base}/api/v2/doc/doc?query=...&mode=artlist&format=json&maxrecords=N&sort=datedesc
&startdatetime=YYYYMMDDHHMMSS&enddatetime=YYYYMMDDHHMMSS` answers
`{"articles": [{"url", "title", "seendate": "20260301T120000Z", "domain", "language", ...}]}`
(an empty object when nothing matched). A query it refuses (a word too short or too common)
comes back as HTTP 200 with a plain-text message, not JSON: that is a `SearchError` with the
message. The API searches a rolling window of about three months.

`seendate` is when GDELT first saw the article (it crawls every 15 minutes), so it is on or
after the publication time: an article GDELT saw before "now" was published before "now",
which is the side the leakage rule needs.

GDELT asks clients to keep to about one request every five seconds; `min_interval` spaces the
requests on the injected clock (0 in tests against the fake server).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime

import httpx

from trader.clock import Clock
from trader.signals.retrieval.base import (
    SearchError,
    SearchHit,
    describe_transport,
    parse_time,
)
from trader.signals.retrieval.settings import GDELT_BASE_URL
from trader.signals.throttle import TokenBucket

MAX_RECORDS = 250  # the API's own limit per request
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'&.-]*")


@dataclass(frozen=True, slots=True)
class GdeltConfig:
    base_url: str = GDELT_BASE_URL
    timeout: float = 15.0
    min_interval: float = 5.0  # seconds between requests (GDELT's published guidance)
    language: str = "english"  # sourcelang: filter; "" for every language


def gdelt_query(query: str) -> str:
    """A query GDELT accepts: plain words of three characters or more (it refuses shorter
    ones), with the operators and punctuation a model may write left out."""
    words = [w.strip(".'&-") for w in _WORD.findall(query)]
    kept = [w for w in words if len(w) >= 3 and w.upper() not in ("AND", "OR", "NOT")]
    return " ".join(dict.fromkeys(kept))


def _stamp(when: datetime) -> str:
    return f"{when:%Y%m%d%H%M%S}"


class GdeltProvider:
    name = "gdelt"

    def __init__(
        self, client: httpx.AsyncClient, clock: Clock, config: GdeltConfig | None = None
    ) -> None:
        self.config = config or GdeltConfig()
        self._client = client
        self._pace = (
            TokenBucket(1.0 / self.config.min_interval, 1.0, clock)
            if self.config.min_interval > 0
            else None
        )

    async def search(
        self, query: str, *, since: datetime, until: datetime, limit: int
    ) -> list[SearchHit]:
        words = gdelt_query(query)
        if not words:
            raise SearchError(f"gdelt: nothing searchable in the query {query[:80]!r}")
        terms = f"{words} sourcelang:{self.config.language}" if self.config.language else words
        params = {
            "query": terms,
            "mode": "artlist",
            "format": "json",
            "maxrecords": str(max(1, min(limit, MAX_RECORDS))),
            "sort": "datedesc",
            "startdatetime": _stamp(since),
            "enddatetime": _stamp(until),
        }
        if self._pace is not None:
            await self._pace.acquire()
        try:
            response = await self._client.get(
                f"{self.config.base_url.rstrip('/')}/api/v2/doc/doc",
                params=params,
                timeout=self.config.timeout,
            )
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise describe_transport(exc, self.name) from exc
        if response.status_code == 200 and "json" not in response.headers.get("content-type", ""):
            message = response.text.strip().replace("\n", " ")[:200]
            raise SearchError(f"gdelt: query refused: {message}")
        if response.status_code != 200:
            raise SearchError(f"gdelt: HTTP {response.status_code}")
        body = lenient_json(response.text)
        if not isinstance(body, dict):
            raise SearchError("gdelt: unexpected body (not an object)")
        return [hit for item in body.get("articles") or [] if (hit := _hit(item, query))][:limit]


def lenient_json(text: str, attempts: int = 50) -> object:
    """GDELT's JSON as it comes: titles copied from pages can carry raw control characters or
    an invalid escape (a backslash before a quote); each offending character becomes a space,
    at most `attempts` times, then the body is refused."""
    for _ in range(attempts):
        try:
            return json.loads(text, strict=False)
        except json.JSONDecodeError as exc:
            if exc.pos >= len(text):
                break
            text = text[: exc.pos] + " " + text[exc.pos + 1 :]
    raise SearchError("gdelt: not JSON")


def _hit(item: object, query: str) -> SearchHit | None:
    if not isinstance(item, dict):
        return None
    url, title = item.get("url"), item.get("title")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        return None
    return SearchHit(
        title=str(title or "").strip()[:500],
        url=url,
        published=parse_time(item.get("seendate")),
        provider="gdelt",
        query=query,
    )

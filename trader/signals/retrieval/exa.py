"""Exa: keyed web search with the articles' text in the answer.

`POST {base}/search` with the key in the `x-api-key` header and a JSON body
`{"query", "type": "auto", "category": "news", "numResults", "startPublishedDate",
"endPublishedDate", "contents": {"text": {"maxCharacters": N}}}` answers
`{"requestId", "results": [{"id", "url", "title", "publishedDate", "author", "text"}]}`.
`publishedDate` may be missing or null: such a hit is undated (never used in a backtest).
The text comes with the answer, so an Exa hit is not fetched again. The key is sent only in
its header and never appears in an error, a log line or a report.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from pydantic import SecretStr

from trader.signals.retrieval.base import (
    SearchError,
    SearchHit,
    describe_transport,
    parse_time,
    read_json,
)
from trader.signals.retrieval.settings import EXA_BASE_URL

MAX_RESULTS = 100


@dataclass(frozen=True, slots=True)
class ExaConfig:
    api_key: SecretStr
    base_url: str = EXA_BASE_URL
    timeout: float = 20.0
    text_characters: int = 6000  # of each article's text, asked with the search


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


class ExaProvider:
    name = "exa"

    def __init__(self, client: httpx.AsyncClient, config: ExaConfig) -> None:
        self.config = config
        self._client = client

    async def search(
        self, query: str, *, since: datetime, until: datetime, limit: int
    ) -> list[SearchHit]:
        body = {
            "query": query,
            "type": "auto",
            "category": "news",
            "numResults": max(1, min(limit, MAX_RESULTS)),
            "startPublishedDate": _iso(since),
            "endPublishedDate": _iso(until),
            "contents": {"text": {"maxCharacters": self.config.text_characters}},
        }
        headers = {"x-api-key": self.config.api_key.get_secret_value()}
        try:
            response = await self._client.post(
                f"{self.config.base_url.rstrip('/')}/search",
                json=body,
                headers=headers,
                timeout=self.config.timeout,
            )
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise describe_transport(exc, self.name) from exc
        answer = await read_json(response, self.name)
        results = answer.get("results") if isinstance(answer, dict) else None
        if not isinstance(results, list):
            raise SearchError("exa: unexpected body (no results list)")
        return [hit for item in results if (hit := _hit(item, query))][:limit]


def _hit(item: object, query: str) -> SearchHit | None:
    if not isinstance(item, dict):
        return None
    url = item.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        return None
    text = item.get("text")
    return SearchHit(
        title=str(item.get("title") or "").strip()[:500],
        url=url,
        published=parse_time(item.get("publishedDate")),
        provider="exa",
        query=query,
        text=text if isinstance(text, str) else "",
    )

"""News: fetch feeds concurrently, deduplicate, keep a window, match items to markets.

`NewsSource.refresh()` never raises for a feed's sake: an HTTP error, a timeout, an oversized
body or bad XML is reported in that feed's `FeedStatus` and the feed is skipped. Conditional
requests: each feed's ETag and Last-Modified are remembered and sent back; a 304 costs nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import heapq
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import timedelta

import httpx

from trader.clock import Clock
from trader.domain import Market
from trader.signals.feeds import FeedEntry, FeedError, parse_feed
from trader.signals.records import FeedValidators, InMemoryNewsCache, NewsCache
from trader.signals.text import RelevanceIndex, tokenize
from trader.signals.values import NewsItem, NewsMatch

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Feed:
    url: str
    name: str = ""

    @property
    def label(self) -> str:
        return self.name or self.url


@dataclass(frozen=True, slots=True)
class NewsConfig:
    window: timedelta = timedelta(hours=48)
    timeout: float = 10.0  # seconds, per feed, whole request
    max_bytes: int = 2_000_000
    concurrency: int = 8
    min_relevance: float = 0.10
    max_matches: int = 5  # per market


@dataclass(frozen=True, slots=True)
class FeedStatus:
    feed: str
    ok: bool
    status_code: int | None = None
    new_items: int = 0
    not_modified: bool = False
    error: str = ""


@dataclass(frozen=True, slots=True)
class RefreshResult:
    feeds: tuple[FeedStatus, ...]
    new_items: int
    kept_items: int

    @property
    def failed(self) -> tuple[FeedStatus, ...]:
        return tuple(f for f in self.feeds if not f.ok)


class FeedTooLarge(Exception):
    pass


def _dedupe_keys(entry: FeedEntry) -> list[str]:
    keys = []
    if entry.guid:
        keys.append("g:" + entry.guid.strip())
    if entry.link:
        keys.append("l:" + entry.link.strip().rstrip("/").casefold())
    title = " ".join(tokenize(entry.title))
    if title:
        keys.append("t:" + title)
    return keys


def _item_id(keys: Sequence[str]) -> str:
    return hashlib.sha256(keys[0].encode()).hexdigest()[:24]


class NewsSource:
    def __init__(
        self,
        feeds: Sequence[Feed],
        client: httpx.AsyncClient,
        clock: Clock,
        *,
        config: NewsConfig | None = None,
        cache: NewsCache | None = None,
    ) -> None:
        self._feeds = tuple(feeds)
        self._client = client
        self._clock = clock
        self.config = config or NewsConfig()
        self._cache = cache or InMemoryNewsCache()
        self._items: dict[str, NewsItem] = {}
        self._seen: dict[str, str] = {}  # dedupe key -> item id
        self._validators: dict[str, FeedValidators] = {}
        self._loaded = False

    async def _load(self) -> None:
        if self._loaded:
            return
        self._validators = await self._cache.load_validators()
        since = self._clock.now() - self.config.window
        for item in await self._cache.load_items(since):
            self._items[item.item_id] = item
        self._loaded = True

    @property
    def feeds(self) -> tuple[Feed, ...]:
        return self._feeds

    def items(self) -> list[NewsItem]:
        """Items inside the window, newest first."""
        return sorted(self._items.values(), key=lambda i: i.published, reverse=True)

    async def refresh(self) -> RefreshResult:
        await self._load()
        limit = asyncio.Semaphore(max(1, self.config.concurrency))

        async def one(feed: Feed) -> tuple[FeedStatus, list[FeedEntry]]:
            async with limit:
                try:
                    return await self._fetch(feed)
                except Exception as exc:  # a bad URL, a cache error...: this feed only
                    log.exception("news feed %s failed unexpectedly", feed.label)
                    return FeedStatus(feed.label, ok=False, error=type(exc).__name__), []

        results = await asyncio.gather(*(one(f) for f in self._feeds))
        statuses: list[FeedStatus] = []
        added: list[NewsItem] = []
        for status, entries in results:
            new = self._absorb(entries, status.feed)
            added.extend(new)
            statuses.append(replace(status, new_items=len(new)))
        if added:
            await self._cache.save_items(added)
        self._prune()
        for status in statuses:
            if not status.ok:
                log.warning("news feed %s skipped: %s", status.feed, status.error)
        return RefreshResult(tuple(statuses), len(added), len(self._items))

    async def _fetch(self, feed: Feed) -> tuple[FeedStatus, list[FeedEntry]]:
        headers = {"Accept": "application/rss+xml, application/atom+xml, application/xml"}
        known = self._validators.get(feed.url, FeedValidators())
        if known.etag:
            headers["If-None-Match"] = known.etag
        if known.last_modified:
            headers["If-Modified-Since"] = known.last_modified
        try:
            async with asyncio.timeout(self.config.timeout):
                status, body, validators = await self._get(feed.url, headers)
        except (httpx.HTTPError, TimeoutError, FeedTooLarge) as exc:
            error = type(exc).__name__ + (f": {exc}" if str(exc) else "")
            return FeedStatus(feed.label, ok=False, error=error), []
        if status == 304:
            return FeedStatus(feed.label, ok=True, status_code=304, not_modified=True), []
        if status != 200:
            return FeedStatus(feed.label, ok=False, status_code=status, error=f"HTTP {status}"), []
        try:
            entries = parse_feed(body)
        except FeedError as exc:
            return FeedStatus(feed.label, ok=False, status_code=status, error=str(exc)), []
        if validators != known:
            self._validators[feed.url] = validators
            await self._cache.save_validators(feed.url, validators)
        return FeedStatus(feed.label, ok=True, status_code=status), entries

    async def _get(self, url: str, headers: dict[str, str]) -> tuple[int, bytes, FeedValidators]:
        async with self._client.stream(
            "GET", url, headers=headers, timeout=self.config.timeout
        ) as response:
            if response.status_code != 200:
                return response.status_code, b"", FeedValidators()
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > self.config.max_bytes:
                    raise FeedTooLarge(f"body over {self.config.max_bytes} bytes")
                chunks.append(chunk)
            validators = FeedValidators(
                etag=response.headers.get("etag"),
                last_modified=response.headers.get("last-modified"),
            )
            return 200, b"".join(chunks), validators

    def _absorb(self, entries: Sequence[FeedEntry], source: str) -> list[NewsItem]:
        now = self._clock.now()
        horizon = now - self.config.window
        added: list[NewsItem] = []
        for entry in entries:
            keys = _dedupe_keys(entry)
            if not keys or any(k in self._seen for k in keys) or _item_id(keys) in self._items:
                continue
            published = min(entry.published or now, now)
            if published < horizon:
                continue
            item = NewsItem(
                item_id=_item_id(keys),
                title=entry.title,
                link=entry.link,
                summary=entry.summary,
                published=published,
                source=source,
            )
            for key in keys:
                self._seen[key] = item.item_id
            self._items[item.item_id] = item
            added.append(item)
        return added

    def _prune(self) -> None:
        horizon = self._clock.now() - self.config.window
        expired = {i for i, item in self._items.items() if item.published < horizon}
        for item_id in expired:
            del self._items[item_id]
        # Forget dedupe keys of expired items too, so the key table stays bounded.
        self._seen = {k: v for k, v in self._seen.items() if v not in expired}

    def match(self, markets: Sequence[Market]) -> dict[str, tuple[NewsMatch, ...]]:
        """The most relevant items per market (condition id), best first; every market a key."""
        return match_news(
            markets,
            self.items(),
            min_relevance=self.config.min_relevance,
            max_matches=self.config.max_matches,
        )


def match_news(
    markets: Sequence[Market],
    items: Sequence[NewsItem],
    *,
    min_relevance: float = 0.10,
    max_matches: int = 5,
) -> dict[str, tuple[NewsMatch, ...]]:
    texts = [f"{item.title}. {item.summary}" for item in items]
    index = RelevanceIndex(
        {m.condition_id: (m.question, m.description) for m in markets}, extra_corpus=texts
    )
    # (-relevance, item id, position) per market: the best `max_matches` are picked without
    # building a NewsMatch for every pair above the threshold (heapq.nsmallest is sorted()[:n])
    found: dict[str, list[tuple[float, str, int]]] = {m.condition_id: [] for m in markets}
    for position, (item, text) in enumerate(zip(items, texts, strict=True)):
        for market_id, score in index.score(text).items():
            if score >= min_relevance:
                found[market_id].append((-round(score, 6), item.item_id, position))
    return {
        market_id: tuple(
            NewsMatch(items[position], -relevance)
            for relevance, _, position in heapq.nsmallest(max_matches, keyed)
        )
        for market_id, keyed in found.items()
    }

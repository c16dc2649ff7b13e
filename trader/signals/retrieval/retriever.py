"""One market's retrieval: queries -> search (every provider) -> filter by time -> dedupe ->
fetch and extract -> dedupe the texts -> extractive summary within the token budget.

The time rule (no leakage): a hit published after the request's "now" is never used, whatever
the configuration; a hit without a publication time is used only with `undated` on (live
trading), never in a backtest (`undated=False`: it is dropped before it is fetched). When the
provider gives no time, the page's own date (day precision) counts as the end of that day
once that day is over; a page dated today stays undated.

A provider that fails (HTTP error, refused query, timeout) is reported in
`Retrieval.failures` and in the log, and the other providers' answers are used. A page that
cannot be fetched keeps its headline. Nothing here raises for a provider's or a page's sake.

A market analysed again with the same evidence (question, rules, matched news) within
`RetrievalConfig.reuse` of the request's now is given its last clean retrieval again, marked
with when it ran (`reuse.ReusedRetrievals`): no query call, no search, the same articles.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import httpx

from trader.signals.retrieval.articles import end_of_day, extract, fetch_page
from trader.signals.retrieval.base import SearchError, SearchHit, SearchProvider
from trader.signals.retrieval.digest import Deduper, summarise
from trader.signals.retrieval.guard import FetchError, Resolver, system_resolver
from trader.signals.retrieval.queries import QueryOutput, clean_queries, heuristic_queries
from trader.signals.retrieval.reuse import ReusedRetrievals
from trader.signals.retrieval.settings import RetrievalConfig
from trader.signals.values import AnalysisRequest, RetrievedArticle, SampleOutcome

log = logging.getLogger(__name__)
_WRITER_FAILED = "heuristic (LLM "  # the query source when the model did not answer


class QueryWriter(Protocol):
    """The cheap model behind the provider chain (`write_queries`)."""

    async def write_queries(
        self, request: AnalysisRequest, *, count: int = 3
    ) -> QueryOutput | SampleOutcome: ...


@dataclass(frozen=True, slots=True)
class Retrieval:
    queries: tuple[str, ...]
    query_source: str  # "llm", or "heuristic" with the reason
    articles: tuple[RetrievedArticle, ...]
    failures: tuple[str, ...] = ()  # one line per provider that failed, naming it
    skipped: dict[str, int] = field(default_factory=dict)  # why hits were not used
    reused_from: datetime | None = None  # the now of the retrieval given again (None: fresh)

    @property
    def clean(self) -> bool:
        """No provider failed and the query writer, when there is one, answered."""
        return not self.failures and not self.query_source.startswith(_WRITER_FAILED)

    def describe(self) -> str:
        providers = sorted({a.provider for a in self.articles})
        text = f"{len(self.articles)} article(s)"
        if providers:
            text += f" from {', '.join(providers)}"
        text += f"; queries by {self.query_source}"
        if self.reused_from is not None:  # early: /signals shortens a long line
            text += f"; reused from {self.reused_from:%Y-%m-%d %H:%M} UTC"
        if self.skipped:
            text += "; skipped " + ", ".join(f"{k} x{n}" for k, n in sorted(self.skipped.items()))
        if self.failures:
            text += "; failed: " + "; ".join(self.failures)
        return text


@dataclass(slots=True)
class _Candidate:
    hit: SearchHit
    published: datetime | None
    text: str = ""


class Retriever:
    def __init__(
        self,
        providers: Sequence[SearchProvider],
        client: httpx.AsyncClient,
        *,
        writer: QueryWriter | None = None,
        config: RetrievalConfig | None = None,
        resolve: Resolver = system_resolver,  # host, port -> addresses (tests resolve by hand)
    ) -> None:
        if not providers:
            raise ValueError("retrieval needs at least one search provider")
        self.providers = tuple(providers)
        self.config = config or RetrievalConfig()
        self._client = client
        self._writer = writer
        self._resolve = resolve
        self.reused = ReusedRetrievals(self.config.reuse)

    async def retrieve(self, request: AnalysisRequest) -> Retrieval:
        """What the news search finds for `request`: the market's last clean retrieval when
        its evidence is unchanged and it ran at most `config.reuse` before `request.now`."""
        reused = self.reused.find(request)
        if reused is not None:
            return reused
        found = await self._retrieve(request)
        self.reused.keep(request, found)
        return found

    async def _retrieve(self, request: AnalysisRequest) -> Retrieval:
        queries, source = await self._queries(request)
        hits, failures = await self._search(queries, request.now)
        skipped: Counter[str] = Counter()
        candidates = self._usable(hits, request.now, skipped)
        await self._read(candidates, request.now, skipped)
        kept = self._distinct_texts(candidates, skipped)
        articles = summarise(
            [(_article(c), c.text) for c in kept],
            [request.market.question, *queries],
            self.config.token_budget,
        )
        if len(articles) < len(kept):
            skipped["over budget"] += len(kept) - len(articles)
        for failure in failures:
            log.warning("retrieval for %s: %s", request.market.condition_id, failure)
        return Retrieval(tuple(queries), source, tuple(articles), failures, dict(skipped))

    async def _queries(self, request: AnalysisRequest) -> tuple[list[str], str]:
        count = self.config.max_queries
        if self._writer is None:
            return heuristic_queries(request, count), "heuristic (no LLM)"
        answer = await self._writer.write_queries(request, count=count)
        if isinstance(answer, QueryOutput):
            written = clean_queries(answer.queries, count)
            if written:
                return written, "llm"
            return heuristic_queries(request, count), "heuristic (no usable query)"
        return heuristic_queries(request, count), f"{_WRITER_FAILED}{answer.failure})"

    async def _search(
        self, queries: Sequence[str], now: datetime
    ) -> tuple[list[SearchHit], tuple[str, ...]]:
        since = now - self.config.lookback
        limit = self.config.results_per_query

        async def one(provider: SearchProvider, query: str) -> list[SearchHit] | str:
            try:
                return await provider.search(query, since=since, until=now, limit=limit)
            except SearchError as exc:
                return str(exc)
            except Exception as exc:  # a provider's bug costs its own answer only
                log.exception("retrieval: provider %s failed unexpectedly", provider.name)
                return f"{provider.name}: {type(exc).__name__}"

        jobs = [(p, q) for p in self.providers for q in queries]
        answers = await asyncio.gather(*(one(p, q) for p, q in jobs))
        hits: list[SearchHit] = []
        errors: dict[str, list[str]] = {}
        for (provider, _), answer in zip(jobs, answers, strict=True):
            if isinstance(answer, str):
                errors.setdefault(provider.name, []).append(answer)
            else:
                hits.extend(answer)
        failures = tuple(
            f"{name} failed {len(found)}/{len(queries)} queries ({found[0]})"
            for name, found in errors.items()
        )
        return hits, failures

    def _usable(
        self, hits: Sequence[SearchHit], now: datetime, skipped: Counter[str]
    ) -> list[_Candidate]:
        seen = Deduper()
        chosen: list[_Candidate] = []
        for hit in hits:
            if hit.published is not None and hit.published > now:
                skipped["after now"] += 1
            elif hit.published is None and not self.config.undated:
                skipped["undated"] += 1
            elif seen.seen_page(hit.url, hit.title):
                skipped["duplicate"] += 1
            elif len(chosen) < self.config.max_articles:
                seen.keep(hit.url, hit.title)
                chosen.append(_Candidate(hit, hit.published, hit.text))
        return chosen

    async def _read(
        self, candidates: Sequence[_Candidate], now: datetime, skipped: Counter[str]
    ) -> None:
        """Fetch and extract the hits that came without text (concurrently, bounded)."""
        slots = asyncio.Semaphore(max(1, self.config.fetch_concurrency))

        async def one(candidate: _Candidate) -> None:
            if candidate.text:
                return
            async with slots:
                try:
                    html = await fetch_page(
                        self._client,
                        candidate.hit.url,
                        timeout=self.config.fetch_timeout,
                        max_bytes=self.config.max_page_bytes,
                        private_hosts=self.config.private_hosts,
                        private_origins=self.config.private_origins,
                        resolve=self._resolve,
                    )
                    page = await extract(html, candidate.hit.url)
                except FetchError as exc:
                    skipped["unreadable"] += 1
                    log.info("retrieval: %s not read: %s", candidate.hit.url, exc)
                    return
            candidate.text = page.text
            if candidate.published is None and page.date is not None:
                # only a day that is over counts; a page dated today stays undated
                day_end = end_of_day(page.date)
                candidate.published = day_end if day_end <= now else None

        await asyncio.gather(*(one(c) for c in candidates))

    def _distinct_texts(
        self, candidates: Sequence[_Candidate], skipped: Counter[str]
    ) -> list[_Candidate]:
        seen = Deduper()
        kept: list[_Candidate] = []
        for candidate in candidates:
            if candidate.text and seen.seen_text(candidate.text):
                skipped["duplicate"] += 1
                continue
            seen.keep(candidate.hit.url, candidate.hit.title, candidate.text)
            kept.append(candidate)
        return kept


def _article(candidate: _Candidate) -> RetrievedArticle:
    hit = candidate.hit
    return RetrievedArticle(
        title=hit.title or candidate.hit.url,
        url=hit.url,
        published=candidate.published,
        provider=hit.provider,
        summary="",
        query=hit.query,
    )

"""A market's retrieval kept for a while and given again while its evidence is unchanged.

The triage analyses a market again when its price moves a bucket, even with no new news.
Searching again then costs a query-writing call, every provider's searches and the page reads,
and usually finds a slightly different set of articles, which changes the market's cached
prompt context (`trader.signals.prompts.market_context`) so that it is written to the prompt
cache again instead of read. `ReusedRetrievals` keeps what one retrieval found, keyed by the
market (condition id), what its queries are written from (question, end date, rules) and the
set of its matched news item ids, and gives it again while
`0 <= request.now - kept.now <= window` (`RETRIEVAL_REUSE_S`).

Time is the request's `now`, never the wall clock, so a backtest on simulated time behaves as
a live run. No leakage: an entry made at an earlier `now` holds only articles published before
that now (the retriever's time rule), so it is safe at any later now; a request whose `now` is
before the entry's (another run, a replay from the start) is never given it.

Only a retrieval without any failure is kept: a provider that failed, or a query writer that
did not answer (its queries then came from the question's words), is asked again next time.
Memory is bounded: the least recently used markets beyond `capacity` are forgotten.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from trader.signals.kept import KeptByMarket
from trader.signals.values import AnalysisRequest

if TYPE_CHECKING:  # the retriever imports this module
    from trader.signals.retrieval.retriever import Retrieval

DEFAULT_CAPACITY = 2_000  # markets; far more than a cycle analyses (MAX_MARKETS_PER_CYCLE)

_Key = tuple[str, str, datetime | None, str, frozenset[str]]


def reuse_key(request: AnalysisRequest) -> _Key:
    """What the retrieval depends on besides the time: the market, what its queries are
    written from, and which news items it matched."""
    market = request.market
    news = frozenset(match.item.item_id for match in request.news)
    return (market.condition_id, market.question, market.end_date, market.description, news)


class ReusedRetrievals:
    """The last clean retrieval of each market, for `window` after the `now` it ran at (an
    LRU of `capacity` markets). A zero window keeps nothing."""

    def __init__(self, window: timedelta, capacity: int = DEFAULT_CAPACITY) -> None:
        if window < timedelta(0):
            raise ValueError("the retrieval reuse window cannot be negative")
        if capacity < 1:
            raise ValueError("the retrieval reuse needs room for at least one market")
        self.window = window
        self.capacity = capacity
        self._kept: KeptByMarket[Retrieval] = KeptByMarket(capacity)

    def __len__(self) -> int:
        return len(self._kept)

    def find(self, request: AnalysisRequest) -> Retrieval | None:
        """The kept retrieval, marked with when it ran, when it still stands for `request`."""
        market = request.market.condition_id
        found = self._kept.find(market, reuse_key(request), request.now, self.window)
        if found is None:
            return None
        ran_at, retrieval = found
        return replace(retrieval, reused_from=ran_at)

    def keep(self, request: AnalysisRequest, retrieval: Retrieval) -> None:
        """Remember a fresh retrieval (one with a failure replaces nothing and is not kept)."""
        if self.window <= timedelta(0) or not retrieval.clean:
            return
        self._kept.keep(request.market.condition_id, reuse_key(request), request.now, retrieval)

"""History from the venue: fetched once, cached locally, refreshed incrementally.

`fetch_history(port, start=, end=, cache=)` asks a `HistoryPort` (in the app,
`trader.venue.polymarket.history.PolymarketHistory`: Gamma and the price history through the
official SDK) for the resolved and the active markets, keeps those listed at some moment of
[start, end], and for each of their tokens the prices from its opening (or `start`) to its
close (or `end`). The result is written to `cache` in the backtest's own file format
(`polyops-history/1`, `history.history_to_json`), and a later fetch asks only for what the cache
lacks: a token's prices from its last cached point on, and nothing for a market the cache holds as
resolved through its close. Prices of exactly 0 or 1 (a resolved market's final print) are not
kept: the replay settles at the recorded payouts instead.

A market resolves in the history at Gamma's `closedTime` with its payouts; a market closed
without payouts yet (oracle not answered) is kept unresolved. A market without an end date
ends at its close, else at `end`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Protocol

from trader.backtest.history import (
    HistoricalMarket,
    History,
    HistoryError,
    PriceSeries,
    history_to_json,
    load_history,
)
from trader.domain import ONE, ZERO, Market, Payouts


class PastMarketRecord(Protocol):
    @property
    def market(self) -> Market: ...
    @property
    def opened_at(self) -> datetime | None: ...
    @property
    def closed_at(self) -> datetime | None: ...
    @property
    def payouts(self) -> Payouts | None: ...


class HistoryPort(Protocol):
    """Where a venue's past comes from (the venue adapter implements it)."""

    async def markets(self, *, closed: bool, limit: int = ...) -> Sequence[PastMarketRecord]: ...

    async def prices(
        self, token_id: str, start: datetime, end: datetime, *, bucket_seconds: int | None = ...
    ) -> list[tuple[datetime, Decimal]]: ...


async def fetch_history(
    port: HistoryPort,
    *,
    start: datetime,
    end: datetime,
    cache: Path,
    bucket_seconds: int | None = 3600,
    limit: int = 1000,
) -> tuple[History, int]:
    """The history of [start, end] and how many price points were fetched this time."""
    cached = _load_cache(cache)
    known = {m.market.condition_id: m for m in cached.markets} if cached else {}
    prices = dict(cached.prices) if cached else {}
    listed: dict[str, HistoricalMarket] = {}
    for closed in (True, False):
        for record in await port.markets(closed=closed, limit=limit):
            item = _historical(record, end)
            if item is not None and item.opened_at < end and _ends(item) > start:
                listed.setdefault(item.market.condition_id, item)
    fetched = 0
    for condition_id in sorted(listed):
        item = listed[condition_id]
        complete = _complete(known.get(condition_id), item)
        for token in item.market.tokens:
            series = prices.get(token.token_id)
            if complete and series is not None:
                continue
            low = max(item.opened_at, start)
            if series is not None and series.times:
                # from the last cached point itself: the venue may still revise its bucket
                low = max(low, series.times[-1])
            high = min(_ends(item), end)
            if low >= high:
                continue
            points = await port.prices(token.token_id, low, high, bucket_seconds=bucket_seconds)
            kept = [(t, p) for t, p in points if ZERO < p < ONE]
            fetched += _new(series, kept)
            prices[token.token_id] = _merge(series, kept)
    markets = [*{**known, **listed}.values()]
    markets.sort(key=lambda m: m.market.condition_id)
    history = History.of(markets, prices, cached.news if cached else ())
    _write_cache(cache, history)
    return history, fetched


def _historical(record: PastMarketRecord, end: datetime) -> HistoricalMarket | None:
    opened = record.opened_at
    if opened is None:
        return None  # a market without a start cannot be placed in time
    # the market as it traded (Gamma shows a resolved one closed, no longer accepting orders);
    # the history's own times say when it is listed, as the file form does
    market = replace(
        record.market,
        active=True,
        closed=False,
        accepting_orders=True,
        end_date=record.market.end_date or record.closed_at or end,
    )
    resolved = record.closed_at if record.payouts is not None else None
    if resolved is not None and record.payouts is not None:
        return HistoricalMarket(market, opened, resolved, dict(record.payouts))
    return HistoricalMarket(market, opened)


def _ends(item: HistoricalMarket) -> datetime:
    ends = [t for t in (item.market.end_date, item.resolved_at) if t is not None]
    return max(ends) if ends else datetime.max.replace(tzinfo=item.opened_at.tzinfo)


def _complete(cached: HistoricalMarket | None, fresh: HistoricalMarket) -> bool:
    """The cache holds this market resolved: its prices cannot grow any more."""
    return cached is not None and cached.payouts is not None and fresh.payouts is not None


def _new(series: PriceSeries | None, points: Sequence[tuple[datetime, Decimal]]) -> int:
    """How many of `points` the cache did not hold as they are."""
    held = set(zip(series.times, series.prices, strict=True)) if series else set()
    return sum(1 for point in points if point not in held)


def _merge(series: PriceSeries | None, points: Sequence[tuple[datetime, Decimal]]) -> PriceSeries:
    merged = dict(zip(series.times, series.prices, strict=True)) if series else {}
    merged.update(points)
    ordered = sorted(merged.items())
    return PriceSeries(tuple(t for t, _ in ordered), tuple(p for _, p in ordered))


def _load_cache(path: Path) -> History | None:
    if not path.exists():
        return None
    try:
        return load_history(path)
    except HistoryError as error:
        raise HistoryError(f"history cache {error} (remove it to fetch afresh)") from None


def _write_cache(path: Path, history: History) -> None:
    """Written whole to a sibling file, then renamed: a crash leaves the old cache."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(path.suffix + ".partial")
    partial.write_text(json.dumps(history_to_json(history), indent=1) + "\n")
    os.replace(partial, path)

"""A recording (`trader.recording`) read back as a backtest's history and forecasts.

`load_recording(root, start, end)` reads the recording of a window. `history_with_recording`
merges it into a history (or makes one from it alone): markets the history lacks come from the
recorded metadata (opened when first recorded, resolved when a resolution was recorded); the
recorded books replace the price history where present (`History.recorded_book`: the latest of
book and price point wins), and a token with books but no price series gets one from their
mids, for marks; recorded news items are visible from when the bot fetched them (never before
publication). `recorded_forecasts` turns the recorded forecasts into `replay` forecasts: a
backtest over a recording replays what the bot concluded, at the time it concluded it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from trader.backtest.history import BookSeries, HistoricalMarket, History, PriceSeries
from trader.backtest.signals import RecordedForecast
from trader.domain import Book, BookLevel, FeeSchedule, Market, OutcomeToken
from trader.recording.rows import KINDS, Row
from trader.recording.store import ParquetStore
from trader.signals.values import NewsItem, Source


@dataclass(frozen=True, slots=True)
class Recording:
    rows: dict[str, list[Row]] = field(default_factory=dict)

    def of(self, kind: str) -> list[Row]:
        return self.rows.get(kind, [])

    def counts(self) -> dict[str, int]:
        return {kind: len(self.of(kind)) for kind in KINDS}


EVERY_DAY = ("markets", "resolutions", "forecasts")  # small, and needed from before the window
SINCE = datetime(2000, 1, 1, tzinfo=UTC)


def load_recording(root: Path, start: datetime, end: datetime) -> Recording:
    """Books, trades and news between `start` and `end`; markets, resolutions and forecasts
    up to `end` from the recording's first day (a market is recorded when first seen and when
    it changes, and the latest forecast before the window's first cycle is replayed)."""
    store = ParquetStore(root)
    return Recording(
        {kind: store.read(kind, SINCE if kind in EVERY_DAY else start, end) for kind in KINDS}
    )


def recorded_book(row: Row) -> Book:
    bids = tuple(
        BookLevel(Decimal(p), Decimal(s))
        for p, s in zip(row["bid_prices"], row["bid_sizes"], strict=True)
    )
    asks = tuple(
        BookLevel(Decimal(p), Decimal(s))
        for p, s in zip(row["ask_prices"], row["ask_sizes"], strict=True)
    )
    return Book(
        token_id=row["token_id"],
        bids=bids,
        asks=asks,
        timestamp=row["at"],
        tick_size=Decimal(row["tick_size"]),
        min_order_size=Decimal(row["min_order_size"]),
        market=row["market"],
        hash=row["hash"],
    )


def _market(row: Row) -> Market:
    fees = json.loads(row["fees"])
    return Market(
        condition_id=row["condition_id"],
        question=row["question"],
        tokens=tuple(OutcomeToken(token, outcome) for token, outcome in json.loads(row["tokens"])),
        end_date=row["end_date"],
        tick_size=Decimal(row["tick_size"]),
        min_order_size=Decimal(row["min_order_size"]),
        neg_risk=row["neg_risk"],
        event_id=row["event_id"],
        volume=Decimal(row["volume"]),
        liquidity=Decimal(row["liquidity"]),
        slug=row["slug"],
        description=row["description"],
        fees=FeeSchedule(
            Decimal(fees["rate"]),
            fees["exponent"],
            fees["taker_only"],
            Decimal(fees["rebate_rate"]),
            fees["enabled"],
        ),
    )


def _markets(recording: Recording) -> list[HistoricalMarket]:
    first: dict[str, datetime] = {}
    latest: dict[str, Market] = {}
    for row in recording.of("markets"):
        first.setdefault(row["condition_id"], row["at"])
        latest[row["condition_id"]] = _market(row)
    resolved = {
        row["market"]: (row["at"], {t: Decimal(p) for t, p in json.loads(row["payouts"]).items()})
        for row in recording.of("resolutions")
    }
    found = []
    for condition_id, market in latest.items():
        at, payouts = resolved.get(condition_id, (None, None))
        found.append(HistoricalMarket(market, first[condition_id], at, payouts))
    return found


def _books(recording: Recording) -> dict[str, BookSeries]:
    by_token: dict[str, list[Book]] = {}
    for row in recording.of("books"):
        by_token.setdefault(row["token_id"], []).append(recorded_book(row))
    return {
        token: BookSeries(tuple(b.timestamp for b in books), tuple(books))
        for token, books in by_token.items()
    }


def _mids(books: dict[str, BookSeries]) -> dict[str, PriceSeries]:
    series = {}
    for token, recorded in books.items():
        points = [(b.timestamp, b.mid) for b in recorded.books if b.mid is not None]
        if points:
            series[token] = PriceSeries(tuple(t for t, _ in points), tuple(m for _, m in points))
    return series


def history_with_recording(recording: Recording, base: History | None = None) -> History:
    markets = list(base.markets) if base is not None else []
    known = {m.market.condition_id for m in markets}
    markets.extend(m for m in _markets(recording) if m.market.condition_id not in known)
    books = _books(recording)
    prices = {**_mids(books), **(base.prices if base is not None else {})}
    news = {n.item_id: n for n in (base.news if base is not None else ())}
    visible: dict[str, datetime] = {}
    for row in recording.of("news"):
        item = NewsItem(
            row["item_id"],
            row["title"],
            row["link"],
            row["summary"],
            row["published"],
            row["source"],
        )
        news.setdefault(item.item_id, item)
        visible.setdefault(item.item_id, row["at"])
    return History.of(markets, prices, list(news.values()), books=books, visible=visible)


def recorded_forecasts(recording: Recording) -> dict[str, list[RecordedForecast]]:
    """The recorded forecasts by market, as `replay` mode reads them."""
    found: dict[str, list[RecordedForecast]] = {}
    for row in recording.of("forecasts"):
        found.setdefault(row["market"], []).append(_forecast(row))
    return found


def _forecast(row: Row) -> RecordedForecast:
    source = Source.HEURISTIC if row["source"] == Source.HEURISTIC else Source.LLM
    return RecordedForecast(
        created_at=row["at"],
        probability=Decimal(row["model_probability"]),
        confidence=Decimal(row["confidence"]),
        model=str(row["source"]),
        source=source,
        sources=tuple(row["sources"]),
    )


def describe(recording: Recording) -> str:
    counts: dict[str, Any] = recording.counts()
    return "recording: " + ", ".join(f"{n} {kind}" for kind, n in counts.items())

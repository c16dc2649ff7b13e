"""`Recorder`: the app's side of the recording. Never blocks the hot path.

Each `book`, `fill`, `markets`, `resolution`, `news` or `forecast` call is synchronous and
cheap: it appends the value as it is (domain values are immutable) with the time it was seen
to a bounded buffer, or, when the buffer already holds `queue_max` entries, drops it and
counts it in `dropped` (per kind). Rows are made from the values, and written as Parquet, on a
worker thread by `flush()`, which `run()` calls every `flush_s` seconds of the loop's time, or
sooner once the buffer is half full; at most one write is in flight, so memory stays bounded
by twice the buffer. A write that fails is logged and counted (`write_errors`) and its batch
is lost: the recording is a record for backtests, never a reason to stop trading.

Books are recorded on change and at an interval: a token's book is kept when its best `depth`
levels differ from the last kept one, or when `book_interval_s` has passed since then (so a
quiet market still has a recent book). A market's metadata is kept when first seen and when it
changes (question, tokens, end date, tick, fees); a news item once.

Retention: after a flush on a new UTC day, the partitions older than `retention_days` go.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from trader.clock import Clock
from trader.config import Settings
from trader.domain import Book, Fill, Market, Resolution
from trader.recording import rows
from trader.recording.store import ParquetStore
from trader.signals.records import ForecastRecord
from trader.signals.values import NewsItem

log = logging.getLogger(__name__)
Entry = tuple[str, Any, datetime]


@dataclass(frozen=True, slots=True)
class RecorderConfig:
    root: Path
    book_interval_s: float = 60.0  # an unchanged book is kept again after this long
    book_depth: int = 10  # levels kept a side
    queue_max: int = 10_000  # entries waiting to be written; more are dropped and counted
    flush_s: float = 30.0
    retention_days: int = 90


class Recorder:
    def __init__(self, config: RecorderConfig, clock: Clock, store: ParquetStore | None = None):
        self.config = config
        self._clock = clock
        self.store = store or ParquetStore(config.root)
        self._buffer: list[Entry] = []
        self._half = max(1, config.queue_max // 2)
        self._wake = asyncio.Event()
        self._last_book: dict[str, tuple[Any, float]] = {}
        self._last_market: dict[str, Any] = {}
        self._seen_news: set[str] = set()
        self.recorded: Counter[str] = Counter()
        self.dropped: Counter[str] = Counter()
        self.written: Counter[str] = Counter()
        self.write_errors = 0
        self._pruned: date | None = None
        self._writing = asyncio.Lock()

    # --- the hot side: synchronous, bounded ---------------------------------------------------

    def _put(self, kind: str, value: Any, at: datetime) -> bool:
        buffer = self._buffer
        if len(buffer) >= self.config.queue_max:
            self.dropped[kind] += 1
            return False
        buffer.append((kind, value, at))
        self.recorded[kind] += 1
        if len(buffer) >= self._half:
            self._wake.set()
        return True

    def book(self, book: Book) -> bool:
        """Keep `book` if it changed or its interval passed; whether it was kept."""
        depth = self.config.book_depth
        key = (book.bids[:depth], book.asks[:depth])
        now = self._clock.monotonic()
        last = self._last_book.get(book.token_id)
        if last is not None and last[0] == key and now - last[1] < self.config.book_interval_s:
            return False
        if not self._put("books", book, self._clock.now()):
            return False
        self._last_book[book.token_id] = (key, now)
        return True

    def fill(self, fill: Fill) -> None:
        self._put("trades", fill, fill.timestamp)

    def markets(self, markets: Iterable[Market]) -> None:
        now = self._clock.now()
        for market in markets:
            key = rows.market_key(market)
            if self._last_market.get(market.condition_id) != key and self._put(
                "markets", market, now
            ):
                self._last_market[market.condition_id] = key

    def resolution(self, resolution: Resolution) -> None:
        self._put("resolutions", resolution, resolution.at)

    def news(self, items: Iterable[NewsItem]) -> None:
        """Items as fetched now (their publication time is kept beside)."""
        now = self._clock.now()
        for item in items:
            if item.item_id not in self._seen_news and self._put("news", item, now):
                self._seen_news.add(item.item_id)

    def forecast(self, record: ForecastRecord) -> None:
        self._put("forecasts", record, record.timestamp)

    def books_of(
        self, getter: Callable[[str], Awaitable[Book]]
    ) -> Callable[[str], Awaitable[Book]]:
        """`getter` (the venue's `get_book`), recording each book it returns."""

        async def get_book(token_id: str) -> Book:
            book = await getter(token_id)
            self.book(book)
            return book

        return get_book

    # --- the writer: off the loop ----------------------------------------------------------

    def pending(self) -> int:
        return len(self._buffer)

    async def flush(self) -> int:
        """Write what is buffered, on a worker thread; how many entries were written."""
        async with self._writing:
            batch, self._buffer = self._buffer, []
            self._wake.clear()
            if batch:
                try:
                    await asyncio.to_thread(self._write, batch)
                except Exception:
                    self.write_errors += 1
                    log.exception("the recorder could not write %d entries", len(batch))
                    return 0
            today = self._clock.now().date()
            if self._pruned != today:
                self._pruned = today
                await asyncio.to_thread(self.store.prune, today, self.config.retention_days)
            return len(batch)

    def _write(self, batch: Sequence[Entry]) -> None:
        by_kind: dict[str, list[rows.Row]] = {}
        depth = self.config.book_depth
        for kind, value, at in batch:
            by_kind.setdefault(kind, []).append(_row(kind, value, at, depth))
        for kind, made in by_kind.items():
            self.store.write(kind, made)
            self.written[kind] += len(made)

    async def run(self) -> None:
        """The supervised writer: flush every `flush_s` or when half full; flush on the way out."""
        try:
            while True:
                with contextlib.suppress(TimeoutError):  # the interval passed: flush anyway
                    await asyncio.wait_for(self._wake.wait(), timeout=self.config.flush_s)
                await self.flush()
        finally:
            await asyncio.shield(self.flush())

    def stats(self) -> dict[str, Any]:
        return {
            "recorded": dict(self.recorded),
            "dropped": dict(self.dropped),
            "written": dict(self.written),
            "pending": len(self._buffer),
            "write_errors": self.write_errors,
        }


def _row(kind: str, value: Any, at: datetime, depth: int) -> rows.Row:
    if kind == "books":
        return rows.book_row(value, at, depth)
    if kind == "trades":
        return rows.trade_row(value)
    if kind == "markets":
        return rows.market_row(value, at)
    if kind == "resolutions":
        return rows.resolution_row(value)
    if kind == "news":
        return rows.news_row(value, at)
    return rows.forecast_row(value)


def bus_components(recorder: Recorder, bus: Any) -> dict[str, Callable[[], Awaitable[None]]]:
    """The supervised readers of the bus's facts: streamed books, our fills, resolutions. Each
    subscribes when built, so nothing published after this call is missed."""
    books, fills, resolutions = (
        bus.books.subscribe(),
        bus.fills.subscribe(),
        bus.resolutions.subscribe(),
    )

    async def read_books() -> None:
        async for envelope in books:
            recorder.book(envelope.payload)

    async def read_fills() -> None:
        async for envelope in fills:
            recorder.fill(envelope.payload)

    async def read_resolutions() -> None:
        async for envelope in resolutions:
            recorder.resolution(envelope.payload)

    return {
        "recorder.writer": recorder.run,
        "recorder.books": read_books,
        "recorder.fills": read_fills,
        "recorder.resolutions": read_resolutions,
    }


def build_recorder(settings: Settings, clock: Clock) -> Recorder:
    return Recorder(
        RecorderConfig(
            root=settings.recorder_dir,
            book_interval_s=settings.recorder_book_interval_s,
            book_depth=settings.recorder_book_depth,
            queue_max=settings.recorder_queue_max,
            flush_s=settings.recorder_flush_s,
            retention_days=settings.recorder_retention_days,
        ),
        clock,
    )

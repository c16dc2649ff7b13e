"""The recorder's cost on the hot path, per book update, and what its files cost on disk.

`Recorder.book(book)` is what a book update pays when RECORDER_ENABLED is on: the change check
against the last kept book of the token, and (when kept) an append to the bounded buffer. Timed
per call for books that all changed (each kept) and for unchanged books inside the interval
(each skipped), in batches of 100 calls to see past the timer's resolution; p50/p99 are of the
batches' per-call means. Then the writer: rows per second made and written as Parquet on the
worker thread, and bytes per kept book on disk (zstd, distinct books with random sizes), from
which a month of 200 tokens each
kept once a minute is extrapolated.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from trader.clock import SystemClock
from trader.domain import Book, BookLevel
from trader.recording.recorder import Recorder, RecorderConfig

TOKENS = 200
UPDATES = 100_000
BATCH = 100
SIZED = 20_000  # distinct random books written to measure the bytes per book


def _books() -> list[Book]:
    now = datetime.now(UTC)
    levels = [BookLevel(Decimal(p) / 100, Decimal(100 + p)) for p in range(1, 99)]
    return [
        Book(
            f"token-{i % TOKENS}",
            tuple(reversed(levels[30 + i % 7 : 45 + i % 7])),
            tuple(levels[50 + i % 5 : 65 + i % 5]),
            now,
            market=f"0x{i % TOKENS:064x}",
        )
        for i in range(1_000)
    ]


def _random_books(count: int) -> list[Book]:
    """Distinct books with random sizes (what compresses least), 15 levels a side."""
    rng = random.Random(21)
    now = datetime.now(UTC)
    found = []
    for i in range(count):
        mid = rng.randint(20, 80)
        bids = tuple(
            BookLevel(Decimal(mid - k) / 100, Decimal(rng.randint(5, 5000))) for k in range(1, 16)
        )
        asks = tuple(
            BookLevel(Decimal(mid + k) / 100, Decimal(rng.randint(5, 5000))) for k in range(1, 16)
        )
        found.append(Book(f"token-{i % TOKENS}", bids, asks, now, market=f"0x{i % TOKENS:064x}"))
    return found


def _per_call_us(recorder: Recorder, books: list[Book], count: int) -> list[float]:
    means = []
    for start in range(0, count, BATCH):
        began = time.perf_counter()
        for i in range(start, start + BATCH):
            recorder.book(books[i % len(books)])
        means.append((time.perf_counter() - began) / BATCH * 1e6)
    return means


def run() -> dict[str, float]:
    books = _books()
    with tempfile.TemporaryDirectory(prefix="polyops-bench-recorder-") as tmp:
        root = Path(tmp)
        changed = Recorder(
            RecorderConfig(root=root, queue_max=UPDATES * 2, book_interval_s=3600), SystemClock()
        )
        # every update differs from the last kept one of its token: each one is kept
        distinct = [replace(b, bids=b.bids[: 5 + i % 10]) for i, b in enumerate(books)]
        kept = _per_call_us(changed, distinct, UPDATES)
        same = Recorder(RecorderConfig(root=root / "same", book_interval_s=3600), SystemClock())
        for book in books[:TOKENS]:
            same.book(book)
        skipped = _per_call_us(same, books[:TOKENS], UPDATES)
        began = time.perf_counter()
        written = asyncio.run(changed.flush())
        write_s = time.perf_counter() - began
        sized = Recorder(RecorderConfig(root=root / "sized", queue_max=SIZED), SystemClock())
        for book in _random_books(SIZED):
            sized.book(book)
        asyncio.run(sized.flush())
        per_book = sized.store.size_bytes() / SIZED
    month_gb = per_book * TOKENS * 60 * 24 * 30 / 1e9
    return {
        "book_kept_p50_us": round(statistics.median(kept), 2),
        "book_kept_p99_us": round(statistics.quantiles(kept, n=100)[98], 2),
        "book_skipped_p50_us": round(statistics.median(skipped), 2),
        "book_skipped_p99_us": round(statistics.quantiles(skipped, n=100)[98], 2),
        "writer_rows_per_s (worker thread)": round(written / write_s),
        "bytes_per_kept_book (zstd, 15 random levels a side)": round(per_book, 1),
        "month_200_tokens_1_per_min_gb": round(month_gb, 2),
    }


if __name__ == "__main__":
    for key, value in run().items():
        print(f"{key}: {value:,}")

"""Bus publish rate: coalesced book updates and never-drop alerts, messages per second."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal

from trader.bus import Bus
from trader.domain import Alert, Book, BookLevel, Severity

N = 200_000


def run() -> dict[str, float]:
    bus = Bus()
    books = bus.books.subscribe()
    alerts = bus.alerts.subscribe()
    now = datetime.now(UTC)
    payloads = [
        Book(f"t{i % 50}", (BookLevel(Decimal(i % 100) / 100, Decimal(10)),), (), now)
        for i in range(1000)
    ]
    started = time.perf_counter()
    for i in range(N):
        bus.books.publish(payloads[i % 1000], "c")
    coalesced = N / (time.perf_counter() - started)
    alert = Alert("bench", Severity.INFO, "x")
    started = time.perf_counter()
    for _ in range(N):
        bus.alerts.publish(alert, "c")
    queued = N / (time.perf_counter() - started)
    pending_books = books.pending()
    books.close()
    alerts.close()
    return {
        "book_publish_per_s (coalescing, 50 tokens)": round(coalesced),
        "alert_publish_per_s (never-drop queue)": round(queued),
        "pending_books_after_200k": pending_books,
    }


if __name__ == "__main__":
    for key, value in run().items():
        print(f"{key}: {value:,}")

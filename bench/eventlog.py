"""Event log throughput on SQLite (WAL) in a temporary directory.

Figures:
  append_per_s           appends per second as the caller sees them (buffering only)
  append_mean_us         the caller's cost of one append, in microseconds
  burst_persisted_per_s  50,000 appends in one burst, then close(): committed rows per second
  paced_persisted_per_s  the same events appended in chunks of 100 with the loop free in
                         between (as in the running app), until every row is committed
  paced_batches          transactions the background writer used for the paced run
  paced_loop_stall_p99_ms  how long the event loop was unavailable during the paced run
  paced_loop_stall_max_ms  (1 ms ticks: appending a chunk plus the writer's CPU share of a
                         batch, which SQLAlchemy's async layer spends on the loop's thread)

Run alone with `python -m bench.eventlog`; `make bench` runs it with the others.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from trader.clock import SystemClock
from trader.domain import Side
from trader.store import migrate
from trader.store.db import create_engine, session_factory
from trader.store.eventlog import EventLog

N = 50_000
CHUNK = 100


def _payload(n: int) -> dict[str, object]:
    return {
        "n": n,
        "token_id": "71321045679252212594626385532706912750332728571942532289631379312455583992563",
        "side": Side.BUY,
        "price": Decimal("0.47"),
        "size": Decimal("21.5"),
        "reason": "edge 0.06 over ask after fees",
    }


async def _burst(url: str) -> dict[str, float]:
    engine = create_engine(url)
    try:
        log = EventLog(session_factory(engine), SystemClock())
        await log.start()
        payloads = [_payload(n) for n in range(N)]
        started = time.perf_counter()
        for n, payload in enumerate(payloads):
            log.append("order_intent", payload, correlation_id=f"c{n % 1000}")
        appended = time.perf_counter()
        await log.close()
        finished = time.perf_counter()
    finally:
        await engine.dispose()
    append_seconds = appended - started
    return {
        "append_per_s": round(N / append_seconds),
        "append_mean_us": round(append_seconds / N * 1e6, 2),
        "burst_persisted_per_s": round(N / (finished - started)),
    }


async def _ticker(stop: asyncio.Event, gaps: list[float]) -> None:
    """Measure how long the loop is unavailable: the largest gap between 1 ms ticks."""
    last = time.perf_counter()
    while not stop.is_set():
        await asyncio.sleep(0.001)
        now = time.perf_counter()
        gaps.append(now - last)
        last = now


async def _paced(url: str) -> dict[str, float]:
    engine = create_engine(url)
    stop, gaps = asyncio.Event(), [0.0]
    try:
        log = EventLog(session_factory(engine), SystemClock())
        await log.start()
        ticker = asyncio.create_task(_ticker(stop, gaps))
        payloads = [_payload(n) for n in range(N)]
        started = time.perf_counter()
        for first in range(0, N, CHUNK):
            for n in range(first, first + CHUNK):
                log.append("book_seen", payloads[n], correlation_id=None)
            await asyncio.sleep(0)  # give the loop (and the writer) a turn, as the app does
        await log.flush()  # whatever the writer has not committed yet
        finished = time.perf_counter()
        stop.set()
        await ticker
        await log.close()
    finally:
        await engine.dispose()
    return {
        "paced_persisted_per_s": round(N / (finished - started)),
        "paced_batches": log.batches_written,
        "paced_loop_stall_p99_ms": round(sorted(gaps)[int(len(gaps) * 0.99)] * 1000, 1),
        "paced_loop_stall_max_ms": round(max(gaps) * 1000, 1),
    }


def run() -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="polyops-bench-") as folder:
        burst_url = f"sqlite+aiosqlite:///{Path(folder) / 'burst.db'}"
        paced_url = f"sqlite+aiosqlite:///{Path(folder) / 'paced.db'}"
        migrate.upgrade(burst_url)
        migrate.upgrade(paced_url)
        figures = asyncio.run(_burst(burst_url))
        figures.update(asyncio.run(_paced(paced_url)))
    return {"events": N, **figures}


if __name__ == "__main__":
    for name, value in run().items():
        print(f"{name:>24}  {value:,}")

"""Hot-path latency: order intent to position update, through the real execution engine.

What one measured call (`ExecutionEngine.handle`) includes: the engine lock, the market
and book look-up (cached), the risk checks, the capital reservation, `PaperVenue.prepare`
(rounding and validation), the order row written before the venue is called, the paper
submit (a marketable order walking the book), the fill applied to the position in memory,
the rows that fill changes written (the SQLite variant: committed before the call returns),
every event-log append and the bus publishes. Intents alternate BUY and SELL of 10 shares,
so positions stay small; the book is reset between intents, outside the timed region, and
the event loop runs its other tasks there (as the app's loop does between two intents).

Two stores for the order row:
  memory_*   an in-memory store (the fast in-process setup: N = 100,000 intents); it stands
             for the database, so it keeps only the last `KEEP_ROWS` orders and fills
             (pruned outside the timed region, see `_forget_old_rows`)
  sqlite_*   the real SQLite store (WAL, synchronous=NORMAL) as the app wires it, through the
             engine's direct writer (trader/store/direct.py: no thread hop): two commits an
             intent, the order row with the events before it (intent, risk, order_created)
             before the venue is called, then the fill's events, the fill row, its position
             and the order's status in one transaction (`sqlite_commits_per_intent`) (N = 2,000)

Figures: p50/p90/p99/max in microseconds, and intents per second; `*_gc_full_max_ms` and
`*_gc_full_count` are the full (generation 2) garbage collections during the run, and
`*_gc_full_max_cpu_ms` the longest one's CPU time (its wall time also counts the waits for a
CPU on a shared machine). A pass walks every object the garbage collector tracks; as the app
does at start-up, the objects made while setting up are frozen (`gc.freeze()`) before the
run, so a pass walks only what the run made and kept. What the app itself keeps per fill is
the paper venue's trade history (one `Fill` each, in paper mode) and, for good, the
portfolio's dedup key and each sell's realization (plain tuples the collector stops tracking).
`cpu_floor_p99_us`: the p99 of a pure-Python loop as long as the SQLite path's p50, sampled as
often, in the same run: what the machine's scheduler alone adds (on a shared 2-core box, a
process waits for a CPU for milliseconds at a time).

Run alone with `python -m bench.hot_path`; `make bench` runs it with the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import statistics
import tempfile
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from trader.bus import Bus
from trader.clock import SystemClock
from trader.domain import Book, BookLevel, Fill, Market, OrderIntent, OutcomeToken, Side
from trader.execution.runtime import ExecutionConfig, build_execution
from trader.execution.store import ExecutionStore, MemoryExecutionStore, SqlExecutionStore
from trader.state import ControlState, RiskLimits
from trader.store import migrate
from trader.store.db import create_engine, session_factory
from trader.store.direct import direct_writer
from trader.store.eventlog import EventLog
from trader.store.repositories import ControlStateRepository
from trader.venue.paper.feed import StaticMarketData
from trader.venue.paper.venue import PaperVenue

N_MEMORY = int(os.environ.get("BENCH_HOT_PATH_N", "100000"))
N_SQLITE = int(os.environ.get("BENCH_HOT_PATH_SQLITE_N", "2000"))
KEEP_ROWS = 1000  # orders and fills the in-memory store keeps (the database keeps the rest)
TOKEN, CONDITION = "tok-bench", "0xbench"
D = Decimal
LIMITS = RiskLimits(
    max_order_notional=D(1_000_000),
    max_position=D(10**9),
    max_exposure=D(10**9),
    max_open_orders=10**6,
    max_orders_per_minute=10**9,
    daily_loss_limit=D(10**9),
    min_edge=D(0),
    cooldown_s=D(0),
    min_time_to_end_s=D(0),
)


class _Journal:
    async def load(self) -> list[Fill]:
        return []

    async def record(self, fill: Fill) -> None:
        return None


def _book(clock: SystemClock) -> Book:
    bids = tuple(BookLevel(D("0.49") - D(i) / 100, D(1000)) for i in range(3))
    asks = tuple(BookLevel(D("0.51") + D(i) / 100, D(1000)) for i in range(3))
    return Book(TOKEN, bids, asks, clock.now(), market=CONDITION)


def _intents(n: int) -> list[OrderIntent]:
    buy = {"side": Side.BUY, "limit_price": D("0.52"), "model_probability": D("0.9")}
    sell = {"side": Side.SELL, "limit_price": D("0.48"), "model_probability": None}
    return [
        OrderIntent(CONDITION, TOKEN, size=D(10), strategy="bench", **(buy if i % 2 == 0 else sell))  # type: ignore[arg-type]
        for i in range(n)
    ]


def _forget_old_rows(store: ExecutionStore) -> None:
    """The in-memory store keeps the rows a database would: without this it held every order
    and fill of 100,000 intents, and the full garbage collections late in the run walked them
    all (the slowest call was one of those passes, a second or more). Outside the timed region."""
    if isinstance(store, MemoryExecutionStore):
        while len(store.orders) > KEEP_ROWS:
            del store.orders[next(iter(store.orders))]
        while len(store.fill_rows) > KEEP_ROWS:
            del store.fill_rows[next(iter(store.fill_rows))]


def _prune_paper_book(venue: PaperVenue) -> None:
    """Drop filled orders from the paper venue's order book, outside the timed region.

    `PaperOrderBook` keeps every order it ever saw and scans all of them on each submit, so
    without this the benchmark measures that O(n) scan (quadratic over 100,000 intents), not
    the hot path. Reported to the venue's owner; a no-op once the book prunes itself.
    """
    orders = getattr(getattr(venue, "_book", None), "_orders", None)
    if isinstance(orders, dict):
        for order_id in [k for k, v in orders.items() if v.order.status.value != "LIVE"]:
            del orders[order_id]


async def _measure(n: int, directory: Path, *, sql_store: bool) -> dict[str, float]:
    clock = SystemClock()
    url = f"sqlite+aiosqlite:///{directory / ('sql' if sql_store else 'mem')}.db"
    await asyncio.to_thread(migrate.upgrade, url)
    database = create_engine(url)
    sessions = session_factory(database)
    market = Market(
        CONDITION,
        "Bench?",
        (OutcomeToken(TOKEN, "Yes"),),
        end_date=clock.now() + timedelta(days=30),
    )
    data = StaticMarketData(clock, [market])
    data.set_book(_book(clock))
    venue = PaperVenue(data, bankroll=D(10**9), clock=clock, journal=_Journal())
    await venue.start()
    events = EventLog(sessions, clock)
    await events.start()
    state = ControlState(ControlStateRepository(sessions, clock), clock, risk_defaults=LIMITS)
    await state.load()
    store: ExecutionStore = (
        SqlExecutionStore(sessions, clock) if sql_store else MemoryExecutionStore()
    )
    runtime = build_execution(
        config=ExecutionConfig(book_feed=False),
        sessions=sessions,
        events=events,
        bus=Bus(),
        venue=venue,
        clock=clock,
        state=state,
        store=store,
        # as the app: the event log flushed before each submit and after fills (SQLite variant)
        durable=events.flush if sql_store else None,
    )
    await runtime.start()
    writer = asyncio.create_task(runtime.components()["execution.writer"]())
    engine = runtime
    samples: list[float] = []
    collections = _FullCollections()
    gc.collect()
    gc.freeze()  # as the app does once it is ready (trader/app/root.py)
    gc.callbacks.append(collections)
    direct = direct_writer(sessions)
    commits_before = direct.commits if direct is not None else 0
    started = time.perf_counter()
    try:
        for intent in _intents(n):
            data.set_book(_book(clock))  # fresh liquidity, outside the timed region
            _prune_paper_book(venue)
            _forget_old_rows(store)
            t0 = time.perf_counter_ns()
            result = await engine.handle(intent)
            samples.append((time.perf_counter_ns() - t0) / 1000)
            if result.filled != intent.size:
                raise RuntimeError(f"intent not filled: {result}")
            # Between intents the loop runs its other tasks, as the app's does while it waits
            # for the next intent on the bus: the event log's writer, the write-behind, the
            # WAL checkpoints (without this they never ran during the run: a call that never
            # waits never lets them, and the WAL grew by every commit of the run).
            await asyncio.sleep(0)
        elapsed = time.perf_counter() - started
        commits = (direct.commits - commits_before) if direct is not None else 0
    finally:
        gc.callbacks.remove(collections)
        gc.unfreeze()
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await writer
        await runtime.close()
        await venue.close()
        data.close()
        await events.close()
        await database.dispose()
    samples.sort()
    prefix = "sqlite" if sql_store else "memory"
    return {
        f"{prefix}_intents": float(n),
        f"{prefix}_p50_us": round(statistics.median(samples), 1),
        f"{prefix}_p90_us": round(samples[int(0.90 * (n - 1))], 1),
        f"{prefix}_p99_us": round(samples[int(0.99 * (n - 1))], 1),
        f"{prefix}_max_us": round(samples[-1], 1),
        f"{prefix}_intents_per_s": round(n / elapsed, 1),
        f"{prefix}_gc_full_count": float(len(collections.pauses)),
        f"{prefix}_gc_full_max_ms": round(max(collections.pauses, default=0.0) * 1000, 1),
        f"{prefix}_gc_full_max_cpu_ms": round(max(collections.cpu, default=0.0) * 1000, 1),
    } | ({"sqlite_commits_per_intent": round(commits / n, 2)} if sql_store else {})


class _FullCollections:
    """A `gc.callbacks` hook: how long each generation-2 collection took."""

    def __init__(self) -> None:
        self.pauses: list[float] = []
        self.cpu: list[float] = []
        self._started = self._started_cpu = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self._started = time.perf_counter()
            self._started_cpu = time.thread_time()
        else:
            self.pauses.append(time.perf_counter() - self._started)
            self.cpu.append(time.thread_time() - self._started_cpu)


def _cpu_floor(duration_us: float, n: int) -> float:
    """p99 in microseconds of a pure-Python loop tuned to last `duration_us`."""
    spins = 1000
    t0 = time.perf_counter_ns()
    _spin(spins)
    per_spin_us = max((time.perf_counter_ns() - t0) / 1000 / spins, 1e-3)
    spins = max(1, int(duration_us / per_spin_us))
    samples = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        _spin(spins)
        samples.append((time.perf_counter_ns() - t0) / 1000)
    samples.sort()
    return round(samples[int(0.99 * (n - 1))], 1)


def _spin(spins: int) -> int:
    total = 0
    for i in range(spins):
        total += i
    return total


async def _main() -> dict[str, float]:
    with tempfile.TemporaryDirectory() as directory:
        figures = await _measure(N_MEMORY, Path(directory), sql_store=False)
        figures |= await _measure(N_SQLITE, Path(directory), sql_store=True)
    figures["cpu_floor_p99_us"] = _cpu_floor(figures["sqlite_p50_us"], N_SQLITE)
    return figures


def run() -> dict[str, float]:
    return asyncio.run(_main())


if __name__ == "__main__":
    for name, value in run().items():
        print(f"{name:28} {value}")

"""The recorder: a round trip through Parquet into a backtest, overflow, retention, books on
change and at an interval (trader/recording/, trader/backtest/recorded.py)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from tests.support.backtest_history import START
from tests.support.recording import RESOLVED, record_a_day, yes_book
from trader.backtest.command import EXIT_BAD_INPUT, run_command
from trader.backtest.kernel import BacktestConfig, run_backtest
from trader.backtest.recorded import history_with_recording, load_recording
from trader.backtest.results import summarise
from trader.clock import FakeClock
from trader.domain import BookLevel
from trader.recording.recorder import Recorder, RecorderConfig
from trader.recording.rows import Row, book_row
from trader.recording.store import ParquetStore
from trader.signals.runtime import SignalRuntimeConfig

END = START + timedelta(days=1)


def config(root: Path) -> BacktestConfig:
    return BacktestConfig(
        start=START,
        end=END,
        cycle_s=3600,
        forecasts="replay",
        recording=root,
        signals=SignalRuntimeConfig(max_order_notional=Decimal(50)),
    )


async def test_a_recording_reads_back_and_a_backtest_fills_against_the_recorded_books(
    tmp_path: Path,
) -> None:
    item = await record_a_day(tmp_path)

    recording = load_recording(tmp_path, START - timedelta(days=1), END)
    history = history_with_recording(recording)
    first = summarise(await run_backtest(history, config(tmp_path)))
    second = summarise(await run_backtest(history, config(tmp_path)))

    assert recording.counts() == {
        "books": 42,  # two tokens, 21 hours; unchanged books are kept again at the interval
        "trades": 0,
        "markets": 1,
        "resolutions": 1,
        "news": 1,
        "forecasts": 1,
    }
    assert [m.market.condition_id for m in history.markets] == [item.market.condition_id]
    assert history.markets[0].resolved_at == RESOLVED
    assert history.news[0].item_id == "gamma-1"
    fills = [(f["token_id"], f["side"], f["price"], f["size"]) for f in first["fills"]]
    # the replayed 0.70 forecast buys YES, walking the recorded asks: all 40 at 0.53, the
    # rest at 0.56; a book synthesised from the mid (0.50) would have asked 0.51
    assert fills[0] == ("gamma-yes", "BUY", "0.53", "40")
    assert {f[2] for f in fills} <= {"0.53", "0.56"}
    assert first["brier"]["blend"] == "0.0900"  # (0.70 - 1)^2: the recorded forecast, replayed
    assert first["markets_resolved"] == 1
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)


async def test_recorder_books_are_kept_on_change_and_again_after_the_interval(
    tmp_path: Path,
) -> None:
    item = await record_a_day(tmp_path / "warmup")
    clock = FakeClock(START)
    recorder = Recorder(RecorderConfig(root=tmp_path, book_interval_s=60), clock)
    book = yes_book(item, START)

    kept = [recorder.book(book), recorder.book(book)]
    clock.advance(61)
    kept.append(recorder.book(book))
    moved = dataclasses.replace(book, bids=book.bids[1:])
    kept.append(recorder.book(moved))

    assert kept == [True, False, True, True]
    assert recorder.recorded["books"] == 3


class BlockedStore(ParquetStore):
    """A disk that hangs until released: the write runs on a worker thread meanwhile."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.release = threading.Event()
        self.entered = threading.Event()

    def write(self, kind: str, rows: Sequence[Row]) -> list[Path]:
        self.entered.set()
        self.release.wait(timeout=30)
        return super().write(kind, rows)


async def test_recorder_overflow_drops_and_counts_while_a_write_hangs(tmp_path: Path) -> None:
    item = await record_a_day(tmp_path / "warmup")
    clock = FakeClock(START)
    store = BlockedStore(tmp_path)
    recorder = Recorder(RecorderConfig(root=tmp_path, queue_max=4), clock, store)
    recorder.book(yes_book(item, START))
    flushing = asyncio.create_task(recorder.flush())
    await asyncio.to_thread(store.entered.wait, 10)

    kept = []
    for number in range(10):  # the loop runs while the disk hangs: the write is off it
        clock.advance(1)
        book = yes_book(item, clock.now())  # a different depth each time: a change
        changed = dataclasses.replace(book, asks=(BookLevel(Decimal("0.53"), Decimal(number)),))
        kept.append(recorder.book(changed))
    store.release.set()
    written = await flushing
    await recorder.flush()

    assert kept == [True] * 4 + [False] * 6
    assert recorder.dropped["books"] == 6
    assert written == 1
    assert recorder.written["books"] == 5
    assert recorder.pending() == 0


async def test_retention_deletes_partitions_older_than_the_limit(tmp_path: Path) -> None:
    item = await record_a_day(tmp_path / "warmup")
    today = START + timedelta(days=120)
    store = ParquetStore(tmp_path)
    recorder = Recorder(RecorderConfig(root=tmp_path, retention_days=90), FakeClock(today))
    for age in (100, 91, 90, 5):
        at = today - timedelta(days=age)
        recorder.store.write("books", [book_row(yes_book(item, at), at, 10)])

    await recorder.flush()

    kept = [(today.date() - day).days for day in store.days("books")]
    assert kept == [90, 5]


def test_trader_backtest_recorded_replays_a_recording_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(record_a_day(tmp_path / "recordings"))
    out = tmp_path / "out"

    status = run_command(
        config(tmp_path / "recordings"), None, out, recorded=tmp_path / "recordings"
    )
    missing = run_command(config(tmp_path / "none"), None, out, recorded=tmp_path / "none")

    assert status == 0
    written = json.loads(next(out.glob("*.json")).read_text())
    assert written["fills"][0]["price"] == "0.53"  # the recorded ask, not a synthesised one
    assert next(out.glob("*.png")).stat().st_size > 0
    assert missing == EXIT_BAD_INPUT
    assert "no recording there" in capsys.readouterr().err

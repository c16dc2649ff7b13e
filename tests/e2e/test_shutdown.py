"""Graceful shutdown of the real app process (`trader run --no-console`).

Paper mode against the simulator (a child process) with a signal cycle every second and a news
feed that never answers: the first cycle is then deterministically in flight (its news fetch
hangs) when the test sends SIGTERM. The app must exit 0 within 30 s with the event log flushed:
the 'shutdown' event after every cycle event, and a final heartbeat marked stopped.

A second signal exits at once: with the database write-locked by the test, the graceful stop
cannot finish (its final writes wait on the lock), so only the second-signal path can end the
process within a couple of seconds, and it says so with status 1.
"""

from __future__ import annotations

import signal
import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing
from pathlib import Path

import pytest

from tests.support.app_process import Rig, app_heartbeat, demo_scenario, events, rig
from tests.support.feed_server import FakeFeedServer, FeedDocument
from tests.support.waiting import eventually

pytestmark = pytest.mark.slow

GRACEFUL_DEADLINE_S = 30.0
SECOND_SIGNAL_DEADLINE_S = 3.0
CYCLE_EVENTS = ("signal_cycle_started", "signal_cycle_completed", "signal_cycle_failed")


@pytest.fixture
async def processes(tmp_path: Path) -> AsyncIterator[Rig]:
    async with rig(tmp_path) as running:
        await running.start_sim(demo_scenario())
        yield running


async def test_sigterm_during_a_cycle_exits_zero_with_the_event_log_flushed(
    processes: Rig,
) -> None:
    async with FakeFeedServer() as feed:
        news = feed.serve("/news.xml", FeedDocument(hang=True))
        app = await processes.start_app(processes.app_env(SIGNAL_CYCLE_S=1, NEWS_FEEDS=news))
        try:
            await eventually(lambda: feed.requests_for("/news.xml") != [], timeout=20)

            app.send(signal.SIGTERM)  # the cycle is waiting for the news feed
            code = await app.exit_code(within=GRACEFUL_DEADLINE_S)
        except AssertionError as error:
            raise AssertionError(f"{error}\n{processes.logs()}") from None

    assert code == 0, processes.logs()
    log = events(processes.database)
    cycles = [e.seq for e in log if e.type in CYCLE_EVENTS]
    shutdowns = [e for e in log if e.type == "shutdown"]
    assert cycles, "no signal cycle was recorded"
    assert [e.payload["pid"] for e in shutdowns] == [app.pid]
    assert shutdowns[0].seq > max(cycles)
    assert shutdowns[0].seq == log[-1].seq  # flushed last: nothing was lost after it
    beat = app_heartbeat(processes.database)
    assert beat is not None
    assert beat["pid"] == app.pid
    assert beat["details"].get("stopped") is True
    assert beat["details"].get("reason") == "shutdown"


async def test_a_second_signal_exits_at_once(processes: Rig) -> None:
    app = await processes.start_app(processes.app_env())
    with closing(sqlite3.connect(processes.database, isolation_level=None)) as db:
        db.execute("BEGIN IMMEDIATE")  # the graceful stop's final writes now wait
        try:
            app.send(signal.SIGTERM)
            await eventually(lambda: "signal received" in app.log(), timeout=10)
            app.send(signal.SIGTERM)
            code = await app.exit_code(within=SECOND_SIGNAL_DEADLINE_S)
        except AssertionError as error:
            raise AssertionError(f"{error}\n{processes.logs()}") from None
        finally:
            db.execute("ROLLBACK")

    assert code == 1, processes.logs()  # os._exit(1): not the graceful path's 0
    assert "second signal" in app.log()
    assert "shutdown" not in [e.type for e in events(processes.database)]

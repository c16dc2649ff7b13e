"""`trader backup`: an online SQLite copy made while the app writes, pruning, and the restore
procedure of deploy/README.md followed step by step."""

from __future__ import annotations

import asyncio
import io
import shutil
import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest

from trader.clock import FakeClock, SystemClock
from trader.ops.backup import (
    EXIT_FAILED,
    EXIT_NOT_SQLITE,
    EXIT_OK,
    EXIT_USAGE,
    backup_command,
    backup_sqlite,
    create_backup,
    list_backups,
)
from trader.store import migrate
from trader.store.db import create_engine, session_factory
from trader.store.eventlog import EventLog


def sqlite_path(url: str) -> Path:
    if not url.startswith("sqlite"):
        pytest.skip("trader backup copies SQLite; PostgreSQL uses pg_dump (tested below)")
    return Path(url.split(":///", 1)[1])


def rows(path: Path) -> list[tuple[int, str, str]]:
    with closing(sqlite3.connect(path)) as db:
        return db.execute("SELECT seq, type, payload FROM event_log ORDER BY seq").fetchall()


@pytest.fixture
async def events(migrated_database_url: str) -> AsyncIterator[tuple[EventLog, Path]]:
    path = sqlite_path(migrated_database_url)
    engine = create_engine(migrated_database_url)
    log = EventLog(session_factory(engine), SystemClock(), flush_interval=0.005)
    await log.start()
    try:
        yield log, path
    finally:
        await log.close()
        await engine.dispose()


async def test_a_backup_taken_while_events_are_appended_restores_consistent(
    events: tuple[EventLog, Path], tmp_path: Path
) -> None:
    log, live = events
    for n in range(2000):  # enough pages that the copy is not instantaneous
        log.append("seed", {"n": n, "text": "x" * 200})
    await log.flush()
    before = len(rows(live))
    stop = asyncio.Event()

    async def writer() -> int:
        written = 0
        while not stop.is_set():
            log.append("during_backup", {"n": written})
            written += 1
            if written % 20 == 0:
                await log.flush()
            await asyncio.sleep(0)
        return written

    task = asyncio.create_task(writer())
    result = await backup_sqlite(live, tmp_path / "backups", keep=3)
    stop.set()
    written = await task
    await log.flush()

    with closing(sqlite3.connect(result.path)) as copy_db:  # a single self-contained file, no -wal
        assert copy_db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"

    # The documented restore: put the copy where DATABASE_URL points, then `trader migrate`.
    restored = tmp_path / "restored" / "polyops.db"
    restored.parent.mkdir()
    shutil.copyfile(result.path, restored)
    await asyncio.to_thread(migrate.upgrade, f"sqlite+aiosqlite:///{restored}")

    with closing(sqlite3.connect(restored)) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    copy, original = rows(restored), rows(live)
    assert len(copy) >= before  # every event committed before the backup started
    assert [seq for seq, _, _ in copy] == list(range(1, len(copy) + 1))  # no holes
    assert copy == original[: len(copy)]  # exactly the live events up to that moment
    assert len(original) == before + written > len(copy) - 1

    engine = create_engine(f"sqlite+aiosqlite:///{restored}")
    try:
        await migrate.ensure_schema_current(engine)  # the app would start on it
        reopened = EventLog(session_factory(engine), SystemClock())
        assert [e.seq for e in await reopened.recent(1)] == [len(copy)]
        await reopened.close()
    finally:
        await engine.dispose()


async def test_backups_are_pruned_to_the_newest_keep(
    events: tuple[EventLog, Path], tmp_path: Path
) -> None:
    _log, live = events
    dest = tmp_path / "backups"
    clock = FakeClock(datetime(2026, 3, 1, 3, 0, tzinfo=UTC))
    made = []
    for _ in range(4):
        made.append(await asyncio.to_thread(create_backup, live, dest, 2, clock=clock))
        clock.advance(86_400)
    assert list_backups(dest) == [made[2].path, made[3].path]
    assert made[3].pruned == (made[1].path,)
    assert made[0].path.name == "polyops-20260301T030000.000000Z.db"
    assert not [p for p in dest.iterdir() if p.name.endswith(".partial")]


async def test_backup_command_prints_what_it_did(
    events: tuple[EventLog, Path], tmp_path: Path
) -> None:
    _log, live = events
    out = io.StringIO()
    code = await asyncio.to_thread(
        backup_command, f"sqlite+aiosqlite:///{live}", tmp_path / "b", 1, out=out
    )
    assert code == EXIT_OK
    assert out.getvalue().startswith(f"backup written: {tmp_path / 'b'}/polyops-")


def test_backup_refuses_keep_below_one_and_a_missing_database(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'absent.db'}"
    assert backup_command(url, tmp_path / "b", 0) == EXIT_USAGE
    assert backup_command(url, tmp_path / "b", 2) == EXIT_FAILED
    assert not (tmp_path / "absent.db").exists()  # nothing created where the database was
    assert list_backups(tmp_path / "b") == []


def test_postgres_prints_the_pg_dump_path_without_the_password(tmp_path: Path) -> None:
    out = io.StringIO()
    url = "postgresql+asyncpg://polyops:s3cret-pass@db.internal:5432/polyops"
    assert backup_command(url, tmp_path, 7, out=out) == EXIT_NOT_SQLITE
    text = out.getvalue()
    assert "pg_dump --format=custom" in text
    assert "postgresql://polyops:***@db.internal:5432/polyops" in text
    assert "s3cret-pass" not in text

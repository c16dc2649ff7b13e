"""`trader backup --dest DIR --keep N`: a consistent online copy of the SQLite database.

The copy uses SQLite's online backup API (`sqlite3.Connection.backup`) in one step, which
reads the database inside a single read transaction: in WAL mode the app keeps writing while
it runs, and the copy is the database exactly as of that transaction's start. The copy is
written to `DIR/.polyops-<time>.db.partial`, switched out of WAL (so the file stands alone),
checked with `PRAGMA quick_check`, fsynced and only then renamed to `DIR/polyops-<time>.db`;
a failed or interrupted backup never leaves a file that looks like a good one. Old copies
beyond the newest `keep` are deleted afterwards.

PostgreSQL is backed up with its own tool: the command prints the documented `pg_dump` line
(password masked; use ~/.pgpass or PGPASSWORD) and exits 3, so a scheduled job notices that
nothing was copied. The restore procedure for both is in deploy/README.md.

`backup_sqlite` is the async form for a process with an event loop (the copy runs in a thread).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from trader.clock import Clock, SystemClock
from trader.store.db import normalize_url, safe_url, sqlite_file

log = logging.getLogger(__name__)

PREFIX = "polyops-"
SUFFIX = ".db"
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_NOT_SQLITE = 3


class BackupError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class BackupResult:
    path: Path
    size: int
    pruned: tuple[Path, ...]


def backup_name(when: datetime) -> str:
    """`polyops-20260101T120000.123456Z.db`: sorts by time as text."""
    return f"{PREFIX}{when.astimezone(UTC).strftime('%Y%m%dT%H%M%S.%fZ')}{SUFFIX}"


def list_backups(dest: Path) -> list[Path]:
    """The finished backups in `dest`, oldest first."""
    if not dest.is_dir():
        return []
    return sorted(
        path
        for path in dest.iterdir()
        if path.name.startswith(PREFIX) and path.name.endswith(SUFFIX) and path.is_file()
    )


def create_backup(
    source: Path, dest: Path, keep: int, *, clock: Clock | None = None
) -> BackupResult:
    """Copy the SQLite database at `source` into `dest` and prune to the newest `keep`.

    Blocking: call it from a thread (or use `backup_sqlite`) inside an event loop."""
    if keep < 1:
        raise BackupError("--keep must be at least 1")
    if not source.is_file():
        raise BackupError(f"no SQLite database at {source}")
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / backup_name((clock or SystemClock()).now())
    if target.exists():
        raise BackupError(f"{target} already exists")
    partial = dest / f".{target.name}.partial"
    try:
        _copy(source, partial)
        os.replace(partial, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
    _fsync_directory(dest)
    pruned = prune(dest, keep)
    return BackupResult(target, target.stat().st_size, tuple(pruned))


def _copy(source: Path, partial: Path) -> None:
    # mode=rw: never create an empty database where the real one was expected.
    src = sqlite3.connect(f"{source.resolve().as_uri()}?mode=rw", uri=True, timeout=30)
    try:
        dst = sqlite3.connect(partial)
        try:
            src.backup(dst)  # pages=-1: one step, one read transaction, one consistent state
            dst.execute("PRAGMA journal_mode=DELETE")  # a single self-contained file
            verdict = dst.execute("PRAGMA quick_check").fetchone()[0]
            if verdict != "ok":
                raise BackupError(f"the copy failed its check: {verdict}")
            dst.commit()
        finally:
            dst.close()
    finally:
        src.close()
    with partial.open("rb+") as handle:
        os.fsync(handle.fileno())


def _fsync_directory(path: Path) -> None:
    with contextlib.suppress(OSError):  # not every file system lets a directory be fsynced
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def prune(dest: Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` backups; returns what was deleted."""
    backups = list_backups(dest)
    doomed = backups[: max(0, len(backups) - keep)]
    for path in doomed:
        path.unlink()
    return doomed


async def backup_sqlite(
    source: Path, dest: Path, keep: int, *, clock: Clock | None = None
) -> BackupResult:
    """`create_backup` in a worker thread, for code running on an event loop."""
    return await asyncio.to_thread(create_backup, source, dest, keep, clock=clock)


def pg_dump_command(database_url: str, dest: Path) -> str:
    url = normalize_url(database_url).set(drivername="postgresql")
    masked = safe_url(url)
    target = dest / f"{PREFIX}$(date -u +%Y%m%dT%H%M%SZ).dump"
    return f'pg_dump --format=custom --no-owner --file "{target}" "{masked}"'


def backup_command(
    database_url: str, dest: Path | str, keep: int, *, out: TextIO | None = None
) -> int:
    """The body of `trader backup`; prints what it did and returns the exit status."""
    out = out or sys.stdout
    dest = Path(dest)
    if keep < 1:
        print("backup: --keep must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    try:
        url = normalize_url(database_url)
    except ValueError as error:
        print(f"backup: {error}", file=sys.stderr)
        return EXIT_USAGE
    if url.get_backend_name() == "postgresql":
        print("PostgreSQL is backed up with pg_dump (see deploy/README.md), for example:", file=out)
        print(f"  {pg_dump_command(database_url, dest)}", file=out)
        print("Nothing was copied by `trader backup`.", file=out)
        return EXIT_NOT_SQLITE
    source = sqlite_file(url)
    if source is None:
        print("backup: an in-memory database cannot be backed up", file=sys.stderr)
        return EXIT_USAGE
    try:
        result = create_backup(source, dest, keep)
    except (BackupError, sqlite3.Error, OSError) as error:
        print(f"backup failed: {error}", file=sys.stderr)
        return EXIT_FAILED
    print(f"backup written: {result.path} ({result.size} bytes)", file=out)
    for path in result.pruned:
        print(f"pruned: {path}", file=out)
    return EXIT_OK

"""Database fixtures for every test that needs storage.

Each database fixture runs twice: on SQLite (a fresh file under tmp_path) and on PostgreSQL
when TEST_DATABASE_URL is set (for example
`TEST_DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/test`); without it the
PostgreSQL half skips and says how to enable it.

On PostgreSQL each test gets its own database, created for it and dropped with FORCE after, so
test runs never see each other's rows, even when two people run the suite against the same
server. (A user without CREATEDB gets the database in the URL itself instead, with its public
schema wiped before and after each test: then only one run at a time.)

    database_url            an empty database (not migrated): for migration tests
    migrated_database_url   a database at the Alembic head (copied from a template migrated
                            once per session, so it costs milliseconds)
    engine                  an AsyncEngine on a migrated database, disposed after the test
    sessions                an async_sessionmaker on `engine`
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
from hypothesis import settings as hypothesis_settings
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from trader.store import migrate
from trader.store.db import create_engine, normalize_url, session_factory

# CI replays a fixed set of examples so a run is reproducible; locally Hypothesis explores
# (and remembers failures in .hypothesis/). Select with HYPOTHESIS_PROFILE=ci|dev.
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
hypothesis_settings.register_profile("dev", print_blob=True)
hypothesis_settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev")
)

PG_ENV = "TEST_DATABASE_URL"
PG_SKIP_REASON = (
    f"PostgreSQL tests skipped: set {PG_ENV}=postgresql+asyncpg://postgres@127.0.0.1:5432/test "
    "(a server the tests may create and drop databases on) to run them"
)
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def postgres_base_url() -> URL | None:
    raw = os.environ.get(PG_ENV, "").strip()
    return normalize_url(raw) if raw else None


def _asyncpg_dsn(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


async def _admin(url: URL, *statements: str) -> None:
    connection = await asyncpg.connect(_asyncpg_dsn(url))
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


async def _create_database(base: URL, name: str, *, template: str | None = None) -> URL | None:
    """CREATE DATABASE; None when the user may not create databases."""
    statement = f"CREATE DATABASE {_quote(name)}"
    if template is not None:
        statement += f" TEMPLATE {_quote(template)}"
    try:
        await _admin(base, statement)
    except asyncpg.InsufficientPrivilegeError:
        return None
    return base.set(database=name)


async def _drop_database(base: URL, name: str) -> None:
    await _admin(base, f"DROP DATABASE IF EXISTS {_quote(name)} WITH (FORCE)")


async def _wipe_public_schema(url: URL) -> None:
    await _admin(
        url,
        "DROP SCHEMA public CASCADE",
        "CREATE SCHEMA public",
        "GRANT ALL ON SCHEMA public TO public",
    )


@contextlib.asynccontextmanager
async def _postgres_database(
    base: URL, *, migrated: bool, template: str | None = None
) -> AsyncIterator[URL]:
    name = f"polyops_test_{uuid.uuid4().hex[:12]}"
    url = await _create_database(base, name, template=template)
    if url is not None:
        try:
            yield url
        finally:
            await _drop_database(base, name)
        return
    await _wipe_public_schema(base)  # no CREATEDB: use the given database, one run at a time
    try:
        if migrated:
            await asyncio.to_thread(migrate.upgrade, base.render_as_string(hide_password=False))
        yield base
    finally:
        await _wipe_public_schema(base)


@dataclass(frozen=True)
class _Templates:
    """Databases migrated to head once per session, copied for each test that needs one."""

    sqlite_file: Path
    postgres_name: str | None  # None: no PostgreSQL, or no CREATEDB


@pytest.fixture(scope="session")
def _migrated_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Templates]:
    sqlite_file = tmp_path_factory.mktemp("template") / "polyops.db"
    migrate.upgrade(f"sqlite+aiosqlite:///{sqlite_file}")
    base = postgres_base_url()
    postgres_name = None
    if base is not None:
        name = f"polyops_template_{uuid.uuid4().hex[:12]}"
        url = asyncio.run(_create_database(base, name))
        if url is not None:
            postgres_name = name
            migrate.upgrade(url.render_as_string(hide_password=False))
    try:
        yield _Templates(sqlite_file=sqlite_file, postgres_name=postgres_name)
    finally:
        if base is not None and postgres_name is not None:
            asyncio.run(_drop_database(base, postgres_name))


def _copy_sqlite(source: Path, target: Path) -> None:
    for suffix in ("", "-wal"):  # a checkpointed template has no -wal; copy it if it does
        if Path(f"{source}{suffix}").exists():
            shutil.copyfile(f"{source}{suffix}", f"{target}{suffix}")


@pytest.fixture(params=BACKENDS)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh, empty database: SQLite always, PostgreSQL when TEST_DATABASE_URL is set."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'polyops.db'}"
        return
    base = postgres_base_url()
    if base is None:
        pytest.skip(PG_SKIP_REASON)
    async with _postgres_database(base, migrated=False) as url:
        yield url.render_as_string(hide_password=False)


@pytest.fixture(params=BACKENDS)
async def migrated_database_url(
    request: pytest.FixtureRequest, tmp_path: Path, _migrated_templates: _Templates
) -> AsyncIterator[str]:
    """A database at the Alembic head: SQLite always, PostgreSQL when TEST_DATABASE_URL is set."""
    if request.param == "sqlite":
        target = tmp_path / "polyops.db"
        _copy_sqlite(_migrated_templates.sqlite_file, target)
        yield f"sqlite+aiosqlite:///{target}"
        return
    base = postgres_base_url()
    if base is None:
        pytest.skip(PG_SKIP_REASON)
    template = _migrated_templates.postgres_name
    async with _postgres_database(base, migrated=True, template=template) as url:
        if template is None and url != base:  # created, but not from a template: migrate it
            await migrate.upgrade_async(url.render_as_string(hide_password=False))
        yield url.render_as_string(hide_password=False)


@pytest.fixture
async def engine(migrated_database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on a migrated database (both backends), disposed after the test."""
    database = create_engine(migrated_database_url)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return session_factory(engine)

"""Alembic environment for Polyops (async engines: aiosqlite and asyncpg).

The database URL comes from, in order: `Config.attributes["url"]` (set by
`trader.store.migrate`), `alembic -x url=...`, the `DATABASE_URL` environment variable, and
the default `sqlite+aiosqlite:///./data/polyops.db`. This file deliberately does not read the
trader's settings: it takes the URL as given.

On SQLite each run is one `BEGIN IMMEDIATE` transaction, so a failed migration leaves the file
as it was (SQLite has transactional DDL; the Python driver would otherwise commit each
statement). On PostgreSQL the run is one transaction too.
"""

from __future__ import annotations

import asyncio
import os
from logging.config import fileConfig
from typing import Any

import sqlalchemy as sa
from alembic import context
from sqlalchemy import event, pool
from sqlalchemy.engine import Connection

from trader.store.db import DEFAULT_DATABASE_URL, create_engine, normalize_url
from trader.store.tables import Base
from trader.store.types import DecimalType, UTCDateTime

config = context.config
target_metadata = Base.metadata


def _database_url() -> str:
    url = config.attributes.get("url") or context.get_x_argument(as_dictionary=True).get("url")
    return str(url or os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL)


def render_item(kind: str, obj: Any, autogen_context: Any) -> str | bool:
    """Write Polyops' column types as plain SQLAlchemy types in revisions, so that a revision
    never imports application code (which may change or disappear after it was written)."""
    if kind != "type":
        return False
    if isinstance(obj, DecimalType):
        return 'sa.Numeric().with_variant(sa.Text(), "sqlite")'
    if isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if isinstance(obj, sa.JSON) and "postgresql" in obj._variant_mapping:
        autogen_context.imports.add("from sqlalchemy.dialects import postgresql")
        return 'sa.JSON().with_variant(postgresql.JSONB(), "postgresql")'
    return False


def _configure(**options: Any) -> None:
    context.configure(
        target_metadata=target_metadata,
        compare_type=True,
        compare_server_default=True,
        render_item=render_item,
        **options,
    )


def run_migrations_offline() -> None:
    """Print the SQL instead of running it (`alembic upgrade head --sql`)."""
    url = normalize_url(_database_url())
    _configure(
        url=url,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=url.get_backend_name() == "sqlite",
        transactional_ddl=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    is_sqlite = connection.dialect.name == "sqlite"
    _configure(connection=connection, render_as_batch=is_sqlite, transactional_ddl=True)
    with context.begin_transaction():
        context.run_migrations()


def _sqlite_explicit_transactions(sync_engine: Any) -> None:
    @event.listens_for(sync_engine, "connect")
    def _driver_autocommit(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves, below

    @event.listens_for(sync_engine, "begin")
    def _begin_immediate(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


async def run_async_migrations() -> None:
    engine = create_engine(_database_url(), poolclass=pool.NullPool)
    if engine.dialect.name == "sqlite":
        _sqlite_explicit_transactions(engine.sync_engine)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(do_run_migrations)
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    shared = config.attributes.get("connection")
    if isinstance(shared, Connection):  # a caller lent us its (sync) connection
        do_run_migrations(shared)
        return
    asyncio.run(run_async_migrations())


if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()

"""Run Alembic from Python, and refuse to start on a database whose schema is not current.

Alembic's command API is synchronous and our `migrations/env.py` drives an async engine with
`asyncio.run`, so `upgrade` and `downgrade` must be called from code that is not inside a
running event loop (a CLI command, a release step). From async code, await `upgrade_async` /
`downgrade_async`, which run the same thing in a worker thread.

The Alembic configuration is built here, with `script_location` pointing at the `migrations`
folder next to the `trader` package, so it works from any working directory.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from trader.store.db import normalize_url

REPO_ROOT = Path(__file__).resolve().parents[2]
ALEMBIC_INI = REPO_ROOT / "alembic.ini"
MIGRATIONS = REPO_ROOT / "migrations"


class SchemaError(RuntimeError):
    """The database schema is not the one this version of Polyops was written for."""

    def __init__(self, message: str, *, current: str | None, head: str) -> None:
        super().__init__(message)
        self.current = current
        self.head = head


class SchemaBehindError(SchemaError):
    """The database is empty or at an older revision: run the migrations."""


class SchemaAheadError(SchemaError):
    """The database is at a revision this version does not know (written by a newer one)."""


def alembic_config(url: str | None = None) -> Config:
    """The Alembic configuration for `url` (None: env.py falls back to DATABASE_URL)."""
    config = Config(str(ALEMBIC_INI)) if ALEMBIC_INI.exists() else Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # The URL travels as an attribute, not an ini option: configparser would choke on a '%'
    # in an encoded password, and attributes are never written anywhere.
    if url is not None:
        config.attributes["url"] = normalize_url(url).render_as_string(hide_password=False)
    config.attributes["configure_logger"] = False  # leave the application's logging alone
    return config


def _refuse_inside_event_loop(name: str) -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise RuntimeError(
        f"{name}() blocks and starts its own event loop; from async code use {name}_async()"
    )


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at `url` up to `revision` (synchronous; see the module docstring)."""
    _refuse_inside_event_loop("upgrade")
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    """Migrate the database at `url` down to `revision` ("base" drops everything)."""
    _refuse_inside_event_loop("downgrade")
    command.downgrade(alembic_config(url), revision)


async def upgrade_async(url: str, revision: str = "head") -> None:
    await asyncio.to_thread(upgrade, url, revision)


async def downgrade_async(url: str, revision: str) -> None:
    await asyncio.to_thread(downgrade, url, revision)


def head_revision() -> str:
    """The revision this version of the code needs."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the repository always ships at least one revision
        raise RuntimeError(f"no Alembic revisions under {MIGRATIONS}")
    return head


def known_revisions() -> set[str]:
    script = ScriptDirectory.from_config(alembic_config())
    return {rev.revision for rev in script.walk_revisions()}


def _read_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at, or None when it has never been migrated."""
    async with engine.connect() as connection:
        return await connection.run_sync(_read_revision)


async def ensure_schema_current(engine: AsyncEngine) -> None:
    """Raise `SchemaBehindError` / `SchemaAheadError` unless the database is at the head."""
    current = await current_revision(engine)
    head = head_revision()
    if current == head:
        return
    if current is None:
        raise SchemaBehindError(
            f"database schema is at <empty>, this version needs {head}: run `trader migrate`",
            current=current,
            head=head,
        )
    if current not in known_revisions():
        raise SchemaAheadError(
            f"database schema is at {current}, which this version does not know "
            f"(it needs {head}): the database was migrated by a newer Polyops; upgrade the code",
            current=current,
            head=head,
        )
    raise SchemaBehindError(
        f"database schema is at {current}, this version needs {head}: run `trader migrate`",
        current=current,
        head=head,
    )

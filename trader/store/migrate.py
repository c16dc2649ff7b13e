"""Run Alembic from Python, and refuse to start on a database whose schema is not current.

Alembic's command API is synchronous and our `migrations/env.py` drives an async engine with
`asyncio.run`, so `upgrade` and `downgrade` must be called from code that is not inside a
running event loop (a CLI command, a release step). From async code, await `upgrade_async` /
`downgrade_async`, which run the same thing in a worker thread.

The Alembic configuration is built here, with `script_location` pointing at the `migrations`
folder next to the `trader` package, so it works from any working directory. Whether a
database is current is answered without Alembic by `trader.store.schema` (re-exported here).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config

from trader.store.db import normalize_url
from trader.store.schema import (
    SchemaAheadError,
    SchemaBehindError,
    SchemaError,
    current_revision,
    ensure_schema_current,
    head_revision,
    known_revisions,
)

__all__ = [
    "SchemaAheadError",
    "SchemaBehindError",
    "SchemaError",
    "alembic_config",
    "current_revision",
    "downgrade",
    "downgrade_async",
    "ensure_schema_current",
    "head_revision",
    "known_revisions",
    "upgrade",
    "upgrade_async",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
ALEMBIC_INI = REPO_ROOT / "alembic.ini"
MIGRATIONS = REPO_ROOT / "migrations"


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

"""Alembic owns the schema: upgrade, downgrade, the append-only triggers, the schema guard."""

from __future__ import annotations

import asyncio
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, insert, inspect, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from trader.store import migrate
from trader.store.db import create_engine
from trader.store.tables import Base, EventLogRow, table_of

APP_TABLES = {table.name for table in Base.metadata.sorted_tables}


async def _table_names(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as connection:
        return set(await connection.run_sync(lambda c: inspect(c).get_table_names()))


async def _insert_event(engine: AsyncEngine) -> None:
    row = {
        "ts": datetime(2026, 1, 1, tzinfo=UTC),
        "type": "test",
        "actor": "system:test",
        "payload": {},
    }
    async with engine.begin() as connection:
        await connection.execute(insert(table_of(EventLogRow)), [row])


async def _pg_function_exists(engine: AsyncEngine) -> bool:
    async with engine.connect() as connection:
        found = await connection.scalar(
            text("SELECT count(*) FROM pg_proc WHERE proname = 'event_log_append_only'")
        )
    return bool(found)


async def test_upgrade_downgrade_upgrade_is_clean(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await migrate.upgrade_async(database_url)
        assert await _table_names(engine) >= APP_TABLES
        assert await migrate.current_revision(engine) == migrate.head_revision()

        await migrate.downgrade_async(database_url, "base")
        assert await _table_names(engine) <= {"alembic_version"}
        assert await migrate.current_revision(engine) is None
        if engine.dialect.name == "postgresql":
            assert not await _pg_function_exists(engine)

        await migrate.upgrade_async(database_url)
        assert await _table_names(engine) >= APP_TABLES
        await migrate.ensure_schema_current(engine)
        await _insert_event(engine)  # the triggers came back with the table, and allow INSERT
        with pytest.raises(DBAPIError, match="append-only"):
            async with engine.begin() as connection:
                await connection.execute(text("DELETE FROM event_log"))
    finally:
        await engine.dispose()


@pytest.mark.parametrize(
    "statement",
    ["UPDATE event_log SET type = 'tampered'", "DELETE FROM event_log WHERE seq >= 1"],
)
async def test_event_log_refuses_update_and_delete(engine: AsyncEngine, statement: str) -> None:
    await _insert_event(engine)

    with pytest.raises(DBAPIError, match="event_log is append-only"):
        async with engine.begin() as connection:
            await connection.execute(text(statement))

    async with engine.connect() as connection:
        rows = (await connection.execute(text("SELECT type FROM event_log"))).all()
    assert [row.type for row in rows] == ["test"]


async def test_event_log_refuses_truncate_on_postgresql(engine: AsyncEngine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("TRUNCATE exists on PostgreSQL only")
    await _insert_event(engine)

    with pytest.raises(DBAPIError, match="event_log is append-only"):
        async with engine.begin() as connection:
            await connection.execute(text("TRUNCATE event_log"))


async def test_migration_matches_the_models(engine: AsyncEngine) -> None:
    def diff(connection: Connection) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    async with engine.connect() as connection:
        differences = await connection.run_sync(diff)

    assert differences == []


async def test_ensure_schema_current_refuses_an_empty_database(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        with pytest.raises(migrate.SchemaBehindError, match="run `trader migrate`") as caught:
            await migrate.ensure_schema_current(engine)
    finally:
        await engine.dispose()
    assert caught.value.current is None
    assert caught.value.head == migrate.head_revision()


async def test_ensure_schema_current_refuses_an_unknown_revision(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(text("UPDATE alembic_version SET version_num = 'fffffff00000'"))

    with pytest.raises(migrate.SchemaAheadError, match="fffffff00000"):
        await migrate.ensure_schema_current(engine)


async def test_ensure_schema_current_passes_at_head(engine: AsyncEngine) -> None:
    await migrate.ensure_schema_current(engine)  # raises if behind or ahead

    assert await migrate.current_revision(engine) == migrate.head_revision()


BROKEN_REVISION = """
import sqlalchemy as sa
from alembic import op

revision = "b0b0b0b0b0b0"
down_revision = "{down}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("half_done", sa.Column("id", sa.Integer, primary_key=True))
    op.execute("INSERT INTO half_done (id) VALUES (1)")
    raise RuntimeError("this migration fails half way")


def downgrade() -> None:
    op.drop_table("half_done")
"""


def _scripts_with_a_broken_revision(tmp_path: Path) -> Path:
    scripts = tmp_path / "migrations"
    shutil.copytree(migrate.MIGRATIONS, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    broken = BROKEN_REVISION.format(down=migrate.head_revision())
    (scripts / "versions" / "9999_broken.py").write_text(broken)
    return scripts


async def test_a_failed_migration_leaves_the_database_as_it_was(
    migrated_database_url: str, tmp_path: Path
) -> None:
    config = migrate.alembic_config(migrated_database_url)
    config.set_main_option("script_location", str(_scripts_with_a_broken_revision(tmp_path)))

    with pytest.raises(RuntimeError, match="fails half way"):
        await asyncio.to_thread(command.upgrade, config, "head")

    engine = create_engine(migrated_database_url)
    try:
        assert "half_done" not in await _table_names(engine)
        assert await migrate.current_revision(engine) == migrate.head_revision()
    finally:
        await engine.dispose()


async def test_sync_upgrade_inside_an_event_loop_points_to_the_async_variant(
    tmp_path: Path,
) -> None:
    with pytest.raises(RuntimeError, match="upgrade_async"):
        migrate.upgrade(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")


def test_sync_upgrade_from_plain_code_uses_database_url_when_no_url_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = tmp_path / "nested" / "from-env.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{database}")  # the sync driver name is mapped

    command.upgrade(migrate.alembic_config(), "head")

    async def revision() -> str | None:
        engine = create_engine(f"sqlite+aiosqlite:///{database}")
        try:
            return await migrate.current_revision(engine)
        finally:
            await engine.dispose()

    assert asyncio.run(revision()) == migrate.head_revision()


# The schema check without Alembic (trader.store.schema) must agree with Alembic -----------


def test_the_schema_reader_finds_alembics_head_and_revisions() -> None:
    from alembic.script import ScriptDirectory

    from trader.store import schema

    script = ScriptDirectory.from_config(migrate.alembic_config())
    assert schema.head_revision() == script.get_current_head()
    assert schema.known_revisions() == {rev.revision for rev in script.walk_revisions()}


async def test_the_schema_reader_reads_the_revision_alembic_wrote(database_url: str) -> None:
    from trader.store import schema

    engine = create_engine(database_url)
    try:
        for target in (_second_revision(), "head"):
            await migrate.upgrade_async(database_url, target)
            async with engine.connect() as connection:
                alembic_says = await connection.run_sync(
                    lambda c: MigrationContext.configure(c).get_current_revision()
                )
            assert alembic_says is not None
            assert await schema.current_revision(engine) == alembic_says
    finally:
        await migrate.downgrade_async(database_url, "base")
        await engine.dispose()


def _second_revision() -> str:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(migrate.alembic_config())
    oldest_first = list(reversed(list(script.walk_revisions())))
    return oldest_first[1].revision

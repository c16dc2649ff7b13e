"""Is the database's schema the one this code needs? Answered without importing Alembic.

Every process that opens the database (the app, `trader why`, the report CLI, `trader doctor`)
checks the schema first and refuses to run on one behind or ahead of the code. Alembic and its
templating engine cost the app tens of milliseconds and about 14 MB at start-up for that one
question, so it is answered here from the same two facts Alembic reads:

- the revisions this code ships: each file under `migrations/versions` assigns `revision` and
  `down_revision` as literals (Alembic's own template), read with `ast` and never executed;
  the head is the one revision no other revises;
- the revision the database is at: the `alembic_version` table's `version_num`.

`tests/integration/test_storage_migrations.py` checks both against Alembic's own answers, so
a migration file this reader misunderstands fails the suite, not a start-up. Running the
migrations stays with Alembic (`trader.store.migrate`).
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

VERSIONS = Path(__file__).resolve().parents[2] / "migrations" / "versions"
VERSION_TABLE = "alembic_version"


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


@dataclass(frozen=True, slots=True)
class Revision:
    revision: str
    down: tuple[str, ...]
    path: Path


def _literal(node: ast.expr | None, path: Path, name: str) -> object:
    if node is None:
        raise RuntimeError(f"{path.name}: `{name}` has no value")
    try:
        return ast.literal_eval(node)
    except ValueError as error:
        raise RuntimeError(f"{path.name}: `{name}` is not a literal ({error})") from error


def read_revision(path: Path) -> Revision | None:
    """The revision a migration file declares (None for a file that declares none)."""
    values: dict[str, object] = {}
    for statement in ast.parse(path.read_text(encoding="utf-8"), str(path)).body:
        if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
            target, value = statement.target.id, statement.value
        elif (
            isinstance(statement, ast.Assign)
            and len(statement.targets) == 1
            and isinstance(statement.targets[0], ast.Name)
        ):
            target, value = statement.targets[0].id, statement.value
        else:
            continue
        if target in ("revision", "down_revision"):
            values[target] = _literal(value, path, target)
    revision = values.get("revision")
    if revision is None:
        return None
    if not isinstance(revision, str):
        raise RuntimeError(f"{path.name}: `revision` must be a string")
    down = values.get("down_revision")
    if down is None:
        parents: tuple[str, ...] = ()
    elif isinstance(down, str):
        parents = (down,)
    elif isinstance(down, tuple | list) and all(isinstance(d, str) for d in down):
        parents = tuple(str(d) for d in down)
    else:
        raise RuntimeError(f"{path.name}: `down_revision` must be a string, a tuple or None")
    return Revision(revision, parents, path)


def read_revisions(directory: Path = VERSIONS) -> dict[str, Revision]:
    found: dict[str, Revision] = {}
    for path in sorted(directory.glob("*.py")):
        revision = read_revision(path)
        if revision is None:
            continue
        if revision.revision in found:
            other = found[revision.revision].path.name
            raise RuntimeError(f"revision {revision.revision} declared twice: {other}, {path.name}")
        found[revision.revision] = revision
    return found


def heads(revisions: Iterable[Revision]) -> set[str]:
    """The revisions no other revision revises."""
    listed = list(revisions)
    revised = {parent for revision in listed for parent in revision.down}
    return {revision.revision for revision in listed} - revised


@functools.cache
def _shipped() -> tuple[str, frozenset[str]]:
    revisions = read_revisions()
    found = heads(revisions.values())
    if len(found) != 1:
        raise RuntimeError(
            f"migrations under {VERSIONS} must have one head, found {sorted(found) or 'none'}"
        )
    return found.pop(), frozenset(revisions)


def head_revision() -> str:
    """The revision this version of the code needs."""
    return _shipped()[0]


def known_revisions() -> set[str]:
    return set(_shipped()[1])


def _read_version(connection: Connection) -> str | None:
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    rows = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    if len(rows) > 1:
        raise RuntimeError(f"{VERSION_TABLE} holds several heads: {sorted(rows)}")
    return str(rows[0]) if rows else None


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at, or None when it has never been migrated."""
    async with engine.connect() as connection:
        return await connection.run_sync(_read_version)


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

"""Engines and sessions for SQLite (aiosqlite, the embedded default) and PostgreSQL (asyncpg).

There is no global engine: the composition root calls `create_engine` once and hands the engine
(or a `session_factory`) to whoever needs it.

SQLite connections are set up on every connect with WAL journaling, a 5 s busy timeout, foreign
keys on and `synchronous=NORMAL` (durable across process crashes; a power cut may lose the last
few commits, never corrupt the file). Transactions keep the driver's default lazy `BEGIN`: a
transaction starts at its first write, which lets the busy timeout apply to write-lock waits
instead of failing with `SQLITE_BUSY` when another connection committed first.

JSON columns are written with `dumps_json`, which accepts `Decimal` (as a string), aware
datetimes (ISO 8601 UTC), enums (their value), dataclasses, sets and tuples.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any
from uuid import UUID

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./data/polyops.db"
SQLITE_BUSY_TIMEOUT_MS = 5000
_COMPACT = (",", ":")

_SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}",
    "PRAGMA foreign_keys=ON",
    "PRAGMA synchronous=NORMAL",
)

# Drivers people write in DATABASE_URL, mapped to the async drivers Polyops uses.
_ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+pysqlite": "sqlite+aiosqlite",
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgresql+psycopg2": "postgresql+asyncpg",
    "postgresql+psycopg": "postgresql+asyncpg",
}


def normalize_url(url: str | URL) -> URL:
    """Parse a database URL and switch it to the async driver (`postgres://` included)."""
    parsed = make_url(url) if isinstance(url, str) else url
    driver = _ASYNC_DRIVERS.get(parsed.drivername)
    if driver is not None:
        parsed = parsed.set(drivername=driver)
    if parsed.drivername not in ("sqlite+aiosqlite", "postgresql+asyncpg"):
        raise ValueError(
            f"unsupported database URL {safe_url(parsed)!r}: "
            "use sqlite+aiosqlite:///path.db or postgresql+asyncpg://user@host/db"
        )
    return parsed


def safe_url(url: str | URL) -> str:
    """The URL with its password masked, for logs and error messages."""
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except Exception:  # an unparseable URL may still hold a secret: say nothing about it
        return "<unparseable database URL>"
    return parsed.render_as_string(hide_password=True)


def sqlite_file(url: URL) -> Path | None:
    """The file behind a SQLite URL, or None for in-memory and `file:` URI databases."""
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    return Path(database)


def create_engine(url: str | URL, **engine_options: Any) -> AsyncEngine:
    """An async engine for `url`. Extra keyword arguments go to SQLAlchemy's create_async_engine.

    SQL parameters are kept out of error messages (`hide_parameters`), so a failed statement
    never writes a signed order or a payload into the logs.
    """
    parsed = normalize_url(url)
    options: dict[str, Any] = {
        "hide_parameters": True,
        "json_serializer": dumps_json,
    }
    path = sqlite_file(parsed)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    if parsed.get_backend_name() == "postgresql":
        options["pool_pre_ping"] = True
    options.update(engine_options)
    engine = _create_async_engine(parsed, **options)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine.sync_engine, "connect", _configure_sqlite_connection)
    return engine


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions whose objects stay readable after commit (repositories return them detached)."""
    return async_sessionmaker(engine, expire_on_commit=False)


def _configure_sqlite_connection(dbapi_connection: Any, _connection_record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        for pragma in _SQLITE_PRAGMAS:
            cursor.execute(pragma)
    finally:
        cursor.close()


def to_jsonable(value: Any) -> Any:
    """A deep copy of `value` made only of JSON types.

    Decimal becomes its exact string, datetimes ISO 8601 in UTC (naive ones are refused), enums
    their value, dataclasses dicts, sets and tuples lists. Non-finite floats become strings and
    NUL characters are removed, because PostgreSQL's JSON types refuse both. Anything else
    raises TypeError, at the caller, instead of failing later inside a database flush.
    """
    kind = type(value)  # exact types first: this runs for every event-log append
    if kind is str:
        return value.replace("\x00", "") if "\x00" in value else value
    if kind is int or kind is bool or value is None:
        return value
    if kind is dict:
        return {_json_key(key): to_jsonable(item) for key, item in value.items()}
    if kind is Decimal:
        return str(value)
    return _convert(value)


def _convert(value: Any) -> Any:  # noqa: C901 - one flat dispatch on type, clearer unsplit
    if isinstance(value, Enum):
        return to_jsonable(value.value)
    if isinstance(value, str):
        return to_jsonable(str(value))
    if isinstance(value, bool | int):
        return int(value) if not isinstance(value, bool) else value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} in a JSON payload: use UTC")
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {_json_key(key): to_jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(item) for item in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, UUID):
        return str(value)
    raise TypeError(f"cannot store a {type(value).__name__} in JSON")


def _json_key(key: Any) -> str:
    if type(key) is str and "\x00" not in key:
        return key
    if isinstance(key, Enum):
        key = key.value
    if isinstance(key, bool):
        return "true" if key else "false"  # as json.dumps writes a bool key
    if isinstance(key, str | int | float | Decimal):
        return str(key).replace("\x00", "")
    raise TypeError(f"cannot use a {type(key).__name__} as a JSON object key")


def dumps_json(value: Any) -> str:
    """Serialise for a JSON column (see `to_jsonable` for what is accepted).

    Values that are already plain JSON (event-log payloads are converted on append) take the
    C encoder directly; anything else goes through `to_jsonable` first.
    """
    try:
        text = json.dumps(value, separators=_COMPACT, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):
        text = None
    if text is None or "\\u0000" in text:  # PostgreSQL refuses NUL in JSON text
        text = json.dumps(to_jsonable(value), separators=_COMPACT, ensure_ascii=False)
    return text

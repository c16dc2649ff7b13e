"""A failure in words for people: what went wrong, never the statement or data behind it.

Alerts, /cycle replies and status lines reach a chat. An exception's own text can carry a SQL
statement and its parameters (SQLAlchemy appends `[SQL: ...]` and `[parameters: ...]`), a
driver's message quoting a query, or a long traceback-shaped string. `describe_failure` names
the kind of failure and the exception's class; database errors get words only (the full error
goes to the log, where `log.exception` already put it). Other exceptions keep the first line
of their message, cut short, with anything from a `[SQL:` marker on removed.
"""

from __future__ import annotations

from sqlalchemy import exc as sa

MAX_MESSAGE = 200
_SQL_MARKERS = ("[SQL:", "[parameters:")


def _database_words(error: sa.SQLAlchemyError) -> str:
    if isinstance(error, sa.OperationalError | sa.InterfaceError | sa.DisconnectionError):
        return "the database could not be reached or used"
    if isinstance(error, sa.TimeoutError):
        return "no database connection was free in time"
    if isinstance(error, sa.IntegrityError):
        return "the database refused a write that breaks a constraint"
    if isinstance(error, sa.ProgrammingError):
        return "the database rejected a statement (a schema out of date?)"
    return "a database operation failed"


def describe_failure(error: BaseException) -> str:
    """`error` in words for an alert or a reply; the details stay in the log."""
    kind = type(error).__name__
    if isinstance(error, sa.SQLAlchemyError):
        return f"database error: {_database_words(error)} ({kind}); details in the log"
    message = str(error).strip()
    for marker in _SQL_MARKERS:
        message = message.split(marker, 1)[0].strip()
    message = message.splitlines()[0] if message else ""
    if len(message) > MAX_MESSAGE:
        message = message[: MAX_MESSAGE - 1] + "…"
    return f"{kind}: {message}" if message else kind


__all__ = ["describe_failure"]

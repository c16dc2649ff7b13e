"""`trader why [REF]` and `trader why --denied`: the /why text, offline from the database.

It reads what the running app has written (the event log and the tables; SQLite's WAL lets it
read beside the app), so events the app still holds in memory are not seen yet. Exit 0 with
the chain, 1 when nothing fits the reference, 2 when the schema is not current.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC
from typing import TextIO
from zoneinfo import ZoneInfo

from trader.clock import SystemClock
from trader.explain.service import WhyService
from trader.store.db import create_engine, session_factory
from trader.store.eventlog import EventLog
from trader.store.schema import SchemaError, ensure_schema_current

EXIT_OK, EXIT_NOT_FOUND, EXIT_SCHEMA = 0, 1, 2


def why_command(
    database_url: str,
    ref: str | None,
    *,
    denied: bool = False,
    zone: ZoneInfo | None = None,
    stdout: TextIO | None = None,
) -> int:
    return asyncio.run(_why(database_url, ref, denied, zone, stdout or sys.stdout))


async def _why(
    database_url: str, ref: str | None, denied: bool, zone: ZoneInfo | None, stdout: TextIO
) -> int:
    from bot.render import why as render_why
    from bot.render.common import RenderContext

    render = RenderContext(zone or UTC)
    engine = create_engine(database_url)
    try:
        try:
            await ensure_schema_current(engine)
        except SchemaError as error:
            print(str(error), file=sys.stderr)
            return EXIT_SCHEMA
        sessions = session_factory(engine)
        service = WhyService(sessions, EventLog(sessions, SystemClock()))
        try:
            if denied:
                text = render_why.denials(await service.denials(10), render).text
            else:
                text = render_why.chain_text(await service.explain(ref), render)
        except LookupError as error:
            print(str(error.args[0] if error.args else error), file=sys.stderr)
            return EXIT_NOT_FOUND
    finally:
        await engine.dispose()
    print(text, file=stdout)
    return EXIT_OK

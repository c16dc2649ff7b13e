"""The records assembly: the database, the event log and the persisted control state.

Built first and closed last. Constructing it connects to nothing; `start()` refuses a schema
behind (or ahead of) the code, starts the event log's writer and loads the control state.
`close()` appends the `shutdown` event (only once the event log was started), flushes it and
disposes of the database engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from trader.clock import Clock
from trader.config import Settings
from trader.domain import SYSTEM_ACTOR
from trader.execution.runtime import risk_limits_from_settings
from trader.ops.metrics import Metrics
from trader.stages import parse_stage_setting
from trader.state import ControlState
from trader.store.db import create_engine, session_factory
from trader.store.eventlog import EventLog
from trader.store.repositories import ControlStateRepository
from trader.store.schema import ensure_schema_current
from trader.wiring import MeteredEventLog


def spill_path(settings: Settings) -> Path:
    """Where unwritable events go at shutdown: beside a SQLite file, else ./data/."""
    url = settings.database_url
    if url.startswith("sqlite") and ":///" in url:
        return Path(url.split(":///", 1)[1]).with_suffix(".eventlog-spill.jsonl")
    return Path("data/eventlog-spill.jsonl")


class RecordsAssembly:
    def __init__(self, settings: Settings, *, clock: Clock, metrics: Metrics) -> None:
        self.spill_path = spill_path(settings)
        self.engine = create_engine(settings.database_url)
        self.sessions = session_factory(self.engine)
        self.events = EventLog(self.sessions, clock=clock, spill_path=self.spill_path)
        # what every part appends to: the event log, counted for /metrics as it is recorded
        self.recorder = MeteredEventLog(self.events, metrics)
        self.state = ControlState(
            ControlStateRepository(self.sessions, clock=clock),
            clock,
            risk_defaults=risk_limits_from_settings(settings),
            stage_defaults=parse_stage_setting(settings.strategy_stages),
        )
        self.started = False  # the event log's writer runs (so a shutdown event is recorded)
        self._shutdown_recorded = False

    async def start(self) -> None:
        await ensure_schema_current(self.engine)
        await self.events.start()
        self.started = True
        await self.state.load()

    async def close(self, shutdown: Mapping[str, Any]) -> None:
        """Record the shutdown (once), flush and dispose; called again after a close that was
        cut short, it tries the flush again."""
        if self.started:
            if not self._shutdown_recorded:
                self._shutdown_recorded = True
                self.events.append("shutdown", shutdown, actor=str(SYSTEM_ACTOR))
            await self.events.close()
        await self.engine.dispose()

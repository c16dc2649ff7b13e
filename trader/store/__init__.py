"""Storage: engines and sessions, the schema, migrations, the event log and repositories.

Importing this package connects to nothing; the composition root calls `create_engine`.
"""

from __future__ import annotations

from trader.store.db import create_engine, normalize_url, safe_url, session_factory
from trader.store.eventlog import Event, EventLog, EventLogClosed, EventLogFlushError
from trader.store.repositories import (
    AlertRepository,
    ApprovalRepository,
    ControlStateRepository,
    DuplicateError,
    EquityRepository,
    HeartbeatRepository,
    LlmUsageRepository,
)
from trader.store.schema import (
    SchemaAheadError,
    SchemaBehindError,
    SchemaError,
    ensure_schema_current,
)
from trader.store.trading import (
    FillRepository,
    ForecastRepository,
    MarketRepository,
    OrderRepository,
    PositionRepository,
)

__all__ = [
    "AlertRepository",
    "ApprovalRepository",
    "ControlStateRepository",
    "DuplicateError",
    "EquityRepository",
    "Event",
    "EventLog",
    "EventLogClosed",
    "EventLogFlushError",
    "FillRepository",
    "ForecastRepository",
    "HeartbeatRepository",
    "LlmUsageRepository",
    "MarketRepository",
    "OrderRepository",
    "PositionRepository",
    "SchemaAheadError",
    "SchemaBehindError",
    "SchemaError",
    "create_engine",
    "ensure_schema_current",
    "normalize_url",
    "safe_url",
    "session_factory",
]

"""What the execution core persists, behind one small protocol with two implementations.

`SqlExecutionStore` writes to the database through the repositories (the app; on a SQLite
file its writes go through the engine's one `DirectWriter`, without a thread hop, and carry
the event log's buffered events in the same transaction); the
`MemoryExecutionStore` keeps the same records in dicts (the hot-path benchmark and fast
tests).

Write-behind (`WriteBehind`): the engine awaits `insert_order` before it calls the venue (on
the hot path). What follows (the venue's answer, fills, the new position) is already applied
in memory; writing it is queued and done in order by one task, so the hot path never waits
for the database twice. A failed write is retried with a backoff; if the process dies with
writes queued, reconciliation restores the same facts from the venue on the next start. An
event log flush queued ahead of the rows it explains (a fill's, a settlement's) is a barrier:
while it fails, nothing behind it is written.

The package: `base` (`ExecutionStore`, `OrderRecord`), `sql` (`SqlExecutionStore`), `memory`
(`MemoryExecutionStore`), `write_behind` (`WriteBehind`, `FillRows`).
"""

from __future__ import annotations

from trader.execution.store.base import ExecutionStore, OrderRecord
from trader.execution.store.memory import MemoryExecutionStore
from trader.execution.store.sql import EPOCH, SqlExecutionStore, order_values, record_from_row
from trader.execution.store.write_behind import Entry, FillRows, Write, WriteBehind

__all__ = [
    "EPOCH",
    "Entry",
    "ExecutionStore",
    "FillRows",
    "MemoryExecutionStore",
    "OrderRecord",
    "SqlExecutionStore",
    "Write",
    "WriteBehind",
    "order_values",
    "record_from_row",
]

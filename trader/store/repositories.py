"""Small async repositories over the tables: the only SQL the rest of the trader needs.

Each repository takes the session factory and the injected clock (timestamps the caller does
not give come from the clock). Rows come back detached and fully loaded: read them, do not
expect changing them to change the database.

Money columns are TEXT on SQLite (see `trader.store.types`), so sums and comparisons of money
happen in Python here, except where a query runs on PostgreSQL only.

Orders, fills, positions, markets and forecasts are in `trader.store.trading`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Table, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql.dml import Insert

from trader.clock import Clock
from trader.domain import Actor, Alert
from trader.store.tables import (
    AlertRow,
    ApprovalRow,
    Base,
    CashFlowRow,
    ControlStateRow,
    EquitySnapshotRow,
    HeartbeatRow,
    LlmUsageRow,
    table_of,
)

RowT = TypeVar("RowT", bound=Base)

_SQLITE_UNIQUE_ERRORS = (2067, 1555)  # SQLITE_CONSTRAINT_UNIQUE, SQLITE_CONSTRAINT_PRIMARYKEY
_PG_UNIQUE_VIOLATION = "23505"


class DuplicateError(ValueError):
    """A row with the same unique key (client order id, request key, ...) already exists."""


def is_unique_violation(error: IntegrityError) -> bool:
    original = error.orig
    if getattr(original, "sqlstate", None) == _PG_UNIQUE_VIOLATION:
        return True
    if getattr(original, "sqlite_errorcode", None) in _SQLITE_UNIQUE_ERRORS:
        return True
    return "UNIQUE constraint failed" in str(original)


def upsert(dialect: str, table: Table, values: Mapping[str, Any], key: Sequence[str]) -> Insert:
    """INSERT ... ON CONFLICT (key) DO UPDATE SET every other given column."""
    if dialect == "postgresql":
        pg_statement = postgresql.insert(table).values(dict(values))
        changes = {name: pg_statement.excluded[name] for name in values if name not in key}
        return pg_statement.on_conflict_do_update(index_elements=list(key), set_=changes)
    if dialect == "sqlite":
        lite_statement = sqlite.insert(table).values(dict(values))
        changes = {name: lite_statement.excluded[name] for name in values if name not in key}
        return lite_statement.on_conflict_do_update(index_elements=list(key), set_=changes)
    raise NotImplementedError(f"upsert on {dialect}")


def insert_ignore(dialect: str, table: Table, values: Mapping[str, Any]) -> Insert:
    """INSERT ... ON CONFLICT DO NOTHING: for records the venue may report twice."""
    if dialect == "postgresql":
        return postgresql.insert(table).values(dict(values)).on_conflict_do_nothing()
    if dialect == "sqlite":
        return sqlite.insert(table).values(dict(values)).on_conflict_do_nothing()
    raise NotImplementedError(f"insert-or-ignore on {dialect}")


def column_values(row: Base) -> dict[str, Any]:
    """The row's column values (None included: an upsert must be able to clear a column),
    leaving out the autoincrement key when the database is to assign it."""
    table = table_of(type(row))
    generated = table.autoincrement_column
    return {
        column.key: getattr(row, column.key)
        for column in table.columns
        if not (column is generated and getattr(row, column.key) is None)
    }


def dialect_of(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


class Repository:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock

    async def _add(self, row: RowT) -> RowT:
        """Insert one row; a unique-key clash raises `DuplicateError`."""
        try:
            async with self._sessions.begin() as session:
                session.add(row)
        except IntegrityError as exc:
            if is_unique_violation(exc):
                raise DuplicateError(f"{row.__tablename__}: {exc.orig}") from exc
            raise
        return row

    async def _all(self, query: Any) -> list[Any]:
        async with self._sessions() as session:
            return list((await session.scalars(query)).all())

    async def _first(self, query: Any) -> Any:
        async with self._sessions() as session:
            return (await session.scalars(query.limit(1))).first()

    async def _update(self, table: Any, where: ColumnElement[bool], **values: Any) -> int:
        """UPDATE ... WHERE ...; returns the number of rows changed."""
        async with self._sessions.begin() as session:
            result = await session.execute(update(table).where(where).values(**values))
        return int(getattr(result, "rowcount", 0))


class ControlStateRepository(Repository):
    """Kill switch, pause, approval mode, alert settings, limits: JSON values by key.

    Values come back as JSON types: a `Decimal` is stored (and returned) as its string.
    """

    async def get(self, key: str, default: Any = None) -> Any:
        row = await self.get_row(key)
        return default if row is None else row.value

    async def get_row(self, key: str) -> ControlStateRow | None:
        async with self._sessions() as session:
            return await session.get(ControlStateRow, key)

    async def get_all(self) -> dict[str, Any]:
        rows: list[ControlStateRow] = await self._all(select(ControlStateRow))
        return {row.key: row.value for row in rows}

    async def set(self, key: str, value: Any, *, updated_by: Actor | str) -> None:
        values = {
            "key": key,
            "value": value,
            "updated_at": self._clock.now(),
            "updated_by": str(updated_by),
        }
        async with self._sessions.begin() as session:
            table = table_of(ControlStateRow)
            await session.execute(upsert(dialect_of(session), table, values, ["key"]))


class HeartbeatRepository(Repository):
    """One row per component, overwritten on every beat."""

    async def upsert(self, beat: HeartbeatRow) -> None:
        async with self._sessions.begin() as session:
            table = table_of(HeartbeatRow)
            statement = upsert(dialect_of(session), table, column_values(beat), ["component"])
            await session.execute(statement)

    async def latest(self, component: str) -> HeartbeatRow | None:
        async with self._sessions() as session:
            return await session.get(HeartbeatRow, component)

    async def all(self) -> list[HeartbeatRow]:
        return await self._all(select(HeartbeatRow).order_by(HeartbeatRow.component))


class AlertRepository(Repository):
    async def insert(self, alert: Alert, *, created_at: datetime | None = None) -> AlertRow:
        row = AlertRow(
            kind=alert.kind,
            severity=str(alert.severity),
            title=alert.title,
            body=alert.body,
            dedupe_key=alert.dedupe_key,
            correlation_id=alert.correlation_id,
            created_at=created_at or self._clock.now(),
        )
        return await self._add(row)

    async def recent(self, limit: int = 50, *, since: datetime | None = None) -> list[AlertRow]:
        """Newest first."""
        query = select(AlertRow).order_by(AlertRow.created_at.desc(), AlertRow.id.desc())
        if since is not None:
            query = query.where(AlertRow.created_at >= since)
        return await self._all(query.limit(limit))

    async def latest_with_dedupe_key(self, dedupe_key: str) -> AlertRow | None:
        query = select(AlertRow).where(AlertRow.dedupe_key == dedupe_key)
        result: AlertRow | None = await self._first(query.order_by(AlertRow.id.desc()))
        return result

    async def acknowledge(self, alert_id: int, *, at: datetime | None = None) -> bool:
        where = (AlertRow.id == alert_id) & AlertRow.acknowledged_at.is_(None)
        return await self._update(AlertRow, where, acknowledged_at=at or self._clock.now()) == 1

    async def mark_delivered(self, alert_id: int, channel: str) -> None:
        async with self._sessions.begin() as session:
            row = await session.get(AlertRow, alert_id, with_for_update=True)
            if row is None:
                raise KeyError(f"no alert {alert_id}")
            row.delivered = {**row.delivered, channel: self._clock.now().isoformat()}


class ApprovalRepository(Repository):
    """Pending approvals survive restarts; a decision is taken once, atomically."""

    async def insert(self, approval: ApprovalRow) -> ApprovalRow:
        return await self._add(approval)

    async def get(self, request_key: str) -> ApprovalRow | None:
        result: ApprovalRow | None = await self._first(
            select(ApprovalRow).where(ApprovalRow.request_key == request_key)
        )
        return result

    async def pending(self) -> list[ApprovalRow]:
        query = select(ApprovalRow).where(ApprovalRow.status == "pending")
        return await self._all(query.order_by(ApprovalRow.created_at, ApprovalRow.id))

    async def decide(
        self,
        request_key: str,
        status: str,
        *,
        decided_by: Actor | str,
        at: datetime | None = None,
    ) -> bool:
        """Move a pending request to approved/rejected/expired/superseded (a newer request for
        its market replaced it). False if it was not pending (already decided, or unknown),
        or, for "approved", if it has expired by `at`."""
        if status not in ("approved", "rejected", "expired", "superseded"):
            raise ValueError(f"not a decision: {status!r}")
        at = at or self._clock.now()
        where = (ApprovalRow.request_key == request_key) & (ApprovalRow.status == "pending")
        if status == "approved":
            where = where & (ApprovalRow.expires_at > at)
        changed = await self._update(
            ApprovalRow, where, status=status, decided_by=str(decided_by), decided_at=at
        )
        return changed == 1

    async def expire_due(self, *, at: datetime | None = None) -> list[str]:
        """Mark every pending request past its expiry as expired; their request keys."""
        at = at or self._clock.now()
        async with self._sessions.begin() as session:
            due = (ApprovalRow.status == "pending") & (ApprovalRow.expires_at <= at)
            keys = list((await session.scalars(select(ApprovalRow.request_key).where(due))).all())
            if keys:
                await session.execute(
                    update(ApprovalRow)
                    .where(due & ApprovalRow.request_key.in_(keys))
                    .values(status="expired", decided_by="system:expiry", decided_at=at)
                )
        return keys

    async def set_message_refs(self, request_key: str, refs: list[Any]) -> bool:
        where = ApprovalRow.request_key == request_key
        return await self._update(ApprovalRow, where, message_refs=refs) == 1


class LlmUsageRepository(Repository):
    async def insert(self, usage: LlmUsageRow) -> LlmUsageRow:
        return await self._add(usage)

    async def cost_since(self, since: datetime) -> Decimal:
        """Total cost of the calls at or after `since`, exact."""
        async with self._sessions() as session:
            if dialect_of(session) == "postgresql":
                query = select(func.coalesce(func.sum(LlmUsageRow.cost), 0))
                total = await session.scalar(query.where(LlmUsageRow.ts >= since))
                return Decimal(total or 0)
            costs = await session.scalars(select(LlmUsageRow.cost).where(LlmUsageRow.ts >= since))
            return sum(costs.all(), Decimal(0))

    async def recent(self, limit: int = 100) -> list[LlmUsageRow]:
        query = select(LlmUsageRow).order_by(LlmUsageRow.ts.desc(), LlmUsageRow.id.desc())
        return await self._all(query.limit(limit))


class CashFlowRepository(Repository):
    async def insert(self, flow: CashFlowRow) -> CashFlowRow:
        return await self._add(flow)

    async def since(self, start: datetime) -> list[CashFlowRow]:
        """Flows at or after `start`, oldest first."""
        query = select(CashFlowRow).where(CashFlowRow.ts >= start)
        return await self._all(query.order_by(CashFlowRow.ts, CashFlowRow.id))


class EquityRepository(Repository):
    async def insert(self, snapshot: EquitySnapshotRow) -> EquitySnapshotRow:
        return await self._add(snapshot)

    async def between(self, start: datetime, end: datetime) -> list[EquitySnapshotRow]:
        """Snapshots with start <= ts < end, oldest first."""
        query = select(EquitySnapshotRow).where(
            (EquitySnapshotRow.ts >= start) & (EquitySnapshotRow.ts < end)
        )
        return await self._all(query.order_by(EquitySnapshotRow.ts, EquitySnapshotRow.id))

    async def latest(self) -> EquitySnapshotRow | None:
        query = select(EquitySnapshotRow).order_by(
            EquitySnapshotRow.ts.desc(), EquitySnapshotRow.id.desc()
        )
        result: EquitySnapshotRow | None = await self._first(query)
        return result

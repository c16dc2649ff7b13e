"""The chat's memory over the database (`trader.control.types.ChatMemory`).

Critical alerts sent with an Acknowledge button are rows of `alerts` with their `ack_id`; one
without `acknowledged_at` is still awaiting someone, so the notifier repeats it after a
restart. `chat_windows` holds, per channel and person, when they last wrote: WhatsApp's
24-hour service window opens with it. Windows are kept for `WINDOW_HORIZON` (a day) and
criticals for `CRITICAL_HORIZON` (a week): older ones matter to nobody.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select

from trader.control.types import PendingCritical
from trader.domain import Alert, Severity, new_correlation_id
from trader.store.repositories import Repository, column_values, dialect_of, upsert
from trader.store.tables import AlertRow, ChatWindowRow, table_of

WINDOW_HORIZON = timedelta(hours=24)
CRITICAL_HORIZON = timedelta(days=7)


class ChatMemoryRepository(Repository):
    async def remember_critical(self, ack_id: str, alert: Alert, sent_at: datetime) -> None:
        await self._add(
            AlertRow(
                kind=alert.kind,
                severity=str(alert.severity),
                title=alert.title,
                body=alert.body,
                dedupe_key=alert.dedupe_key,
                correlation_id=alert.correlation_id,
                created_at=sent_at,
                ack_id=ack_id,
            )
        )

    async def acknowledge_critical(self, ack_id: str, at: datetime) -> None:
        where = (AlertRow.ack_id == ack_id) & AlertRow.acknowledged_at.is_(None)
        await self._update(AlertRow, where, acknowledged_at=at)

    async def unacknowledged_criticals(self) -> list[PendingCritical]:
        since = self._clock.now() - CRITICAL_HORIZON
        rows: list[AlertRow] = await self._all(
            select(AlertRow)
            .where(
                AlertRow.ack_id.is_not(None),
                AlertRow.acknowledged_at.is_(None),
                AlertRow.created_at >= since,
            )
            .order_by(AlertRow.created_at, AlertRow.id)
        )
        return [
            PendingCritical(
                str(row.ack_id),
                Alert(
                    row.kind,
                    Severity(row.severity),
                    row.title,
                    row.body,
                    row.correlation_id or new_correlation_id(),
                    dedupe_key=row.dedupe_key,
                ),
                row.created_at,
            )
            for row in rows
        ]

    async def record_inbound(self, channel: str, user_id: str, at: datetime) -> None:
        row = ChatWindowRow(channel=channel, user_id=user_id, last_inbound_at=at)
        async with self._sessions.begin() as session:
            table = table_of(ChatWindowRow)
            statement = upsert(
                dialect_of(session), table, column_values(row), ["channel", "user_id"]
            )
            await session.execute(statement)

    async def forget_inbound(self, channel: str, user_id: str) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                delete(ChatWindowRow).where(
                    ChatWindowRow.channel == channel, ChatWindowRow.user_id == user_id
                )
            )

    async def last_inbound(self, channel: str) -> dict[str, datetime]:
        since = self._clock.now() - WINDOW_HORIZON
        rows: list[ChatWindowRow] = await self._all(
            select(ChatWindowRow).where(
                ChatWindowRow.channel == channel, ChatWindowRow.last_inbound_at >= since
            )
        )
        return {row.user_id: row.last_inbound_at for row in rows}


__all__ = ["CRITICAL_HORIZON", "WINDOW_HORIZON", "ChatMemoryRepository"]

"""chat memory: critical alerts awaiting acknowledgement, and chat service windows

New column `alerts.ack_id` (nullable, unique): the id on a critical alert's Acknowledge button;
such a row with no `acknowledged_at` keeps repeating after a restart. New table `chat_windows`
(channel, user id, when they last wrote): WhatsApp's 24-hour service windows survive a
restart. Rows written before this revision have no `ack_id`, hence nullable.

Revision ID: 5b7e2c91d4a0
Revises: 0660c4ca2063
Create Date: 2026-12-01 23:30:00.000000+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5b7e2c91d4a0"
down_revision: str | Sequence[str] | None = "0660c4ca2063"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out here rather than imported from trader.store.types (see the initial revision).
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("ack_id", sa.String(), nullable=True))
        batch.create_index(batch.f("ix_alerts_ack_id"), ["ack_id"], unique=True)
    op.create_table(
        "chat_windows",
        sa.Column("channel", sa.String(), nullable=False),
        sa.Column("user_id", sa.String(), nullable=False),
        sa.Column("last_inbound_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("channel", "user_id", name=op.f("pk_chat_windows")),
    )


def downgrade() -> None:
    op.drop_table("chat_windows")
    with op.batch_alter_table("alerts") as batch:
        batch.drop_index(batch.f("ix_alerts_ack_id"))
        batch.drop_column("ack_id")

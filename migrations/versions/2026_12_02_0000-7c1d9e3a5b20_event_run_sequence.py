"""event log run sequence: every event numbered within the process run that created it

New columns `event_log.run_id` and `event_log.run_seq`, unique together: the writer numbers
events as they are created, so a number missing from a run is an event lost before it reached
the database (the continuity check in `trader.store.eventlog.find_gaps`). Rows written before
this revision have neither, hence nullable. Plain ADD COLUMN, not a batch copy of the table:
a copy would drop the append-only triggers.

Revision ID: 7c1d9e3a5b20
Revises: 5b7e2c91d4a0
Create Date: 2026-12-02 00:00:00.000000+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7c1d9e3a5b20"
down_revision: str | Sequence[str] | None = "5b7e2c91d4a0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("event_log", sa.Column("run_id", sa.String(), nullable=True))
    op.add_column("event_log", sa.Column("run_seq", sa.BigInteger(), nullable=True))
    op.create_index("ix_event_log_run", "event_log", ["run_id", "run_seq"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_event_log_run", table_name="event_log")
    op.drop_column("event_log", "run_seq")
    op.drop_column("event_log", "run_id")

"""approvals: a request may be superseded

One approval per market: a new request for a market that already has one pending supersedes
it, so `approvals.status` may also be 'superseded'. The check constraint is replaced (batch
mode, so SQLite rebuilds the table).

Revision ID: 8d1f3a6b2c57
Revises: 7c1d9e3a5b20
Create Date: 2026-12-02 00:10:00.000000+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "8d1f3a6b2c57"
down_revision: str | Sequence[str] | None = "7c1d9e3a5b20"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BEFORE = "status IN ('pending', 'approved', 'rejected', 'expired')"
AFTER = "status IN ('pending', 'approved', 'rejected', 'expired', 'superseded')"


def upgrade() -> None:
    with op.batch_alter_table("approvals") as batch:
        batch.drop_constraint(op.f("ck_approvals_status"), type_="check")
        batch.create_check_constraint(op.f("ck_approvals_status"), AFTER)


def downgrade() -> None:
    op.execute("UPDATE approvals SET status = 'expired' WHERE status = 'superseded'")
    with op.batch_alter_table("approvals") as batch:
        batch.drop_constraint(op.f("ck_approvals_status"), type_="check")
        batch.create_check_constraint(op.f("ck_approvals_status"), BEFORE)

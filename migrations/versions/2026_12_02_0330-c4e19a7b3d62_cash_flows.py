"""cash_flows: deposits and withdrawals, which are not PnL

The day's PnL, /pnl and the drawdown are measured net of them (see
`trader.execution.cash_flows`); each row is also a `cash_flow` event in the event log.

Revision ID: c4e19a7b3d62
Revises: f4b9c2e7a1d3
Create Date: 2026-12-02 03:30:00.000000+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# Written out, as in the initial schema, so that this revision keeps its meaning if the
# application's types change.
MONEY = sa.Numeric().with_variant(sa.Text(), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision: str = "c4e19a7b3d62"
down_revision: str | Sequence[str] | None = "f4b9c2e7a1d3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cash_flows",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("ts", TIMESTAMP, nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("correlation_id", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cash_flows")),
    )
    op.create_index(op.f("ix_cash_flows_ts"), "cash_flows", ["ts"])


def downgrade() -> None:
    op.drop_index(op.f("ix_cash_flows_ts"), table_name="cash_flows")
    op.drop_table("cash_flows")

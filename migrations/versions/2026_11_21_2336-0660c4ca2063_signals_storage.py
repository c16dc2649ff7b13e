"""signals storage: analysis memory, news items, feed validators; LLM usage and forecast detail

New tables: `analysis_memory` (per market, the fingerprint and time of its last conclusive
analysis), `news_items` (the news window) and `feed_validators` (ETag / Last-Modified per feed).
New nullable columns: `llm_usage.market` and `llm_usage.error`; `forecasts.decision`,
`forecasts.reason`, `forecasts.brier_model` and `forecasts.brier_market`. They are nullable
because rows written before this revision have no value for them.

Revision ID: 0660c4ca2063
Revises: a3c46d058e54
Create Date: 2026-11-21 23:36:00.000000+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0660c4ca2063"
down_revision: str | Sequence[str] | None = "a3c46d058e54"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out here rather than imported from trader.store.types (see the initial revision).
MONEY = sa.Numeric().with_variant(sa.Text(), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "analysis_memory",
        sa.Column("market", sa.String(), nullable=False),
        sa.Column("fingerprint", sa.String(), nullable=False),
        sa.Column("analysed_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("market", name=op.f("pk_analysis_memory")),
    )
    op.create_table(
        "news_items",
        sa.Column("item_id", sa.String(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("link", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("published", TIMESTAMP, nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("item_id", name=op.f("pk_news_items")),
    )
    op.create_index(op.f("ix_news_items_published"), "news_items", ["published"])
    op.create_table(
        "feed_validators",
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("etag", sa.Text(), nullable=True),
        sa.Column("last_modified", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("url", name=op.f("pk_feed_validators")),
    )
    with op.batch_alter_table("llm_usage") as batch:
        batch.add_column(sa.Column("market", sa.String(), nullable=True))
        batch.add_column(sa.Column("error", sa.String(), nullable=True))
    with op.batch_alter_table("forecasts") as batch:
        batch.add_column(sa.Column("decision", sa.String(length=8), nullable=True))
        batch.add_column(sa.Column("reason", sa.Text(), nullable=True))
        batch.add_column(sa.Column("brier_model", MONEY, nullable=True))
        batch.add_column(sa.Column("brier_market", MONEY, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("forecasts") as batch:
        batch.drop_column("brier_market")
        batch.drop_column("brier_model")
        batch.drop_column("reason")
        batch.drop_column("decision")
    with op.batch_alter_table("llm_usage") as batch:
        batch.drop_column("error")
        batch.drop_column("market")
    op.drop_table("feed_validators")
    op.drop_index(op.f("ix_news_items_published"), table_name="news_items")
    op.drop_table("news_items")
    op.drop_table("analysis_memory")

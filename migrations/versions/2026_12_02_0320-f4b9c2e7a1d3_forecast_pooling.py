"""forecasts: what was predicted, so scoring and refits can be replayed

Each forecast row keeps its raw sample probabilities, their aggregate (the model's own view),
the model's weight in the log-odds blend with the market (`model_probability` is the blend),
the retrieved sources with their publication times, and, on resolution, the blend's Brier score
beside the model's and the market's. All nullable: rows written before this revision have none.

Revision ID: f4b9c2e7a1d3
Revises: 8d1f3a6b2c57
Create Date: 2026-12-02 03:20:00.000000+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "f4b9c2e7a1d3"
down_revision: str | Sequence[str] | None = "8d1f3a6b2c57"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out here rather than imported from trader.store.types (see the initial revision).
MONEY = sa.Numeric().with_variant(sa.Text(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

COLUMNS = ("samples", "aggregate", "model_weight", "retrieved", "brier_blend")


def upgrade() -> None:
    with op.batch_alter_table("forecasts") as batch:
        batch.add_column(sa.Column("samples", JSON, nullable=True))
        batch.add_column(sa.Column("aggregate", MONEY, nullable=True))
        batch.add_column(sa.Column("model_weight", MONEY, nullable=True))
        batch.add_column(sa.Column("retrieved", JSON, nullable=True))
        batch.add_column(sa.Column("brier_blend", MONEY, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("forecasts") as batch:
        for name in reversed(COLUMNS):
            batch.drop_column(name)

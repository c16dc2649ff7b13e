"""chain_operations: redemptions and merges, written before they are sent

Each row is one `redeem_positions` or `merge_positions` (`trader.execution.redemption`):
requested (written before the venue is called), sent (accepted: its tx id), confirmed or
failed. The paper venue replays the sent and confirmed ones into its ledger.

Markets settled before this revision were redeemed by the paper venue at once, as settlement
fills: each such market gets a confirmed row marked `legacy`, so a restarted paper venue
still finds it redeemed. The redemption service ignores legacy rows when it decides what to
redeem (a live venue never redeemed those markets by itself).

Revision ID: 9e2a4c6b8d15
Revises: c4e19a7b3d62
Create Date: 2026-12-02 07:00:00.000000+00:00
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

# Written out, as in the initial schema, so that this revision keeps its meaning if the
# application's types change.
MONEY = sa.Numeric().with_variant(sa.Text(), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(JSONB(), "postgresql")

revision: str = "9e2a4c6b8d15"
down_revision: str | Sequence[str] | None = "c4e19a7b3d62"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LEGACY = "legacy"


def upgrade() -> None:
    table = op.create_table(
        "chain_operations",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("market", sa.String(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("amounts", JSON, nullable=False),
        sa.Column("prices", JSON, nullable=False),
        sa.Column("payout", MONEY, nullable=False),
        sa.Column("neg_risk", sa.Boolean(), nullable=False),
        sa.Column("tx_id", sa.String(), nullable=True),
        sa.Column("tx_hash", sa.String(), nullable=True),
        sa.Column("requested_by", sa.String(), nullable=False),
        sa.Column("correlation_id", sa.String(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chain_operations")),
        sa.UniqueConstraint("tx_id", name=op.f("uq_chain_operations_tx_id")),
    )
    op.create_index(op.f("ix_chain_operations_state"), "chain_operations", ["state"])
    op.create_index(op.f("ix_chain_operations_market"), "chain_operations", ["market"])
    _legacy_rows(table)


def _legacy_rows(table: sa.Table) -> None:
    """One confirmed legacy row per market the settlement fills (order id "settlement") paid."""
    fills = sa.table(
        "fills",
        sa.column("order_id"),
        sa.column("market"),
        sa.column("token_id"),
        sa.column("price"),
        sa.column("size"),
        sa.column("ts"),
    )
    bind = op.get_bind()
    query = sa.select(
        fills.c.market, fills.c.token_id, fills.c.price, fills.c.size, fills.c.ts
    ).where(fills.c.order_id == "settlement")
    markets: dict[str, dict[str, object]] = {}
    for market, token, price, size, ts in bind.execute(query):
        item = markets.setdefault(market, {"amounts": {}, "prices": {}, "ts": ts})
        item["amounts"][token] = str(size)  # type: ignore[index]
        item["prices"][token] = str(price)  # type: ignore[index]
    now = datetime.now(UTC)
    rows = []
    for market, item in markets.items():
        amounts: dict[str, str] = item["amounts"]  # type: ignore[assignment]
        prices: dict[str, str] = item["prices"]  # type: ignore[assignment]
        payout = sum((Decimal(amounts[t]) * Decimal(prices[t]) for t in amounts), Decimal(0))
        ts = item["ts"] if isinstance(item["ts"], datetime) else now
        rows.append(
            {
                "id": f"{LEGACY}:{market}",
                "kind": "redeem",
                "market": market,
                "state": "confirmed",
                "created_at": ts,
                "updated_at": now,
                "amounts": amounts,
                "prices": prices,
                "payout": str(payout),
                "neg_risk": False,
                "tx_id": f"{LEGACY}:{market}",
                "tx_hash": None,
                "requested_by": LEGACY,
                "correlation_id": None,
                "message": "redeemed by the paper venue at resolution (before this revision)",
            }
        )
    if rows:
        op.bulk_insert(table, rows)


def downgrade() -> None:
    op.drop_index(op.f("ix_chain_operations_market"), table_name="chain_operations")
    op.drop_index(op.f("ix_chain_operations_state"), table_name="chain_operations")
    op.drop_table("chain_operations")

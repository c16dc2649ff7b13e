"""initial schema: every table, and the triggers that keep event_log append-only

Revision ID: a3c46d058e54
Revises:
Create Date: 2026-11-21 23:18:08.635804+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "a3c46d058e54"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out here rather than imported from trader.store.types, so that this revision keeps
# working whatever happens to the application code later.
MONEY = sa.Numeric().with_variant(sa.Text(), "sqlite")  # exact: the Decimal's string on SQLite
TIMESTAMP = sa.DateTime(timezone=True)  # UTC; naive UTC text on SQLite
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

APPEND_ONLY = "event_log is append-only"

SQLITE_TRIGGERS = (
    f"""
    CREATE TRIGGER event_log_no_update BEFORE UPDATE ON event_log
    BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END
    """,
    f"""
    CREATE TRIGGER event_log_no_delete BEFORE DELETE ON event_log
    BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END
    """,
)

POSTGRESQL_TRIGGERS = (
    f"""
    CREATE FUNCTION event_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '{APPEND_ONLY}' USING ERRCODE = 'restrict_violation';
    END
    $$
    """,
    """
    CREATE TRIGGER event_log_no_update_or_delete BEFORE UPDATE OR DELETE ON event_log
    FOR EACH ROW EXECUTE FUNCTION event_log_append_only()
    """,
    """
    CREATE TRIGGER event_log_no_truncate BEFORE TRUNCATE ON event_log
    FOR EACH STATEMENT EXECUTE FUNCTION event_log_append_only()
    """,
)


def _create_append_only_triggers() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        statements = SQLITE_TRIGGERS
    elif dialect == "postgresql":
        statements = POSTGRESQL_TRIGGERS
    else:
        raise NotImplementedError(f"no append-only triggers for {dialect}")
    for statement in statements:
        op.execute(statement)


def _drop_append_only_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS event_log_no_truncate ON event_log")
        op.execute("DROP TRIGGER IF EXISTS event_log_no_update_or_delete ON event_log")
        op.execute("DROP FUNCTION IF EXISTS event_log_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS event_log_no_delete")
        op.execute("DROP TRIGGER IF EXISTS event_log_no_update")


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("dedupe_key", sa.String(), nullable=True),
        sa.Column("correlation_id", sa.String(), nullable=True),
        sa.Column("acknowledged_at", TIMESTAMP, nullable=True),
        sa.Column("delivered", JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
    )
    op.create_index(op.f("ix_alerts_created_at"), "alerts", ["created_at"])
    op.create_index(op.f("ix_alerts_dedupe_key"), "alerts", ["dedupe_key"])
    op.create_table(
        "approvals",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("request_key", sa.String(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=False),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("correlation_id", sa.String(), nullable=True),
        sa.Column("decided_by", sa.String(), nullable=True),
        sa.Column("decided_at", TIMESTAMP, nullable=True),
        sa.Column("message_refs", JSON, nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'approved', 'rejected', 'expired')",
            name=op.f("ck_approvals_status"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approvals")),
        sa.UniqueConstraint("request_key", name=op.f("uq_approvals_request_key")),
    )
    op.create_index(op.f("ix_approvals_status"), "approvals", ["status"])
    op.create_table(
        "control_state",
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("value", JSON, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("updated_by", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_control_state")),
    )
    op.create_table(
        "equity_snapshots",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("ts", TIMESTAMP, nullable=False),
        sa.Column("equity", MONEY, nullable=False),
        sa.Column("cash", MONEY, nullable=False),
        sa.Column("exposure", MONEY, nullable=False),
        sa.Column("unrealized", MONEY, nullable=False),
        sa.Column("realized", MONEY, nullable=False),
        sa.Column("drawdown", MONEY, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_equity_snapshots")),
    )
    op.create_index(op.f("ix_equity_snapshots_ts"), "equity_snapshots", ["ts"])
    op.create_table(
        "event_log",
        sa.Column("seq", BIG_ID, nullable=False),
        sa.Column("ts", TIMESTAMP, nullable=False),
        sa.Column("type", sa.String(), nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("correlation_id", sa.String(), nullable=True),
        sa.Column("payload", JSON, nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_event_log")),
    )
    op.create_index(op.f("ix_event_log_correlation_id"), "event_log", ["correlation_id"])
    _create_append_only_triggers()
    op.create_table(
        "fills",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("trade_id", sa.String(), nullable=False),
        sa.Column("order_id", sa.String(), nullable=False),
        sa.Column("token_id", sa.String(), nullable=False),
        sa.Column("side", sa.String(length=4), nullable=False),
        sa.Column("price", MONEY, nullable=False),
        sa.Column("size", MONEY, nullable=False),
        sa.Column("ts", TIMESTAMP, nullable=False),
        sa.Column("fee", MONEY, nullable=False),
        sa.Column("market", sa.String(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("liquidity", sa.String(length=8), nullable=False),
        sa.Column("correlation_id", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fills")),
        sa.UniqueConstraint("trade_id", "order_id", name=op.f("uq_fills_trade_id_order_id")),
    )
    op.create_index(op.f("ix_fills_order_id"), "fills", ["order_id"])
    op.create_index(op.f("ix_fills_ts"), "fills", ["ts"])
    op.create_table(
        "forecasts",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("market", sa.String(), nullable=False),
        sa.Column("token_id", sa.String(), nullable=False),
        sa.Column("model_probability", MONEY, nullable=False),
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("market_price", MONEY, nullable=True),
        sa.Column("confidence", MONEY, nullable=True),
        sa.Column("rationale", sa.Text(), nullable=False),
        sa.Column("sources", JSON, nullable=False),
        sa.Column("correlation_id", sa.String(), nullable=True),
        sa.Column("resolved_outcome", MONEY, nullable=True),
        sa.Column("resolved_at", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_forecasts")),
    )
    op.create_index(op.f("ix_forecasts_created_at"), "forecasts", ["created_at"])
    op.create_index(op.f("ix_forecasts_market"), "forecasts", ["market"])
    op.create_index(op.f("ix_forecasts_token_id"), "forecasts", ["token_id"])
    op.create_table(
        "heartbeats",
        sa.Column("component", sa.String(), nullable=False),
        sa.Column("ts", TIMESTAMP, nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(), nullable=False),
        sa.Column("trading_state", sa.String(length=16), nullable=False),
        sa.Column("last_cycle_at", TIMESTAMP, nullable=True),
        sa.Column("feed_age_s", sa.Double(), nullable=True),
        sa.Column("open_orders", sa.Integer(), nullable=False),
        sa.Column("details", JSON, nullable=False),
        sa.PrimaryKeyConstraint("component", name=op.f("pk_heartbeats")),
    )
    op.create_table(
        "llm_usage",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("ts", TIMESTAMP, nullable=False),
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("purpose", sa.String(), nullable=False),
        sa.Column("input_tokens", sa.Integer(), nullable=False),
        sa.Column("output_tokens", sa.Integer(), nullable=False),
        sa.Column("cache_read_tokens", sa.Integer(), nullable=False),
        sa.Column("cache_write_tokens", sa.Integer(), nullable=False),
        sa.Column("cost", MONEY, nullable=False),
        sa.Column("correlation_id", sa.String(), nullable=True),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_llm_usage")),
    )
    op.create_index(op.f("ix_llm_usage_ts"), "llm_usage", ["ts"])
    op.create_table(
        "markets",
        sa.Column("condition_id", sa.String(), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("slug", sa.String(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("tokens", JSON, nullable=False),
        sa.Column("end_date", TIMESTAMP, nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("closed", sa.Boolean(), nullable=False),
        sa.Column("accepting_orders", sa.Boolean(), nullable=False),
        sa.Column("neg_risk", sa.Boolean(), nullable=False),
        sa.Column("tick_size", MONEY, nullable=False),
        sa.Column("min_order_size", MONEY, nullable=False),
        sa.Column("volume", MONEY, nullable=False),
        sa.Column("liquidity", MONEY, nullable=False),
        sa.PrimaryKeyConstraint("condition_id", name=op.f("pk_markets")),
    )
    op.create_table(
        "orders",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("client_order_id", sa.String(), nullable=False),
        sa.Column("market", sa.String(), nullable=False),
        sa.Column("token_id", sa.String(), nullable=False),
        sa.Column("side", sa.String(length=4), nullable=False),
        sa.Column("price", MONEY, nullable=False),
        sa.Column("size", MONEY, nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("venue_order_id", sa.String(), nullable=True),
        sa.Column("size_matched", MONEY, nullable=False),
        sa.Column("order_type", sa.String(length=8), nullable=False),
        sa.Column("post_only", sa.Boolean(), nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=True),
        sa.Column("strategy", sa.String(), nullable=False),
        sa.Column("correlation_id", sa.String(), nullable=True),
        sa.Column("signed_payload", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        sa.UniqueConstraint("client_order_id", name=op.f("uq_orders_client_order_id")),
        sa.UniqueConstraint("venue_order_id", name=op.f("uq_orders_venue_order_id")),
    )
    op.create_index(op.f("ix_orders_correlation_id"), "orders", ["correlation_id"])
    op.create_index(op.f("ix_orders_market"), "orders", ["market"])
    op.create_index(op.f("ix_orders_status"), "orders", ["status"])
    op.create_table(
        "positions",
        sa.Column("token_id", sa.String(), nullable=False),
        sa.Column("size", MONEY, nullable=False),
        sa.Column("average_price", MONEY, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("market", sa.String(), nullable=False),
        sa.Column("outcome", sa.String(), nullable=False),
        sa.Column("realized_pnl", MONEY, nullable=False),
        sa.PrimaryKeyConstraint("token_id", name=op.f("pk_positions")),
    )


def downgrade() -> None:
    op.drop_table("positions")
    op.drop_index(op.f("ix_orders_status"), table_name="orders")
    op.drop_index(op.f("ix_orders_market"), table_name="orders")
    op.drop_index(op.f("ix_orders_correlation_id"), table_name="orders")
    op.drop_table("orders")
    op.drop_table("markets")
    op.drop_index(op.f("ix_llm_usage_ts"), table_name="llm_usage")
    op.drop_table("llm_usage")
    op.drop_table("heartbeats")
    op.drop_index(op.f("ix_forecasts_token_id"), table_name="forecasts")
    op.drop_index(op.f("ix_forecasts_market"), table_name="forecasts")
    op.drop_index(op.f("ix_forecasts_created_at"), table_name="forecasts")
    op.drop_table("forecasts")
    op.drop_index(op.f("ix_fills_ts"), table_name="fills")
    op.drop_index(op.f("ix_fills_order_id"), table_name="fills")
    op.drop_table("fills")
    _drop_append_only_triggers()
    op.drop_index(op.f("ix_event_log_correlation_id"), table_name="event_log")
    op.drop_table("event_log")
    op.drop_index(op.f("ix_equity_snapshots_ts"), table_name="equity_snapshots")
    op.drop_table("equity_snapshots")
    op.drop_table("control_state")
    op.drop_index(op.f("ix_approvals_status"), table_name="approvals")
    op.drop_table("approvals")
    op.drop_index(op.f("ix_alerts_dedupe_key"), table_name="alerts")
    op.drop_index(op.f("ix_alerts_created_at"), table_name="alerts")
    op.drop_table("alerts")

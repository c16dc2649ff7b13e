"""The schema, as typed ORM rows. Alembic owns the database: change a table here, then add a
revision under migrations/versions (the test suite checks the two agree).

Rows are dataclasses with keyword-only constructors, so mypy checks every `OrderRow(...)`.
Money and prices are `Decimal` (`DecimalType`), timestamps aware UTC (`UTCDateTime`), status and
side columns hold the `StrEnum` values from `trader.domain`. Timestamps have no database default:
callers take them from the injected `Clock`.

There are deliberately no foreign keys between orders, fills and markets: a fill or an order the
venue reports must be recorded even when we never saw its market or its order (placed by hand on
the website, or before a restart), because losing a fill is worse than an orphan row.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Index,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, MappedAsDataclass, mapped_column

from trader.store.types import BIG_ID, JSON_TYPE, DecimalType, UTCDateTime

ZERO = Decimal(0)

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

APPROVAL_STATUSES = ("pending", "approved", "rejected", "expired", "superseded")


class Base(MappedAsDataclass, DeclarativeBase, kw_only=True):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        Decimal: DecimalType(),
        datetime: UTCDateTime(),
        str: String(),
    }


class MarketRow(Base):
    __tablename__ = "markets"

    condition_id: Mapped[str] = mapped_column(primary_key=True)
    question: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime]
    slug: Mapped[str] = mapped_column(default="")
    description: Mapped[str] = mapped_column(Text, default="")
    # [{"token_id": "...", "outcome": "Yes"}, ...]
    tokens: Mapped[list[dict[str, str]]] = mapped_column(JSON_TYPE, default_factory=list)
    end_date: Mapped[datetime | None] = mapped_column(default=None)
    active: Mapped[bool] = mapped_column(default=True)
    closed: Mapped[bool] = mapped_column(default=False)
    accepting_orders: Mapped[bool] = mapped_column(default=True)
    neg_risk: Mapped[bool] = mapped_column(default=False)
    tick_size: Mapped[Decimal] = mapped_column(default=Decimal("0.01"))
    min_order_size: Mapped[Decimal] = mapped_column(default=Decimal(5))
    volume: Mapped[Decimal] = mapped_column(default=ZERO)
    liquidity: Mapped[Decimal] = mapped_column(default=ZERO)


class OrderRow(Base):
    __tablename__ = "orders"
    __table_args__ = (
        Index(None, "status"),
        Index(None, "market"),
        Index(None, "correlation_id"),
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, init=False)
    client_order_id: Mapped[str] = mapped_column(unique=True)
    market: Mapped[str]
    token_id: Mapped[str]
    side: Mapped[str] = mapped_column(String(4))  # Side
    price: Mapped[Decimal]
    size: Mapped[Decimal]
    status: Mapped[str] = mapped_column(String(32))  # OrderStatus
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # The signed order's hash on Polymarket: known before submit, so persisted before it.
    venue_order_id: Mapped[str | None] = mapped_column(unique=True, default=None)
    size_matched: Mapped[Decimal] = mapped_column(default=ZERO)
    order_type: Mapped[str] = mapped_column(String(8), default="GTC")  # OrderType
    post_only: Mapped[bool] = mapped_column(default=False)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    strategy: Mapped[str] = mapped_column(default="manual")
    correlation_id: Mapped[str | None] = mapped_column(default=None)
    signed_payload: Mapped[str | None] = mapped_column(Text, default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)


class FillRow(Base):
    __tablename__ = "fills"
    __table_args__ = (
        UniqueConstraint("trade_id", "order_id"),  # one trade can fill several of our orders
        Index(None, "order_id"),
        Index(None, "ts"),
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, init=False)
    trade_id: Mapped[str]
    order_id: Mapped[str]  # the venue order id
    token_id: Mapped[str]
    side: Mapped[str] = mapped_column(String(4))
    price: Mapped[Decimal]
    size: Mapped[Decimal]
    ts: Mapped[datetime]
    fee: Mapped[Decimal] = mapped_column(default=ZERO)
    market: Mapped[str] = mapped_column(default="")
    status: Mapped[str] = mapped_column(String(16), default="MATCHED")  # TradeStatus
    liquidity: Mapped[str] = mapped_column(String(8), default="TAKER")
    correlation_id: Mapped[str | None] = mapped_column(default=None)


class PositionRow(Base):
    __tablename__ = "positions"

    token_id: Mapped[str] = mapped_column(primary_key=True)
    size: Mapped[Decimal]
    average_price: Mapped[Decimal]
    updated_at: Mapped[datetime]
    market: Mapped[str] = mapped_column(default="")
    outcome: Mapped[str] = mapped_column(default="")
    realized_pnl: Mapped[Decimal] = mapped_column(default=ZERO)


class ForecastRow(Base):
    __tablename__ = "forecasts"
    __table_args__ = (Index(None, "market"), Index(None, "token_id"), Index(None, "created_at"))

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, init=False)
    market: Mapped[str]
    token_id: Mapped[str]
    model_probability: Mapped[Decimal]
    model: Mapped[str]  # the model name, or "heuristic"
    source: Mapped[str]  # "llm", "heuristic", "ensemble", ...
    created_at: Mapped[datetime]
    market_price: Mapped[Decimal | None] = mapped_column(default=None)
    confidence: Mapped[Decimal | None] = mapped_column(default=None)
    rationale: Mapped[str] = mapped_column(Text, default="")
    sources: Mapped[list[Any]] = mapped_column(JSON_TYPE, default_factory=list)
    correlation_id: Mapped[str | None] = mapped_column(default=None)
    # What the token paid at resolution: 1 (won), 0 (lost), 0.5 (split); None until resolved.
    resolved_outcome: Mapped[Decimal | None] = mapped_column(default=None)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
    decision: Mapped[str | None] = mapped_column(String(8), default=None)  # "trade" / "skip"
    reason: Mapped[str | None] = mapped_column(Text, default=None)  # why that decision
    # Squared errors against resolved_outcome, set on resolution: the model's and the market's.
    brier_model: Mapped[Decimal | None] = mapped_column(default=None)
    brier_market: Mapped[Decimal | None] = mapped_column(default=None)
    # What was predicted (None on rows older than revision f4b9c2e7a1d3): each sample's
    # probability, their aggregate (the model's own view; `model_probability` is its blend with
    # the market), the model's weight in that blend, and the retrieved sources as
    # {"title", "link", "published"} (ISO 8601 UTC, or null when undated).
    samples: Mapped[list[Any] | None] = mapped_column(JSON_TYPE, default=None)
    aggregate: Mapped[Decimal | None] = mapped_column(default=None)
    model_weight: Mapped[Decimal | None] = mapped_column(default=None)
    retrieved: Mapped[list[Any] | None] = mapped_column(JSON_TYPE, default=None)
    brier_blend: Mapped[Decimal | None] = mapped_column(default=None)  # of model_probability


class ApprovalRow(Base):
    __tablename__ = "approvals"
    __table_args__ = (
        CheckConstraint(
            "status IN ({})".format(", ".join(f"'{s}'" for s in APPROVAL_STATUSES)), name="status"
        ),
        Index(None, "status"),
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, init=False)
    request_key: Mapped[str] = mapped_column(unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    payload: Mapped[dict[str, Any]] = mapped_column(JSON_TYPE, default_factory=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    correlation_id: Mapped[str | None] = mapped_column(default=None)
    decided_by: Mapped[str | None] = mapped_column(default=None)
    decided_at: Mapped[datetime | None] = mapped_column(default=None)
    # Where the request was shown, to edit those messages later: [{"channel": ..., "id": ...}]
    message_refs: Mapped[list[Any]] = mapped_column(JSON_TYPE, default_factory=list)


class ControlStateRow(Base):
    """Kill switch, pause, approval mode, alert settings, limits: one JSON value per key."""

    __tablename__ = "control_state"

    key: Mapped[str] = mapped_column(primary_key=True)
    value: Mapped[Any] = mapped_column(JSON_TYPE)
    updated_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(default="system:trader")


class AlertRow(Base):
    """An alert; a critical one sent with an Acknowledge button has its `ack_id`, and stays
    unacknowledged (and repeating, across restarts) until `acknowledged_at` is set."""

    __tablename__ = "alerts"
    __table_args__ = (
        Index(None, "created_at"),
        Index(None, "dedupe_key"),
        Index(None, "ack_id", unique=True),
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, init=False)
    kind: Mapped[str]
    severity: Mapped[str] = mapped_column(String(16))  # Severity
    title: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    body: Mapped[str] = mapped_column(Text, default="")
    dedupe_key: Mapped[str | None] = mapped_column(default=None)
    correlation_id: Mapped[str | None] = mapped_column(default=None)
    acknowledged_at: Mapped[datetime | None] = mapped_column(default=None)
    # {"telegram": "2026-01-01T00:00:00+00:00", ...}: when each channel took it
    delivered: Mapped[dict[str, Any]] = mapped_column(JSON_TYPE, default_factory=dict)
    ack_id: Mapped[str | None] = mapped_column(default=None)


class ChatWindowRow(Base):
    """When each person last wrote to us on a channel: WhatsApp's 24-hour service window
    opens with it, so it must outlive a restart."""

    __tablename__ = "chat_windows"

    channel: Mapped[str] = mapped_column(primary_key=True)
    user_id: Mapped[str] = mapped_column(primary_key=True)
    last_inbound_at: Mapped[datetime]


class HeartbeatRow(Base):
    """One row per component, overwritten on every beat; the watchdog reads it."""

    __tablename__ = "heartbeats"

    component: Mapped[str] = mapped_column(primary_key=True)
    ts: Mapped[datetime]
    pid: Mapped[int]
    version: Mapped[str]
    trading_state: Mapped[str] = mapped_column(String(16))  # TradingState
    last_cycle_at: Mapped[datetime | None] = mapped_column(default=None)
    feed_age_s: Mapped[float | None] = mapped_column(default=None)  # a duration, not money
    open_orders: Mapped[int] = mapped_column(default=0)
    details: Mapped[dict[str, Any]] = mapped_column(JSON_TYPE, default_factory=dict)


class LlmUsageRow(Base):
    __tablename__ = "llm_usage"
    __table_args__ = (Index(None, "ts"),)

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, init=False)
    ts: Mapped[datetime]
    model: Mapped[str]
    purpose: Mapped[str]
    input_tokens: Mapped[int] = mapped_column(default=0)
    output_tokens: Mapped[int] = mapped_column(default=0)
    cache_read_tokens: Mapped[int] = mapped_column(default=0)
    cache_write_tokens: Mapped[int] = mapped_column(default=0)
    cost: Mapped[Decimal] = mapped_column(default=ZERO)  # USD
    correlation_id: Mapped[str | None] = mapped_column(default=None)
    ok: Mapped[bool] = mapped_column(default=True)
    market: Mapped[str | None] = mapped_column(default=None)  # the condition id analysed
    error: Mapped[str | None] = mapped_column(default=None)  # the failure kind when not ok


class AnalysisMemoryRow(Base):
    """Per market: what its last conclusive analysis saw (a fingerprint), and when."""

    __tablename__ = "analysis_memory"

    market: Mapped[str] = mapped_column(primary_key=True)  # condition id
    fingerprint: Mapped[str]
    analysed_at: Mapped[datetime]


class NewsItemRow(Base):
    """Deduplicated feed items, kept for the news window across restarts."""

    __tablename__ = "news_items"
    __table_args__ = (Index(None, "published"),)

    item_id: Mapped[str] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    link: Mapped[str] = mapped_column(Text)
    summary: Mapped[str] = mapped_column(Text)
    published: Mapped[datetime]
    source: Mapped[str]


class FeedValidatorRow(Base):
    """A feed's last ETag and Last-Modified, sent back on the next (conditional) request."""

    __tablename__ = "feed_validators"

    url: Mapped[str] = mapped_column(Text, primary_key=True)
    updated_at: Mapped[datetime]
    etag: Mapped[str | None] = mapped_column(Text, default=None)
    last_modified: Mapped[str | None] = mapped_column(default=None)


class EquitySnapshotRow(Base):
    __tablename__ = "equity_snapshots"
    __table_args__ = (Index(None, "ts"),)

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, init=False)
    ts: Mapped[datetime]
    equity: Mapped[Decimal]
    cash: Mapped[Decimal]
    exposure: Mapped[Decimal] = mapped_column(default=ZERO)
    unrealized: Mapped[Decimal] = mapped_column(default=ZERO)
    realized: Mapped[Decimal] = mapped_column(default=ZERO)
    drawdown: Mapped[Decimal] = mapped_column(default=ZERO)  # a fraction of peak equity


class CashFlowRow(Base):
    """A deposit (amount > 0) or withdrawal (< 0): money in or out that is not PnL."""

    __tablename__ = "cash_flows"
    __table_args__ = (Index(None, "ts"),)

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, init=False)
    ts: Mapped[datetime]
    amount: Mapped[Decimal]
    reason: Mapped[str] = mapped_column(Text)
    source: Mapped[str]
    correlation_id: Mapped[str | None] = mapped_column(default=None)


class ChainOperationRow(Base):
    """A redemption or merge (`trader.execution.redemption`), written before it is sent: its
    state moves requested -> sent (the venue accepted it: `tx_id`) -> confirmed or failed.
    A row still "requested" after a crash may or may not have been sent: it is settled from
    the holdings, never sent again."""

    __tablename__ = "chain_operations"
    __table_args__ = (Index(None, "state"), Index(None, "market"))

    id: Mapped[str] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))  # "redeem" or "merge"
    market: Mapped[str]
    state: Mapped[str] = mapped_column(String(16))  # requested, sent, confirmed, failed
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # token id -> shares given up, and the collateral each share brings (the payout; a merge
    # splits its 1 per pair between the two sides): strings, as JSON keeps Decimals
    amounts: Mapped[dict[str, str]] = mapped_column(JSON_TYPE, default_factory=dict)
    prices: Mapped[dict[str, str]] = mapped_column(JSON_TYPE, default_factory=dict)
    payout: Mapped[Decimal] = mapped_column(default=ZERO)  # collateral expected in all
    neg_risk: Mapped[bool] = mapped_column(default=False)
    tx_id: Mapped[str | None] = mapped_column(unique=True, default=None)
    tx_hash: Mapped[str | None] = mapped_column(default=None)
    requested_by: Mapped[str] = mapped_column(default="system:trader")
    correlation_id: Mapped[str | None] = mapped_column(default=None)
    message: Mapped[str] = mapped_column(Text, default="")


class EventLogRow(Base):
    """Append-only: database triggers refuse UPDATE and DELETE (and TRUNCATE on PostgreSQL)."""

    __tablename__ = "event_log"
    __table_args__ = (
        Index(None, "correlation_id"),
        Index("ix_event_log_run", "run_id", "run_seq", unique=True),
    )

    seq: Mapped[int] = mapped_column(BIG_ID, primary_key=True, init=False)
    ts: Mapped[datetime]
    type: Mapped[str]
    actor: Mapped[str]
    correlation_id: Mapped[str | None] = mapped_column(default=None)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON_TYPE, default_factory=dict)
    # the writing process's run, and the event's number within it, given when the event was
    # created (not when the row was inserted): a number missing from a run is a lost event
    run_id: Mapped[str | None] = mapped_column(default=None)
    run_seq: Mapped[int | None] = mapped_column(BigInteger, default=None)


ALL_TABLES = tuple(Base.metadata.sorted_tables)


def table_of(row_class: type[Base]) -> Table:
    """The Core table behind a row class, typed as a `Table` (for Core statements)."""
    table = row_class.__table__
    assert isinstance(table, Table)
    return table

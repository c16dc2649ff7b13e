"""Read-only async queries for the report, one small function per question.

Money columns are exact decimal text on SQLite, so every sum of money happens in Python.
Long histories (fills, equity snapshots, resolved forecasts) are streamed in partitions:
SQLAlchemy's async layer converts rows on the event loop's thread, and short partitions keep
the loop free for the chat while a year of history is read.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Float, Select, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from trader.domain import ZERO, Fill, Side, TradeStatus
from trader.execution.ledger import SETTLEMENT_LIQUIDITY
from trader.reports.metrics import Resolved, daily_totals
from trader.reports.model import AlertSummary, DayWindow, ExpectedPnl, LlmLine
from trader.store.tables import (
    AlertRow,
    ApprovalRow,
    CashFlowRow,
    ControlStateRow,
    EquitySnapshotRow,
    EventLogRow,
    FillRow,
    ForecastRow,
    HeartbeatRow,
    LlmUsageRow,
    MarketRow,
)
from trader.store.trading import fill_from_row

PARTITION = 500
MAX_ATTENTION_ROWS = 200
_SEVERITY_RANK = {"critical": 0, "warning": 1, "info": 2}


async def stream(
    session: AsyncSession, query: Select[*tuple[Any, ...]]
) -> AsyncIterator[Sequence[Any]]:
    """Rows of `query` in partitions (tuples of the selected columns)."""
    result = await session.stream(query.execution_options(yield_per=PARTITION))
    async for partition in result.partitions(PARTITION):
        yield partition


async def fills_before(session: AsyncSession, end: datetime) -> list[Fill]:
    """Every fill before `end`, oldest first (FAILED trades left out)."""
    query = select(FillRow).where(FillRow.ts < end).order_by(FillRow.ts, FillRow.id)
    fills: list[Fill] = []
    async for partition in stream(session, query):
        fills.extend(fill_from_row(row[0]) for row in partition)
    return [f for f in fills if f.status is not TradeStatus.FAILED]


def is_settlement(fill: Fill) -> bool:
    return fill.liquidity == SETTLEMENT_LIQUIDITY


async def expected_pnl(session: AsyncSession, buys: Sequence[Fill]) -> ExpectedPnl:
    """Each buy against the latest forecast of its token made at or before the fill."""
    if not buys:
        return ExpectedPnl()
    tokens = sorted({fill.token_id for fill in buys})
    latest = max(fill.timestamp for fill in buys)
    query = (
        select(ForecastRow.token_id, ForecastRow.created_at, ForecastRow.model_probability)
        .where(ForecastRow.token_id.in_(tokens) & (ForecastRow.created_at <= latest))
        .order_by(ForecastRow.created_at, ForecastRow.id)
    )
    by_token: dict[str, list[tuple[datetime, Decimal]]] = {}
    for token, at, probability in (await session.execute(query)).all():
        by_token.setdefault(token, []).append((at, probability))
    value, forecasted, unforecasted = ZERO, 0, 0
    for fill in buys:
        known = [p for at, p in by_token.get(fill.token_id, ()) if at <= fill.timestamp]
        if not known:
            unforecasted += 1
            continue
        value += (known[-1] - fill.price) * fill.size - fill.fee
        forecasted += 1
    return ExpectedPnl(value, forecasted, unforecasted)


async def questions(session: AsyncSession, markets: Sequence[str]) -> dict[str, str]:
    if not markets:
        return {}
    query = select(MarketRow.condition_id, MarketRow.question).where(
        MarketRow.condition_id.in_(sorted(set(markets)))
    )
    return {str(cid): str(question) for cid, question in (await session.execute(query)).all()}


async def forecast_marks(session: AsyncSession, tokens: Sequence[str]) -> dict[str, Decimal]:
    """The market price on each token's latest forecast that has one."""
    if not tokens:
        return {}
    query = (
        select(ForecastRow.token_id, ForecastRow.market_price)
        .where(
            ForecastRow.token_id.in_(sorted(set(tokens))) & ForecastRow.market_price.is_not(None)
        )
        .order_by(ForecastRow.created_at, ForecastRow.id)
    )
    marks: dict[str, Decimal] = {}
    for token, price in (await session.execute(query)).all():
        if price is not None:
            marks[token] = price
    return marks


async def snapshot_before(session: AsyncSession, at: datetime) -> EquitySnapshotRow | None:
    query = (
        select(EquitySnapshotRow)
        .where(EquitySnapshotRow.ts < at)
        .order_by(EquitySnapshotRow.ts.desc(), EquitySnapshotRow.id.desc())
        .limit(1)
    )
    row: EquitySnapshotRow | None = (await session.scalars(query)).first()
    return row


async def cash_flows(session: AsyncSession, start: datetime, end: datetime) -> list[Any]:
    """Deposits (> 0) and withdrawals (< 0) in [start, end) as (at, amount): not PnL."""
    query = (
        select(CashFlowRow.ts, CashFlowRow.amount)
        .where((CashFlowRow.ts >= start) & (CashFlowRow.ts < end))
        .order_by(CashFlowRow.ts, CashFlowRow.id)
    )
    return list((await session.execute(query)).all())


def equity_rows(start: datetime, end: datetime) -> Select[*tuple[Any, ...]]:
    return (
        select(EquitySnapshotRow.ts, EquitySnapshotRow.equity, EquitySnapshotRow.drawdown)
        .where((EquitySnapshotRow.ts >= start) & (EquitySnapshotRow.ts < end))
        .order_by(EquitySnapshotRow.ts, EquitySnapshotRow.id)
    )


async def resolved_forecasts(
    session: AsyncSession, start: datetime, end: datetime
) -> list[tuple[datetime, Resolved]]:
    """Forecasts resolved in [start, end): (resolved at, probabilities and payout)."""
    query = (
        select(
            ForecastRow.resolved_at,
            ForecastRow.model_probability,
            ForecastRow.market_price,
            ForecastRow.resolved_outcome,
            ForecastRow.aggregate,
        )
        .where(
            (ForecastRow.resolved_at >= start)
            & (ForecastRow.resolved_at < end)
            & ForecastRow.resolved_outcome.is_not(None)
        )
        .order_by(ForecastRow.resolved_at, ForecastRow.id)
    )
    rows: list[tuple[datetime, Resolved]] = []
    async for partition in stream(session, query):
        rows.extend(
            (at, _resolved(traded, market, outcome, aggregate))
            for at, traded, market, outcome, aggregate in partition
        )
    return rows


def _resolved(
    traded: Decimal, market: Decimal | None, outcome: Decimal, aggregate: Decimal | None
) -> Resolved:
    """The model is its aggregate where stored (then the traded view is the blend)."""
    if aggregate is None:
        return Resolved(traded, market, outcome)
    return Resolved(aggregate, market, outcome, blend=traded)


async def llm_lines(session: AsyncSession, window: DayWindow) -> tuple[LlmLine, ...]:
    """Calls, tokens and exact cost by model in the day, most expensive first."""
    query = select(
        LlmUsageRow.model,
        LlmUsageRow.ok,
        LlmUsageRow.input_tokens,
        LlmUsageRow.output_tokens,
        LlmUsageRow.cache_read_tokens + LlmUsageRow.cache_write_tokens,
        LlmUsageRow.cost,
    ).where((LlmUsageRow.ts >= window.start) & (LlmUsageRow.ts < window.end))
    totals: dict[str, list[Any]] = {}
    async for partition in stream(session, query):
        for model, ok, tokens_in, tokens_out, cache, cost in partition:
            line = totals.setdefault(model, [0, 0, 0, 0, 0, ZERO])
            line[0] += 1
            line[1] += 0 if ok else 1
            line[2] += tokens_in
            line[3] += tokens_out
            line[4] += cache
            line[5] += cost
    lines = [LlmLine(model, *values) for model, values in totals.items()]
    return tuple(sorted(lines, key=lambda line: (-line.cost, line.model)))


async def llm_cost_by_day(
    session: AsyncSession, start: datetime, end: datetime, zone: ZoneInfo
) -> dict[str, tuple[tuple[date, Decimal], ...]]:
    """LLM cost per model and operator day over [start, end). The database sums per UTC hour
    (one row an hour, not one a call); hours are then added up per local day. On SQLite the
    hourly sum is over the decimal text as floats: good to a fraction of a cent, which is what
    a chart needs (the text's figures are exact). In a zone with a half-hour offset, spend in
    the hour around midnight lands on one of the two days."""
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":  # timestamps are stored "YYYY-MM-DD HH:MM:SS[.ffffff]" in UTC
        hour: Any = func.substr(LlmUsageRow.ts, 1, 13)
    else:
        hour = func.date_trunc("hour", LlmUsageRow.ts)
    query = (
        select(hour, LlmUsageRow.model, func.sum(cast(LlmUsageRow.cost, Float)))
        .where((LlmUsageRow.ts >= start) & (LlmUsageRow.ts < end))
        .group_by(hour, LlmUsageRow.model)
    )
    rows: list[tuple[datetime, str, Decimal]] = []
    async for partition in stream(session, query):
        rows.extend(
            (_hour(bucket), model, Decimal(str(cost or 0))) for bucket, model, cost in partition
        )
    return daily_totals(rows, zone)


def _hour(bucket: Any) -> datetime:
    if isinstance(bucket, datetime):
        return bucket if bucket.tzinfo else bucket.replace(tzinfo=UTC)
    return datetime.fromisoformat(f"{bucket}:00").replace(tzinfo=UTC)


async def alert_summary(session: AsyncSession, window: DayWindow, limit: int = 3) -> AlertSummary:
    query = (
        select(AlertRow.severity, AlertRow.title)
        .where((AlertRow.created_at >= window.start) & (AlertRow.created_at < window.end))
        .order_by(AlertRow.created_at, AlertRow.id)
    )
    rows = (await session.execute(query)).all()
    counts = {"critical": 0, "warning": 0, "info": 0}
    for severity, _ in rows:
        counts[severity if severity in counts else "info"] += 1
    ranked = sorted(rows, key=lambda row: _SEVERITY_RANK.get(row[0], 2))
    titles: list[str] = []
    for _, title in ranked:
        if title not in titles:
            titles.append(title)
    return AlertSummary(
        len(rows), counts["critical"], counts["warning"], counts["info"], tuple(titles[:limit])
    )


async def event_count(session: AsyncSession, kind: str, start: datetime, end: datetime) -> int:
    query = select(func.count()).where(
        (EventLogRow.type == kind) & (EventLogRow.ts >= start) & (EventLogRow.ts < end)
    )
    return int(await session.scalar(query) or 0)


async def heartbeat_ages(session: AsyncSession, now: datetime) -> tuple[tuple[str, float], ...]:
    query = select(HeartbeatRow.component, HeartbeatRow.ts).order_by(HeartbeatRow.component)
    rows = (await session.execute(query)).all()
    return tuple((component, max(0.0, (now - ts).total_seconds())) for component, ts in rows)


async def control_values(session: AsyncSession, *keys: str) -> dict[str, Any]:
    query = select(ControlStateRow.key, ControlStateRow.value).where(ControlStateRow.key.in_(keys))
    return {str(key): value for key, value in (await session.execute(query)).all()}


async def pending_approvals(session: AsyncSession, now: datetime) -> list[ApprovalRow]:
    query = (
        select(ApprovalRow)
        .where((ApprovalRow.status == "pending") & (ApprovalRow.expires_at > now))
        .order_by(ApprovalRow.created_at, ApprovalRow.id)
        .limit(MAX_ATTENTION_ROWS)
    )
    return list((await session.scalars(query)).all())


async def reconciliation_events(
    session: AsyncSession, start: datetime, end: datetime
) -> list[EventLogRow]:
    """Event-log rows about reconciliation (type containing "reconcil") in [start, end)."""
    query = (
        select(EventLogRow)
        .where(
            EventLogRow.type.like("%reconcil%") & (EventLogRow.ts >= start) & (EventLogRow.ts < end)
        )
        .order_by(EventLogRow.seq)
        .limit(MAX_ATTENTION_ROWS)
    )
    return list((await session.scalars(query)).all())


def buy_fills(fills: Sequence[Fill]) -> list[Fill]:
    return [f for f in fills if f.side is Side.BUY and not is_settlement(f)]

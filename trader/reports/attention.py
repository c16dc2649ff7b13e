"""What needs the operator, read from the database: a halt or pause, pending approvals,
reconciliation differences (event-log types containing "reconcil") and stale heartbeats."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from trader.domain import TradingState
from trader.reports import queries
from trader.reports.metrics import duration, truncate
from trader.reports.model import Attention, DayWindow
from trader.state import TRADING_STATE_KEY
from trader.store.tables import ApprovalRow, EventLogRow

QUESTION_CHARS = 40
DETAIL_CHARS = 80


async def attention(
    session: AsyncSession,
    window: DayWindow,
    now: datetime,
    zone: ZoneInfo,
    heartbeats: tuple[tuple[str, float], ...],
    stale_s: float,
) -> Attention:
    raw = (await queries.control_values(session, TRADING_STATE_KEY)).get(TRADING_STATE_KEY)
    state, reason = _trading_state(raw)
    approvals = await queries.pending_approvals(session, now)
    markets = [_intent(row).get("market", "") for row in approvals]
    names = await queries.questions(session, [m for m in markets if m])
    # Differences from the day's start until now (the morning after included), not later.
    until = min(now, window.end + timedelta(days=1))
    events = await queries.reconciliation_events(session, window.start, until)
    return Attention(
        trading_state=state,
        state_reason=reason,
        pending_approvals=tuple(_approval_line(row, names, zone) for row in approvals),
        reconciliation=reconciliation_lines(events),
        stale_heartbeats=tuple(
            f"{component}: last heartbeat {duration(age)} ago"
            for component, age in heartbeats
            if age > stale_s
        ),
    )


def _trading_state(raw: Any) -> tuple[TradingState, str]:
    if not isinstance(raw, dict):
        return TradingState.RUNNING, ""
    try:
        state = TradingState(raw.get("state", TradingState.RUNNING))
    except ValueError:
        return TradingState.HALTED, f"unknown trading state {raw.get('state')!r} stored"
    return state, str(raw.get("reason", ""))


def _intent(row: ApprovalRow) -> dict[str, Any]:
    intent = row.payload.get("intent") if isinstance(row.payload, dict) else None
    return intent if isinstance(intent, dict) else {}


def _decimal(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value)) if value is not None else None
    except InvalidOperation:
        return None


def _approval_line(row: ApprovalRow, names: dict[str, str], zone: ZoneInfo) -> str:
    intent = _intent(row)
    side = str(intent.get("side", "?"))
    notional = _decimal(row.payload.get("notional"))
    price = _decimal(intent.get("limit_price"))
    what = names.get(str(intent.get("market", ""))) or str(intent.get("market", "")) or "?"
    amount = f"${notional:,.2f}" if notional is not None else "?"
    at = f" @ {price:.2f}" if price is not None else ""
    expires = row.expires_at.astimezone(zone).strftime("%a %H:%M")
    return f"{side} {amount}{at} {truncate(what, QUESTION_CHARS)} (expires {expires})"


def reconciliation_lines(events: list[EventLogRow]) -> tuple[str, ...]:
    """One line per difference. A run summary ("reconciled") counts only when no per-difference
    rows were logged, so one difference is not counted twice."""
    details = [e for e in events if e.type != "reconciled"]
    if details:
        return tuple(truncate(_describe(e), DETAIL_CHARS) for e in details)
    lines: list[str] = []
    for event in events:
        payload = event.payload if isinstance(event.payload, dict) else {}
        corrections = payload.get("corrections") or {}
        mismatch = _decimal(payload.get("mismatch_value")) or Decimal(0)
        if not corrections and not mismatch:
            continue
        kinds = (
            ", ".join(f"{n} {k}" for k, n in corrections.items())
            if isinstance(corrections, dict)
            else str(corrections)
        )
        text = f"reconciliation ({payload.get('reason', '?')}): {kinds or 'differences'}"
        if mismatch:
            text += f", positions off by ${mismatch:,.2f}"
        lines.append(truncate(text, DETAIL_CHARS))
    return tuple(lines)


def _describe(event: EventLogRow) -> str:
    payload = event.payload if isinstance(event.payload, dict) else {}
    detail = payload.get("detail") or payload.get("summary") or payload.get("kind")
    if detail:
        return str(detail)
    shown = ", ".join(f"{k}={v}" for k, v in list(payload.items())[:3])
    return f"{event.type}: {shown}" if shown else event.type

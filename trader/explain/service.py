"""`WhyService`: finds the records of one decision and hands them to `reconstruct`.

A reference is resolved, in this order, as: nothing (the last intent the engine received), an
approval ref (`ap-...`), an order id (the venue's, the client's `po-...`, or a prefix of at
least 8 characters of either, as /orders shows them), a correlation id with events, the first
8+ characters of an order's correlation id (the "ref" an alert shows), a market's condition
id, or words of a market's question (one market must match). Reads only:
the event log (flushed first, so it sees every append), the orders, approvals, forecasts,
markets and positions tables. The Control API's `WhySource`.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from trader.control.why import DecisionChain, DenialFacts
from trader.execution.approvals import group_of
from trader.explain.chain import (
    ChainRecords,
    StoredApproval,
    StoredForecast,
    StoredOrder,
    reconstruct,
)
from trader.store.eventlog import Event
from trader.store.tables import ApprovalRow, ForecastRow, MarketRow, OrderRow, PositionRow

_CYCLE_TYPES = ("signal_cycle_started", "signal_cycle_completed", "signal_cycle_failed")
_SCAN = 500  # how far back a search by market looks through the analysis events
_MIN_PREFIX = 8


class EventSource(Protocol):
    """`trader.store.eventlog.EventLog` fits."""

    async def by_correlation(self, correlation_id: str) -> list[Event]: ...

    async def latest_of(self, types: Sequence[str], limit: int = ...) -> list[Event]: ...


class WhyService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], events: EventSource) -> None:
        self._sessions = sessions
        self._events = events

    async def explain(self, ref: str | None) -> DecisionChain:
        text = (ref or "").strip()
        correlation_id, market = await self._resolve(text)
        return reconstruct(await self._gather(text or "last", correlation_id, market))

    async def denials(self, limit: int) -> list[DenialFacts]:
        found = []
        for event in await self._events.latest_of(["intent_denied"], limit):
            market = str(event.payload.get("market", ""))
            side = str(event.payload.get("side", ""))
            if not market and event.correlation_id:  # recorded before the denial named it
                intent = next(
                    (
                        e
                        for e in await self._events.by_correlation(event.correlation_id)
                        if e.type == "intent_received"
                    ),
                    None,
                )
                market = str(intent.payload.get("market", "")) if intent else ""
                side = str(intent.payload.get("side", "")) if intent else ""
            found.append(
                DenialFacts(
                    at=event.ts,
                    correlation_id=event.correlation_id or "",
                    rule=str(event.payload.get("rule", "")),
                    message=str(event.payload.get("message", "")),
                    market=market,
                    question=await self._question(market),
                    side=side,
                )
            )
        return found

    # -- finding the chain ------------------------------------------------------------------

    async def _resolve(self, ref: str) -> tuple[str, str]:
        """(correlation id, market hint) for a reference; LookupError when nothing fits."""
        if not ref:
            last = await self._events.latest_of(["intent_received"], 1)
            if not last or not last[0].correlation_id:
                raise LookupError("no decision is recorded yet")
            return last[0].correlation_id, ""
        if ref.startswith("ap-"):
            approval = await self._first(select(ApprovalRow).where(ApprovalRow.request_key == ref))
            if approval is None or not approval.correlation_id:
                raise LookupError(f"no approval request {ref}")
            return approval.correlation_id, ""
        order = await self._order(ref)
        if order is not None and order.correlation_id:
            return order.correlation_id, ""
        if await self._events.by_correlation(ref):
            return ref, ""
        by_prefix = await self._order_correlation(ref)
        if by_prefix:
            return by_prefix, ""
        market = await self._market(ref)
        if market is None:
            raise LookupError(f"nothing recorded for {ref[:40]!r}: not an order, ref or market")
        return await self._latest_for_market(market), market

    async def _order(self, ref: str) -> OrderRow | None:
        exact: OrderRow | None = await self._first(
            select(OrderRow).where(
                or_(OrderRow.venue_order_id == ref, OrderRow.client_order_id == ref)
            )
        )
        if exact is not None or len(ref) < _MIN_PREFIX:
            return exact
        like = _like_prefix(ref)
        rows = await self._all(
            select(OrderRow)
            .where(
                or_(
                    OrderRow.venue_order_id.like(like, escape="\\"),
                    OrderRow.client_order_id.like(like, escape="\\"),
                )
            )
            .limit(2)
        )
        if len(rows) > 1:
            raise LookupError(f"{ref} is the start of several order ids: give more of it")
        return rows[0] if rows else None

    async def _order_correlation(self, ref: str) -> str | None:
        """The chain of an order whose correlation id starts with `ref` (an alert's "ref")."""
        if len(ref) < _MIN_PREFIX:
            return None
        like = _like_prefix(ref)
        query = (
            select(OrderRow.correlation_id)
            .where(OrderRow.correlation_id.like(like, escape="\\"))
            .distinct()
            .limit(2)
        )
        async with self._sessions() as session:
            found = [c for c in (await session.scalars(query)).all() if c]
        if len(found) > 1:
            raise LookupError(f"{ref} is the start of several refs: give more of it")
        return found[0] if found else None

    async def _market(self, ref: str) -> str | None:
        row = await self._first(select(MarketRow).where(MarketRow.condition_id == ref))
        if row is not None:
            return str(row.condition_id)
        words = ref.replace("%", "").replace("_", " ").strip()
        if len(words) < 3:
            return None
        rows = await self._all(
            select(MarketRow).where(MarketRow.question.ilike(f"%{words}%")).limit(2)
        )
        if len(rows) > 1:
            raise LookupError(f"several markets match {ref[:40]!r}: give more of the question")
        return str(rows[0].condition_id) if rows else None

    async def _latest_for_market(self, market: str) -> str:
        order = await self._first(
            select(OrderRow)
            .where((OrderRow.market == market) & OrderRow.correlation_id.is_not(None))
            .order_by(OrderRow.id.desc())
        )
        analysed = next(
            (
                e
                for e in await self._events.latest_of(["market_analysed"], _SCAN)
                if e.payload.get("market") == market and e.correlation_id
            ),
            None,
        )
        newer = analysed is not None and (order is None or analysed.ts > order.created_at)
        if analysed is not None and analysed.correlation_id and newer:
            return analysed.correlation_id
        if order is not None and order.correlation_id:
            return str(order.correlation_id)
        raise LookupError(f"no decision is recorded for market {market[:16]}")

    # -- gathering --------------------------------------------------------------------------

    async def _gather(self, ref: str, correlation_id: str, market: str) -> ChainRecords:
        events = list(await self._events.by_correlation(correlation_id))
        group = group_of(correlation_id)
        if group != correlation_id:
            events = sorted([*events, *await self._events.by_correlation(group)], key=_seq)
        named = ("market_analysed", "signal_group_published")
        cycle_id = next(
            (str(e.payload["cycle"]) for e in events if e.type in named and e.payload.get("cycle")),
            "",
        )
        cycle_events = []
        if cycle_id:
            found = await self._events.by_correlation(cycle_id)
            cycle_events = [e for e in found if e.type in _CYCLE_TYPES]
        rows = await self._all(
            select(OrderRow).where(OrderRow.correlation_id == correlation_id).order_by(OrderRow.id)
        )
        orders = [_stored_order(row) for row in rows]
        market = market or next((o.market for o in orders), "") or _market_of(events)
        token = next((o.token_id for o in orders), "") or _token_of(events)
        later_orders, later_events = await self._later(token, orders, correlation_id)
        return ChainRecords(
            ref=ref,
            correlation_id=correlation_id,
            events=events,
            cycle_events=cycle_events,
            orders=orders,
            approval=await self._approval(correlation_id),
            forecast=await self._forecast(group),
            market=market,
            question=await self._question(market),
            outcomes=await self._outcomes(market),
            later_orders=later_orders,
            later_events=later_events,
            settlements=await self._settlements(market) if market else [],
            position=await self._position(token) if token else None,
        )

    async def _later(
        self, token: str, orders: Sequence[StoredOrder], correlation_id: str
    ) -> tuple[list[StoredOrder], list[Event]]:
        if not token or not orders:
            return [], []
        since = min(o.created_at for o in orders)
        rows = await self._all(
            select(OrderRow)
            .where(
                (OrderRow.token_id == token)
                & (OrderRow.created_at >= since)
                & (OrderRow.side == "SELL")
            )
            .order_by(OrderRow.id)
        )
        later = [_stored_order(r) for r in rows if r.correlation_id != correlation_id]
        events: list[Event] = []
        for corr in dict.fromkeys(o.correlation_id for o in later if o.correlation_id):
            events += [e for e in await self._events.by_correlation(corr) if e.type == "fill"]
        return later, events

    async def _approval(self, correlation_id: str) -> StoredApproval | None:
        row = await self._first(
            select(ApprovalRow)
            .where(ApprovalRow.correlation_id == correlation_id)
            .order_by(ApprovalRow.id.desc())
        )
        if row is None:
            return None
        payload = row.payload or {}
        return StoredApproval(
            key=row.request_key,
            created_at=row.created_at,
            status=row.status,
            size=_dec(payload.get("size")),
            notional=_dec(payload.get("notional")),
            decided_by=row.decided_by or "",
            decided_at=row.decided_at,
        )

    async def _forecast(self, group: str) -> StoredForecast | None:
        row = await self._first(
            select(ForecastRow)
            .where(ForecastRow.correlation_id == group)
            .order_by(ForecastRow.id.desc())
        )
        if row is None:
            return None
        return StoredForecast(
            row.created_at,
            row.model_probability,
            row.market_price,
            row.source,
            row.decision or "",
            row.reason or "",
        )

    async def _question(self, market: str) -> str:
        if not market:
            return ""
        row = await self._first(select(MarketRow).where(MarketRow.condition_id == market))
        return str(row.question) if row is not None else ""

    async def _outcomes(self, market: str) -> dict[str, str]:
        if not market:
            return {}
        row = await self._first(select(MarketRow).where(MarketRow.condition_id == market))
        tokens = row.tokens if row is not None else []
        return {str(t.get("token_id")): str(t.get("outcome", "")) for t in tokens}

    async def _settlements(self, market: str) -> list[Event]:
        found = await self._events.latest_of(["market_settled"], _SCAN)
        return [e for e in reversed(found) if e.payload.get("market") == market]

    async def _position(self, token: str) -> tuple[Decimal, Decimal] | None:
        row = await self._first(select(PositionRow).where(PositionRow.token_id == token))
        return None if row is None else (row.size, row.realized_pnl)

    async def _first(self, query: Any) -> Any:
        async with self._sessions() as session:
            return (await session.scalars(query.limit(1))).first()

    async def _all(self, query: Any) -> list[Any]:
        async with self._sessions() as session:
            return list((await session.scalars(query)).all())


def _like_prefix(text: str) -> str:
    """A LIKE pattern for strings starting with `text` (its % and _ taken literally)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def _seq(event: Event) -> int:
    return event.seq


def _market_of(events: Sequence[Event]) -> str:
    for event in events:
        if event.type in ("intent_received", "market_analysed") and event.payload.get("market"):
            return str(event.payload["market"])
    return ""


def _token_of(events: Sequence[Event]) -> str:
    return next(
        (str(e.payload["token_id"]) for e in events if e.payload.get("token_id")),
        "",
    )


def _stored_order(row: OrderRow) -> StoredOrder:
    return StoredOrder(
        order_id=row.venue_order_id or "",
        client_order_id=row.client_order_id,
        market=row.market,
        token_id=row.token_id,
        side=row.side,
        price=row.price,
        size=row.size,
        status=row.status,
        created_at=row.created_at,
        order_type=row.order_type,
        size_matched=row.size_matched,
        strategy=row.strategy,
        error=row.error or "",
        correlation_id=row.correlation_id or "",
    )


def _dec(value: object) -> Decimal | None:
    return None if value is None else Decimal(str(value))

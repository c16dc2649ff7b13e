"""The approval queue: with approval mode on, an intent that passes risk waits for the operator.

A request is persisted in the `approvals` table (surviving restarts), published on the bus for
the chat, and expires after the approval timeout. Approving moves the row from pending to
approved in one conditional UPDATE, so a double approve (two taps, two operators) acts once;
the intent is then re-checked against the current book and every risk limit by the engine
before anything is sent. Approving at a different size replaces the intent's size.

One approval per market: a new request for a market that already has one pending supersedes it.
The old row moves to "superseded" (so approving it does nothing) and its view, so marked, goes
on the bus before the new one, for the chat to edit the old card.
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Any

from trader.bus import Bus
from trader.clock import Clock
from trader.control.types import ApprovalDecision, ApprovalRequest, ExecutionResult
from trader.domain import Actor, MakerEntry, OrderIntent, OrderType, Side
from trader.execution.engine import ExecutionEngine
from trader.execution.ports import EventSink
from trader.execution.risk import RiskApproval
from trader.store.repositories import ApprovalRepository
from trader.store.tables import ApprovalRow


def intent_to_json(intent: OrderIntent) -> dict[str, Any]:
    return {
        "market": intent.market,
        "token_id": intent.token_id,
        "side": intent.side.value,
        "limit_price": str(intent.limit_price),
        "size": None if intent.size is None else str(intent.size),
        "notional": None if intent.notional is None else str(intent.notional),
        "strategy": intent.strategy,
        "reason": intent.reason,
        "correlation_id": intent.correlation_id,
        "expires_at": intent.expires_at.isoformat() if intent.expires_at else None,
        "order_type": intent.order_type.value,
        "post_only": intent.post_only,
        "model_probability": _text(intent.model_probability),
        "market_probability": _text(intent.market_probability),
        "maker": (
            None
            if intent.maker is None
            else {"improve_ticks": intent.maker.improve_ticks, "urgent": intent.maker.urgent}
        ),
    }


def intent_from_json(raw: dict[str, Any]) -> OrderIntent:
    return OrderIntent(
        market=raw["market"],
        token_id=raw["token_id"],
        side=Side(raw["side"]),
        limit_price=Decimal(raw["limit_price"]),
        size=_decimal(raw.get("size")),
        notional=_decimal(raw.get("notional")),
        strategy=raw.get("strategy", "manual"),
        reason=raw.get("reason", ""),
        correlation_id=raw["correlation_id"],
        expires_at=datetime.fromisoformat(raw["expires_at"]) if raw.get("expires_at") else None,
        order_type=OrderType(raw.get("order_type", "GTC")),
        post_only=bool(raw.get("post_only", False)),
        model_probability=_decimal(raw.get("model_probability")),
        market_probability=_decimal(raw.get("market_probability")),
        maker=_maker(raw.get("maker")),
    )


def _maker(raw: Any) -> MakerEntry | None:
    if not isinstance(raw, dict):
        return None
    return MakerEntry(int(raw.get("improve_ticks", 0)), bool(raw.get("urgent", False)))


def intent_sources(intent: OrderIntent) -> tuple[str, ...]:
    """The sources the analysis behind `intent` cited (news links), for the approval card."""
    return tuple(str(source) for source in intent.sources)


def group_of(correlation_id: str) -> str:
    """The intent group a correlation id belongs to: the signal runtime gives a group's legs
    `{group}-{n}` and a single intent the group id itself (hex, without a dash)."""
    head, _, number = correlation_id.rpartition("-")
    return head if head and number.isdigit() else correlation_id


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _decimal(value: object) -> Decimal | None:
    return None if value is None else Decimal(str(value))


class ApprovalQueue:
    def __init__(
        self,
        *,
        repository: ApprovalRepository,
        engine: ExecutionEngine,
        bus: Bus,
        events: EventSink,
        clock: Clock,
        timeout_s: float,
    ) -> None:
        self._repo = repository
        self._engine = engine
        self._bus = bus
        self._events = events
        self._clock = clock
        self._timeout = timedelta(seconds=timeout_s)

    async def request(self, intent: OrderIntent, decision: RiskApproval) -> str:
        """The engine's approval gate: persist, publish, return the request key."""
        now = self._clock.now()
        key = f"ap-{uuid.uuid4().hex[:12]}"
        market = self._engine.board.market(intent.market)
        end_date = market.end_date if market else None
        payload = {
            "intent": intent_to_json(intent),
            "size": str(decision.size),
            "notional": str(decision.notional),
            # Kept with the request: the card still shows them after a restart, before the
            # board has loaded the market again.
            "question": market.question if market else "",
            "end_date": end_date.isoformat() if end_date else None,
            "sources": list(intent_sources(intent)),
        }
        row = ApprovalRow(
            request_key=key,
            created_at=now,
            expires_at=now + self._timeout,
            payload=payload,
            correlation_id=intent.correlation_id,
        )
        superseded = await self._supersede(intent, key, now)
        await self._repo.insert(row)
        view = self._view(row)
        self._events.append(
            "approval_requested",
            {"key": key, "size": decision.size, "notional": decision.notional},
            correlation_id=intent.correlation_id,
        )
        for old in superseded:
            self._bus.approvals.publish(old, old.correlation_id)
        self._bus.approvals.publish(view, intent.correlation_id)
        return key

    async def _supersede(
        self, intent: OrderIntent, by: str, now: datetime
    ) -> list[ApprovalRequest]:
        """Mark the pending requests for `intent`'s market superseded by `by` (but not the
        other legs of its own group); their views, so marked."""
        done: list[ApprovalRequest] = []
        group = group_of(intent.correlation_id)
        for row in await self._repo.pending():
            if row.payload["intent"]["market"] != intent.market:
                continue
            if group_of(row.correlation_id or "") == group:
                continue  # legs of one all-or-none group are decided together
            if await self._repo.decide(row.request_key, "superseded", decided_by=by, at=now):
                self._events.append(
                    "approval_superseded",
                    {"key": row.request_key, "by": by},
                    correlation_id=row.correlation_id,
                )
                done.append(dataclasses.replace(self._view(row), status="superseded"))
        return done

    async def pending(self) -> list[ApprovalRequest]:
        now = self._clock.now()
        return [self._view(r) for r in await self._repo.pending() if r.expires_at > now]

    async def approve(self, actor: Actor, key: str, size: Decimal | None) -> ApprovalDecision:
        row = await self._repo.get(key)
        if row is None:
            return ApprovalDecision(key, "unknown", False, f"no approval request {key}")
        if size is not None and size <= 0:
            return ApprovalDecision(key, row.status, False, "the size must be above 0")
        now = self._clock.now()
        if row.status == "pending" and row.expires_at <= now:
            await self._repo.decide(key, "expired", decided_by="system:expiry", at=now)
            return ApprovalDecision(key, "expired", False, "the request has expired")
        if not await self._repo.decide(key, "approved", decided_by=str(actor), at=now):
            current = await self._repo.get(key)
            status = current.status if current else "unknown"
            return ApprovalDecision(key, status, False, f"already {status}: nothing done")
        intent = intent_from_json(row.payload["intent"])
        if size is not None:
            intent = _resized(intent, size, row.payload)
        self._events.append(
            "approval_approved",
            {"key": key, "size": size},
            correlation_id=intent.correlation_id,
            actor=actor,
        )
        result: ExecutionResult = await self._engine.handle(intent, approved_by=str(actor))
        return ApprovalDecision(key, "approved", True, result.message or result.outcome, result)

    async def reject(self, actor: Actor, key: str) -> ApprovalDecision:
        if not await self._repo.decide(key, "rejected", decided_by=str(actor)):
            current = await self._repo.get(key)
            status = current.status if current else "unknown"
            return ApprovalDecision(key, status, False, f"already {status}: nothing done")
        row = await self._repo.get(key)
        self._events.append(
            "approval_rejected",
            {"key": key},
            correlation_id=row.correlation_id if row else None,
            actor=actor,
        )
        return ApprovalDecision(key, "rejected", True, "rejected")

    async def expire_due(self) -> list[str]:
        keys = await self._repo.expire_due(at=self._clock.now())
        for key in keys:
            self._events.append("approval_expired", {"key": key}, correlation_id=None)
        return keys

    def _view(self, row: ApprovalRow) -> ApprovalRequest:
        payload = row.payload
        intent = intent_from_json(payload["intent"])
        board = self._engine.board
        market = board.market(intent.market)
        end_date = market.end_date if market else None
        if end_date is None and payload.get("end_date"):
            end_date = datetime.fromisoformat(payload["end_date"])
        return ApprovalRequest(
            key=row.request_key,
            market=intent.market,
            question=market.question if market else str(payload.get("question", "")),
            token_id=intent.token_id,
            outcome=board.outcome_of(intent.token_id),
            side=intent.side,
            limit_price=intent.limit_price,
            size=Decimal(payload["size"]),
            notional=Decimal(payload["notional"]),
            strategy=intent.strategy,
            reason=intent.reason,
            model_probability=intent.model_probability,
            created_at=row.created_at,
            expires_at=row.expires_at,
            correlation_id=intent.correlation_id,
            status=row.status,
            sources=tuple(str(source) for source in payload.get("sources") or ()),
            end_date=end_date,
            market_probability=intent.market_probability,
        )


def _resized(intent: OrderIntent, size: Decimal, payload: dict[str, Any]) -> OrderIntent:
    """The intent at `size` shares. A marketable buy of an amount keeps being one: its amount
    is scaled by the share of the approved size (so "approve half" spends half)."""
    planned = _decimal(payload.get("size"))
    if intent.notional is not None and intent.size is None and planned and planned > 0:
        amount = (intent.notional * min(size / planned, Decimal(1))).quantize(
            Decimal("0.01"), rounding=ROUND_DOWN
        )
        return dataclasses.replace(intent, notional=amount)
    return dataclasses.replace(intent, size=size, notional=None)

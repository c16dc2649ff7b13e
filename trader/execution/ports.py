"""The small interfaces the execution core is handed, and event payload helpers.

Kept apart so the engine, the kill switch, the halt and the desk share them without importing
each other. The typed results (`ExecutionResult`, ...) and the event log's `EventSink` live in
`trader.control.types`, where the chat can see them.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from trader.control.types import EventSink, ExecutionResult, Outcome
from trader.domain import Order, OrderIntent, OrderStatus

if TYPE_CHECKING:
    from trader.execution.store import OrderRecord


@runtime_checkable
class AcceptsTransfers(Protocol):
    """A venue whose balance the operator moves from here (the paper venue): a deposit
    (amount > 0) or a withdrawal (< 0). At the live venue money moves on-chain, and the
    reconciler finds it in the balance."""

    async def transfer(self, amount: Decimal) -> None: ...


@runtime_checkable
class ResolvesUnknown(Protocol):
    """A venue that can look up an order whose submit had an unknown outcome (by its hash)."""

    async def resolve_unknown(self, order_id: str) -> Order | None: ...


def intent_payload(intent: OrderIntent, approved_by: str | None) -> dict[str, object]:
    return {
        "market": intent.market,
        "token_id": intent.token_id,
        "side": intent.side.value,
        "limit_price": intent.limit_price,
        "size": intent.size,
        "notional": intent.notional,
        "strategy": intent.strategy,
        "reason": intent.reason[:500],
        "expires_at": intent.expires_at,
        "approved_by": approved_by,
        "order_type": intent.order_type.value,
        "model_probability": intent.model_probability,
        "market_probability": intent.market_probability,
        "maker": None
        if intent.maker is None
        else {"improve_ticks": intent.maker.improve_ticks, "urgent": intent.maker.urgent},
    }


def record_payload(record: OrderRecord) -> dict[str, object]:
    return {
        "client_order_id": record.client_order_id,
        "order_id": record.order_id,
        "token_id": record.token_id,
        "side": record.side.value,
        "price": record.price,
        "size": record.size,
        "order_type": record.order_type.value,
        "post_only": record.post_only,
    }


def order_view(record: OrderRecord, status: OrderStatus, filled: Decimal) -> Order:
    return replace(
        Order(
            record.order_id,
            record.token_id,
            record.side,
            record.price,
            record.size,
            filled,
            status,
            record.created_at,
            market=record.market,
            order_type=record.order_type,
        ),
        client_order_id=record.client_order_id,
    )


__all__ = ["EventSink", "ExecutionResult", "Outcome", "ResolvesUnknown"]

"""The small ports the Control API is handed: the execution core's `TradingDesk`, the chat's
memory (`ChatMemory`), live subscriptions (`EventStream`), and the providers that fill the
status (the event log, component health, the scheduler's cycle, the heartbeat, strategy
records, the LLM spend).

Protocols only, over the values of `results`, `status` and `trader.domain`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol, TypeVar

from trader.control.types.results import (
    ApprovalDecision,
    ApprovalRequest,
    CashFlowRecorded,
    ChainOperationView,
    ChainOverview,
    OrderView,
    PnlPeriod,
    PnlReport,
    PortfolioView,
    PositionView,
)
from trader.control.types.status import KillPreview, KillReport, StateChange, TradingStatus
from trader.domain import Actor, Alert
from trader.stages import StrategyRecord

T_co = TypeVar("T_co", covariant=True)


class EventStream(Protocol[T_co]):
    """A live subscription (alerts, approval requests): iterate it; close it when done."""

    def __aiter__(self) -> AsyncIterator[T_co]: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class PendingCritical:
    """A critical alert sent with an Acknowledge button and not yet acknowledged."""

    ack_id: str
    alert: Alert
    sent_at: datetime


class ChatMemory(Protocol):
    """What the chat keeps across a restart (implemented over the database by trader.store;
    the composition root hands it to the notifier and the transports): critical alerts
    awaiting acknowledgement, and when each person last wrote on a channel."""

    async def remember_critical(self, ack_id: str, alert: Alert, sent_at: datetime) -> None: ...

    async def acknowledge_critical(self, ack_id: str, at: datetime) -> None: ...

    async def unacknowledged_criticals(self) -> list[PendingCritical]: ...

    async def record_inbound(self, channel: str, user_id: str, at: datetime) -> None: ...

    async def forget_inbound(self, channel: str, user_id: str) -> None: ...

    async def last_inbound(self, channel: str) -> dict[str, datetime]: ...


class TradingDesk(Protocol):
    """What the execution core offers the Control API (implemented by trader.execution)."""

    def portfolio_view(self) -> PortfolioView: ...

    async def positions(self) -> list[PositionView]: ...

    async def open_orders(self) -> list[OrderView]: ...

    async def pnl(self, period: PnlPeriod) -> PnlReport: ...

    async def record_cash_flow(
        self, actor: Actor, amount: Decimal, reason: str
    ) -> CashFlowRecorded: ...

    async def preview_kill(self, slippage: Decimal | None) -> KillPreview: ...

    async def kill(
        self, actor: Actor, *, flatten: bool, reason: str, slippage: Decimal | None
    ) -> KillReport: ...

    def trading_status(self) -> TradingStatus: ...

    async def pause(self, actor: Actor, reason: str) -> StateChange: ...

    async def resume(self, actor: Actor) -> StateChange: ...

    async def rearm(self, actor: Actor) -> StateChange: ...

    async def cancel_order(self, actor: Actor, order_id: str) -> bool: ...

    async def pending_approvals(self) -> list[ApprovalRequest]: ...

    async def approve(self, actor: Actor, key: str, size: Decimal | None) -> ApprovalDecision: ...

    async def reject(self, actor: Actor, key: str) -> ApprovalDecision: ...

    def feed_age(self) -> float | None: ...

    async def chain_overview(self) -> ChainOverview: ...

    async def redeem(self, actor: Actor, market: str) -> ChainOperationView: ...

    async def merge(
        self, actor: Actor, market: str, pairs: Decimal | None
    ) -> ChainOperationView: ...

    def subscribe_alerts(self) -> EventStream[Alert]: ...

    def subscribe_approvals(self) -> EventStream[ApprovalRequest]: ...


class EventReader(Protocol):
    async def recent(self, limit: int = ...) -> list[Any]: ...


class ComponentHealth(Protocol):
    def component_states(self) -> dict[str, str]: ...


class CycleHook(Protocol):
    """The scheduler's side: when the signal cycle ran, when it runs next, run it now."""

    def last_cycle_at(self) -> datetime | None: ...

    def next_cycle_at(self) -> datetime | None: ...

    async def run_now(self) -> str: ...


class HeartbeatSource(Protocol):
    def heartbeat_age(self) -> float | None: ...


class StrategyRecordSource(Protocol):
    async def strategy_records(self) -> Mapping[str, StrategyRecord]: ...


class SpendSource(Protocol):
    async def llm_spend_today(self) -> tuple[Decimal, Decimal]:
        """(spent today, daily budget) in USD."""
        ...

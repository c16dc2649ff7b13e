"""The Control API as a protocol: what the chat (and the web page) may ask of a trader.

`trader.control.api.ControlAPI` implements it in the trader's process; `trader.control.remote.
RemoteControl` implements it over authenticated HTTP for the hub. The chat is typed against
this protocol only, so it cannot tell which one it was handed.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Protocol

from trader.control.types import (
    ApprovalDecision,
    ApprovalRequest,
    CashFlowRecorded,
    EventLine,
    EventStream,
    KillPreview,
    KillReport,
    OrderView,
    PnlPeriod,
    PnlReport,
    PositionView,
    ReportView,
    SettingChange,
    SignalsView,
    Stage,
    StateChange,
    StatusSnapshot,
    StrategyView,
)
from trader.control.why import DecisionChain, DenialFacts
from trader.domain import Actor, Alert
from trader.state import AlertSettings, RiskLimits


class ControlPort(Protocol):
    @property
    def name(self) -> str:
        """The instance's name (TRADER_NAME)."""
        ...

    async def status(self, actor: Actor) -> StatusSnapshot: ...

    async def positions(self, actor: Actor) -> list[PositionView]: ...

    async def open_orders(self, actor: Actor) -> list[OrderView]: ...

    async def pnl(self, actor: Actor, period: PnlPeriod | str = ...) -> PnlReport: ...

    async def recent_events(self, actor: Actor, n: int = ...) -> list[EventLine]: ...

    async def pause(self, actor: Actor, reason: str = ...) -> StateChange: ...

    async def resume(self, actor: Actor) -> StateChange: ...

    async def preview_kill(self, actor: Actor, slippage: Decimal | None = ...) -> KillPreview: ...

    async def kill(
        self,
        actor: Actor,
        *,
        flatten: bool = ...,
        reason: str = ...,
        slippage: Decimal | None = ...,
    ) -> KillReport: ...

    async def rearm(self, actor: Actor) -> StateChange: ...

    async def cancel_order(self, actor: Actor, order_id: str) -> bool: ...

    async def set_approval_mode(self, actor: Actor, on: bool) -> SettingChange: ...

    async def set_allow_heuristic_live(self, actor: Actor, on: bool) -> SettingChange: ...

    async def pending_approvals(self, actor: Actor) -> list[ApprovalRequest]: ...

    async def approve(
        self, actor: Actor, key: str, size: Decimal | str | None = ...
    ) -> ApprovalDecision: ...

    async def reject(self, actor: Actor, key: str) -> ApprovalDecision: ...

    async def run_cycle(self, actor: Actor) -> str: ...

    async def limits(self, actor: Actor) -> RiskLimits: ...

    async def set_limit(self, actor: Actor, name: str, value: object) -> SettingChange: ...

    async def alert_settings(self, actor: Actor) -> AlertSettings: ...

    async def set_alert_setting(self, actor: Actor, name: str, value: object) -> SettingChange: ...

    async def report(self, actor: Actor, day: date | None = ...) -> ReportView: ...

    async def chart(self, actor: Actor, kind: str, window_days: int = ...) -> Path: ...

    async def signals(self, actor: Actor) -> SignalsView: ...

    async def deposit(
        self, actor: Actor, amount: object, reason: str = ...
    ) -> CashFlowRecorded: ...

    async def withdraw(
        self, actor: Actor, amount: object, reason: str = ...
    ) -> CashFlowRecorded: ...

    async def strategies(self, actor: Actor) -> list[StrategyView]: ...

    async def stage_step(self, actor: Actor, name: str, *, up: bool) -> SettingChange: ...

    async def set_stage(
        self, actor: Actor, name: str, target: Stage | str, *, expected: Stage | str
    ) -> SettingChange: ...

    async def why(self, actor: Actor, ref: str | None = ...) -> DecisionChain: ...

    async def why_denied(self, actor: Actor, limit: int = ...) -> list[DenialFacts]: ...

    def subscribe_alerts(self, actor: Actor) -> EventStream[Alert]: ...

    def subscribe_approvals(self, actor: Actor) -> EventStream[ApprovalRequest]: ...

    def subscribe_events(self, actor: Actor) -> EventStream[EventLine]: ...

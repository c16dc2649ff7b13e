"""The kill switch's preview and report, the trading state and its changes, the status
snapshot (/status), the strategies as the chat sees them, setting changes and event lines.

Plain frozen values; a `StatusSnapshot` carries the `PortfolioView` of `results`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from trader.control.types.results import PortfolioView
from trader.domain import TradingMode, TradingState
from trader.stages import Stage, StrategyRecord


@dataclass(frozen=True, slots=True)
class ExitPreview:
    token_id: str
    market: str
    question: str
    outcome: str
    size: Decimal
    best_bid: Decimal | None
    floor_price: Decimal | None  # will not sell below this (the slippage cap)
    sellable: Decimal  # shares the book takes at or above the floor now
    estimated_proceeds: Decimal
    note: str = ""


@dataclass(frozen=True, slots=True)
class KillPreview:
    open_orders: int
    slippage_cap: Decimal
    exits: tuple[ExitPreview, ...]
    estimated_proceeds: Decimal


@dataclass(frozen=True, slots=True)
class ExitResult:
    token_id: str
    size: Decimal
    sold: Decimal
    proceeds: Decimal
    average_price: Decimal | None
    floor_price: Decimal | None
    remaining: Decimal
    message: str = ""


@dataclass(frozen=True, slots=True)
class KillReport:
    state: TradingState
    canceled: int
    open_orders_left: int  # at the venue, after cancelling: 0 unless something is wrong
    flattened: bool
    exits: tuple[ExitResult, ...]
    message: str


@dataclass(frozen=True, slots=True)
class SettingChange:
    name: str
    before: str
    after: str


@dataclass(frozen=True, slots=True)
class StrategyView:
    name: str
    stage: Stage
    trades_now: bool  # does its stage let it trade in the running mode
    record: StrategyRecord


@dataclass(frozen=True, slots=True)
class StatusSnapshot:
    version: str
    pid: int
    mode: TradingMode
    trading_state: TradingState
    state_reason: str
    state_changed_by: str
    state_changed_at: datetime | None
    approval_mode: bool
    started_at: datetime
    now: datetime
    components: dict[str, str] = field(default_factory=dict)
    portfolio: PortfolioView | None = None  # equity, cash, exposure, today's PnL, drawdown
    last_cycle_at: datetime | None = None
    next_cycle_at: datetime | None = None
    heartbeat_age_s: float | None = None
    feed_age_s: float | None = None
    llm_spend_today: Decimal | None = None
    llm_budget: Decimal | None = None
    pending_approvals: int = 0
    allow_heuristic_live: bool = False  # may a heuristic forecast trade in live mode
    # the strategies whose stage lets them trade in this mode (empty: nothing trades)
    trading_strategies: tuple[str, ...] = ()
    instance: str = "main"  # TRADER_NAME


@dataclass(frozen=True, slots=True)
class TradingStatus:
    state: TradingState
    reason: str
    changed_by: str
    changed_at: datetime | None

    def to_json(self) -> dict[str, Any]:
        at = self.changed_at.isoformat() if self.changed_at else None
        return {"state": self.state.value, "reason": self.reason, "by": self.changed_by, "at": at}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any] | None) -> TradingStatus:
        raw = raw or {}
        at = raw.get("at")
        return cls(
            state=TradingState(raw.get("state", TradingState.RUNNING)),
            reason=str(raw.get("reason", "")),
            changed_by=str(raw.get("by", "")),
            changed_at=datetime.fromisoformat(at) if at else None,
        )


@dataclass(frozen=True, slots=True)
class StateChange:
    before: TradingState
    after: TradingState
    reason: str
    changed: bool
    persisted: bool = True  # False: a kill or halt holds in memory, its write is retried


@dataclass(frozen=True, slots=True)
class EventLine:
    seq: int
    at: datetime
    type: str
    actor: str
    correlation_id: str
    summary: str

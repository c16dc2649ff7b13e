"""The typed results of the Control API, and the small ports it is handed.

The chat imports these through `trader.control.api` (which re-exports them). This package imports
nothing from the trader but `trader.domain` (and the event log's and the stages' plain types), so
`bot` -> `trader.control.api` never reaches the execution core, the store, the venue or the bus
(the import contracts check it). The execution core produces these values and implements
`TradingDesk`; the scheduler, health and LLM budget fill the status fields through the provider
protocols.

The package: `results` (an intent's execution, approvals, the portfolio, positions, orders, PnL,
cash flows, redemptions and merges; `ControlError`), `status` (the kill switch, the trading
state, the status snapshot, strategies, event lines), `ports` (`TradingDesk`, `ChatMemory`,
`EventStream` and the status providers), `reporting` (reports, charts, backtests, signals).
"""

from __future__ import annotations

from trader.control.types.ports import (
    ChatMemory,
    ComponentHealth,
    CycleHook,
    EventReader,
    EventStream,
    HeartbeatSource,
    PendingCritical,
    SpendSource,
    StrategyRecordSource,
    T_co,
    TradingDesk,
)
from trader.control.types.reporting import (
    CHART_KINDS,
    MAX_CHART_DAYS,
    BacktestRunner,
    BacktestStatus,
    BrierView,
    MarketSignal,
    ReportView,
    SignalsView,
)
from trader.control.types.results import (
    ApprovalDecision,
    ApprovalRequest,
    CashFlowRecorded,
    ChainOperationView,
    ChainOverview,
    ControlError,
    ExecutionResult,
    MergeableView,
    NotConfiguredError,
    OrderView,
    Outcome,
    PnlPeriod,
    PnlReport,
    PortfolioView,
    PositionView,
    RedeemableView,
)
from trader.control.types.status import (
    EventLine,
    ExitPreview,
    ExitResult,
    KillPreview,
    KillReport,
    SettingChange,
    StateChange,
    StatusSnapshot,
    StrategyView,
    TradingStatus,
)
from trader.events import EventSink  # the event log's port, with its typed events
from trader.stages import Stage, StrategyRecord  # re-exported for the chat

__all__ = [
    "CHART_KINDS",
    "MAX_CHART_DAYS",
    "ApprovalDecision",
    "ApprovalRequest",
    "BacktestRunner",
    "BacktestStatus",
    "BrierView",
    "CashFlowRecorded",
    "ChainOperationView",
    "ChainOverview",
    "ChatMemory",
    "ComponentHealth",
    "ControlError",
    "CycleHook",
    "EventLine",
    "EventReader",
    "EventSink",
    "EventStream",
    "ExecutionResult",
    "ExitPreview",
    "ExitResult",
    "HeartbeatSource",
    "KillPreview",
    "KillReport",
    "MarketSignal",
    "MergeableView",
    "NotConfiguredError",
    "OrderView",
    "Outcome",
    "PendingCritical",
    "PnlPeriod",
    "PnlReport",
    "PortfolioView",
    "PositionView",
    "RedeemableView",
    "ReportView",
    "SettingChange",
    "SignalsView",
    "SpendSource",
    "Stage",
    "StateChange",
    "StatusSnapshot",
    "StrategyRecord",
    "StrategyRecordSource",
    "StrategyView",
    "T_co",
    "TradingDesk",
    "TradingStatus",
]

"""The Control API: the only door the chat uses into the trader.

Every call takes the `Actor` who asked (user and channel), is audited in the event log, and
returns a typed result (see `trader.control.types`, re-exported here); formatting is the
chat's job. Collaborators are injected by the composition root: the persisted control state,
the event log, and the execution core's `TradingDesk` (positions, orders, PnL, the trading
state, kill, approvals: always there) plus small providers for the cycle, heartbeat and LLM
spend. The trading state moves only through the desk (its state machine); reports, charts
and the last signal cycle come from the injected `ReportSource` and `SignalSource` (see
`trader.control.reports`). The chat never
reaches past this package and `trader.domain`.

The package: `core` (`ControlAPI`: its constructor, status, the reads and the subscriptions,
`EventTail`), and its bases `trading` (`ControlTrading`: pause and resume, cash flows,
redemption and merge, kill, cancel, approvals), `settings` (`ControlSettings`: approval mode,
the cycle, limits, strategy stages, alert settings), `analysis` (`ControlAnalysis`: reports,
charts, signals, backtests, /why) and `base` (`ControlBase`: the audit they share). This
`__init__` re-exports every name the module `trader.control.api` offered.
"""

from __future__ import annotations

from trader.clock import Clock, SystemClock
from trader.control.api.analysis import MAX_BACKTEST_DAYS
from trader.control.api.core import ControlAPI, EventTail
from trader.control.port import ControlPort
from trader.control.reports import ReportSource, SignalSource
from trader.control.types import (
    CHART_KINDS,
    MAX_CHART_DAYS,
    ApprovalDecision,
    ApprovalRequest,
    BacktestRunner,
    BacktestStatus,
    BrierView,
    CashFlowRecorded,
    ChainOperationView,
    ChainOverview,
    ChatMemory,
    ControlError,
    EventLine,
    EventStream,
    ExecutionResult,
    KillPreview,
    KillReport,
    MarketSignal,
    NotConfiguredError,
    OrderView,
    Outcome,
    PendingCritical,
    PnlPeriod,
    PnlReport,
    PortfolioView,
    PositionView,
    ReportView,
    SettingChange,
    SignalsView,
    StateChange,
    StatusSnapshot,
    StrategyView,
)
from trader.control.why import DecisionChain, DenialFacts
from trader.domain import DrawdownMode
from trader.limits import parse_amount
from trader.stages import Stage, StrategyRecord
from trader.state import AlertSettings, RiskLimits

__all__ = [
    "CHART_KINDS",
    "MAX_BACKTEST_DAYS",
    "MAX_CHART_DAYS",
    "AlertSettings",
    "ApprovalDecision",
    "ApprovalRequest",
    "BacktestRunner",
    "BacktestStatus",
    "BrierView",
    "CashFlowRecorded",
    "ChainOperationView",
    "ChainOverview",
    "ChatMemory",
    "Clock",
    "ControlAPI",
    "ControlError",
    "ControlPort",
    "DecisionChain",
    "DenialFacts",
    "DrawdownMode",
    "EventLine",
    "EventStream",
    "EventTail",
    "ExecutionResult",
    "KillPreview",
    "KillReport",
    "MarketSignal",
    "NotConfiguredError",
    "OrderView",
    "Outcome",
    "PendingCritical",
    "PnlPeriod",
    "PnlReport",
    "PortfolioView",
    "PositionView",
    "ReportSource",
    "ReportView",
    "RiskLimits",
    "SettingChange",
    "SignalSource",
    "SignalsView",
    "Stage",
    "StateChange",
    "StatusSnapshot",
    "StrategyRecord",
    "StrategyView",
    "SystemClock",
    "parse_amount",
]

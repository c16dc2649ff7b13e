"""The typed results of the Control API, and the small ports it is handed.

The chat imports these through `trader.control.api` (which re-exports them). This module imports
nothing from the trader but `trader.domain`, so `bot` -> `trader.control.api` never reaches the
execution core, the store, the venue or the bus (the import contracts check it). The
execution core produces these values and implements `TradingDesk`; the scheduler, health
and LLM budget fill the status fields through the provider protocols.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol, TypeVar

from trader.domain import (
    ZERO,
    Actor,
    Alert,
    DrawdownMode,
    OrderStatus,
    Side,
    TradingMode,
    TradingState,
)
from trader.events import EventSink as EventSink  # the event log's port, with its typed events
from trader.stages import Stage as Stage  # re-exported for the chat
from trader.stages import StrategyRecord as StrategyRecord

T_co = TypeVar("T_co", covariant=True)


class ControlError(Exception):
    """A request the Control API refuses, with a message fit for the operator."""


class NotConfiguredError(ControlError):
    """This process was started without what the request needs (reports, signals)."""


class Outcome(StrEnum):
    PLACED = "placed"  # the venue took it (resting, filled or partly filled)
    DENIED = "denied"  # risk said no
    REFUSED = "refused"  # refused before sending (rounding, minimum size, tick)
    REJECTED = "rejected"  # the venue said no
    UNKNOWN = "unknown"  # sent, the answer was lost: resolved by id, never re-sent
    AWAITING_APPROVAL = "awaiting_approval"


@dataclass(frozen=True, slots=True)
class ExecutionResult:
    outcome: Outcome
    correlation_id: str
    message: str = ""
    rule: str | None = None  # the risk rule (or venue code) that refused it
    order_id: str | None = None
    client_order_id: str | None = None
    status: OrderStatus | None = None
    size: Decimal = ZERO
    filled: Decimal = ZERO
    approval_key: str | None = None

    @property
    def ok(self) -> bool:
        return self.outcome in (Outcome.PLACED, Outcome.AWAITING_APPROVAL)


@dataclass(frozen=True, slots=True)
class ApprovalRequest:
    key: str
    market: str
    question: str
    token_id: str
    outcome: str
    side: Side
    limit_price: Decimal
    size: Decimal
    notional: Decimal
    strategy: str
    reason: str
    model_probability: Decimal | None
    created_at: datetime
    expires_at: datetime
    correlation_id: str
    status: str = "pending"  # pending, approved, rejected, expired, superseded
    sources: tuple[str, ...] = ()  # what the analysis cited; () when the intent named none
    end_date: datetime | None = None  # when the market resolves, if known
    market_probability: Decimal | None = None  # the YES mid when the signal was made


@dataclass(frozen=True, slots=True)
class ApprovalDecision:
    key: str
    status: str  # approved, rejected, expired, or the status it already had
    acted: bool  # False: nothing happened (already decided, expired, unknown)
    message: str
    result: ExecutionResult | None = None


@dataclass(frozen=True, slots=True)
class PortfolioView:
    cash: Decimal
    reserved: Decimal
    redeemable: Decimal
    equity: Decimal
    exposure: Decimal
    unrealized: Decimal
    realized: Decimal
    day_pnl: Decimal
    peak_equity: Decimal
    drawdown: Decimal
    drawdown_mode: DrawdownMode
    open_positions: int
    open_orders: int


@dataclass(frozen=True, slots=True)
class PositionView:
    token_id: str
    market: str
    question: str
    outcome: str
    size: Decimal
    average_price: Decimal
    mark: Decimal | None  # the display mark: the book's mid (or the last price)
    value: Decimal  # realisable: the bids walked for the size, net of the sale's taker fee
    unrealized: Decimal
    realized: Decimal


@dataclass(frozen=True, slots=True)
class OrderView:
    order_id: str
    client_order_id: str
    market: str
    question: str
    token_id: str
    outcome: str
    side: Side
    price: Decimal
    size: Decimal
    filled: Decimal
    status: OrderStatus
    created_at: datetime
    strategy: str
    correlation_id: str


class PnlPeriod(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


@dataclass(frozen=True, slots=True)
class PnlReport:
    period: PnlPeriod
    start: datetime  # the operator's midnight (day), Monday (week) or the 1st (month), in UTC
    end: datetime
    start_equity: Decimal | None  # None: no snapshot from before the period
    end_equity: Decimal
    pnl: Decimal | None  # end - start equity - cash flows (realized and unrealized)
    realized: Decimal  # sells and settlements in the period
    trades: int
    wins: int
    losses: int
    win_rate: Decimal | None
    cash_flows: Decimal = Decimal(0)  # deposits less withdrawals in the period: not PnL


@dataclass(frozen=True, slots=True)
class CashFlowRecorded:
    """A deposit (amount > 0) or withdrawal (< 0) the operator entered: not PnL."""

    amount: Decimal
    reason: str
    cash: Decimal  # after it
    equity: Decimal
    correlation_id: str


@dataclass(frozen=True, slots=True)
class ChainOperationView:
    """A redemption or merge (`trader.execution.redemption`) as the chat shows it."""

    operation_id: str
    kind: str  # "redeem" or "merge"
    market: str
    question: str
    state: str  # requested, sent, confirmed, failed
    payout: Decimal  # collateral it brings (expected until confirmed)
    shares: tuple[tuple[str, Decimal], ...]  # (outcome, shares given up)
    created_at: datetime
    requested_by: str
    tx_id: str | None = None
    message: str = ""


@dataclass(frozen=True, slots=True)
class RedeemableView:
    """A resolved market still held at the venue: what redeeming it pays."""

    market: str
    question: str
    payout: Decimal
    shares: tuple[tuple[str, Decimal], ...]  # (outcome, shares held)
    last: ChainOperationView | None = None  # its latest redemption, if any


@dataclass(frozen=True, slots=True)
class MergeableView:
    """A market held on both sides: `pairs` merge into as many pUSD; `sale` is what selling
    both at the bids would bring, net of fees."""

    market: str
    question: str
    pairs: Decimal
    sale: Decimal

    @property
    def gain(self) -> Decimal:
        return self.pairs - self.sale


@dataclass(frozen=True, slots=True)
class ChainOverview:
    redeemable: tuple[RedeemableView, ...] = ()
    mergeable: tuple[MergeableView, ...] = ()
    recent: tuple[ChainOperationView, ...] = ()
    available: bool = True  # False: this venue cannot redeem or merge


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


# reports and signals ------------------------------------------------------------------

CHART_KINDS = ("dashboard", "equity", "pnl", "exposure", "llm", "calibration")
MAX_CHART_DAYS = 365


@dataclass(frozen=True, slots=True)
class ReportView:
    text: str
    image_path: Path  # the dashboard PNG


@dataclass(frozen=True, slots=True)
class BacktestStatus:
    """One backtest run from the chat (`/backtest`), as far as it got. `state`: "running",
    "done" or "failed"; `lines`: the headline figures once done, the reason once failed."""

    job_id: str
    strategy: str
    days: int
    state: str
    cycles_done: int = 0
    cycles_total: int = 0
    lines: tuple[str, ...] = ()
    image_path: Path | None = None  # the backtest's PNG, once done

    @property
    def finished(self) -> bool:
        return self.state != "running"


class BacktestRunner(Protocol):
    """Backtests in a separate process (`trader.backtest.job`): one at a time."""

    def start(self, strategy: str, days: int) -> BacktestStatus:
        """Start one; raises `ControlError` (with the reason) when it cannot."""
        ...

    def status(self, job_id: str) -> BacktestStatus: ...


@dataclass(frozen=True, slots=True)
class MarketSignal:
    """What the last signal cycle decided about one market, and why."""

    market: str
    question: str
    decision: str  # "trade" or "skip"
    reason: str
    model_probability: Decimal | None = None  # YES, from the model
    market_probability: Decimal | None = None  # the YES book's mid
    edge: Decimal | None = None  # per share at the best ask of the side considered, after fees
    source: str = ""  # "llm", "heuristic", or "" when nothing was analysed
    analysis: str = ""  # which analysis ran, and why
    screen: str = ""  # the triage model's decision and reason; "" when no screen ran
    screen_cost: Decimal = ZERO
    retrieval: str = ""  # what the news search found and what failed; "" when it did not run


@dataclass(frozen=True, slots=True)
class BrierView:
    """Mean Brier scores of resolved forecasts over `days` (lower is better; 0.25 a coin)."""

    days: int
    count: int
    model: Decimal | None
    market: Decimal | None
    blend: Decimal | None
    blend_count: int = 0


@dataclass(frozen=True, slots=True)
class SignalsView:
    """The last completed signal cycle (`ran_at` None: none has completed yet)."""

    model: str  # the primary model: "llm" or "heuristic"
    model_name: str  # the LLM's name; "" for the heuristic
    model_reason: str  # why that model is the primary one
    ran_at: datetime | None = None
    duration_s: float = 0.0
    candidates: int = 0  # markets offered
    selected: int = 0
    analysed: int = 0
    intents: int = 0  # order intents published
    markets: tuple[MarketSignal, ...] = ()
    llm_calls: int = 0
    llm_cost: Decimal = ZERO
    fallbacks: tuple[tuple[str, int], ...] = ()  # (why the heuristic stood in, markets)
    news_error: str = ""  # the news stage failed: markets were triaged without news
    last_error: str = ""  # the latest cycle failed; the view is of the one before it
    cost_per_analysed: Decimal | None = None  # LLM cost / markets that reached the analysis
    screened_out: int = 0  # markets the triage model kept from the deep analysis
    screen_cost: Decimal = ZERO
    brier: BrierView | None = None  # resolved forecasts: model, market, blend
    calibration: str = ""  # the calibration and blend weight in force, with their sample size

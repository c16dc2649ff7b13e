"""The desk's answers: an intent's execution, approvals, the portfolio, positions and orders,
PnL and cash flows, and the redemptions and merges the chat shows; and `ControlError`, the
refusal every request may end in.

Plain frozen values over `trader.domain` only, so the chat can hold them (see the package).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from trader.domain import ZERO, DrawdownMode, OrderStatus, Side


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

"""The typed answer to "why did you do that?" (`ControlAPI.why`), and the port behind it.

A `DecisionChain` is the chain of one decision as the records hold it, step by step: the
cycle, the analysis (news, screen, samples, blend), the sizing, risk, the approval, the
orders and fills, and what came later. A step whose record is expected but absent is named
in `missing` and its field is None: nothing is filled in by guessing. A step that never
happened (no approval asked, no order after a denial) is None and not missing.

Built by `trader.explain` from the event log and the stored forecasts; like
`trader.control.types`, this module imports only `trader.domain`-level things.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

# the steps of a chain, in order: the names `DecisionChain.missing` uses
STEPS = (
    "cycle",
    "news",
    "screen",
    "samples",
    "blend",
    "sizing",
    "intent",
    "risk",
    "approval",
    "order",
    "fills",
)


@dataclass(frozen=True, slots=True)
class NewsUsed:
    title: str
    source: str
    published: datetime | None
    relevance: float | None = None


@dataclass(frozen=True, slots=True)
class CycleFacts:
    cycle_id: str
    started_at: datetime | None
    completed_at: datetime | None
    analyser: str = ""


@dataclass(frozen=True, slots=True)
class AnalysisFacts:
    at: datetime
    news: tuple[NewsUsed, ...]
    screen: str  # the screen's (triage's) verdict and its reason
    analysis: str  # which analysis ran: "LLM ensemble: 3/3 samples", "heuristic: ..."
    source: str  # "llm" or "heuristic"; "" without a forecast
    samples: tuple[Decimal, ...]
    raw_median: Decimal | None
    market_probability: Decimal | None  # the YES mid the analysis saw
    model_weight: Decimal | None  # the model's weight in the log-odds blend with the market
    model_probability: Decimal | None  # the blend: the forecast
    dispersion: Decimal | None
    decision: str  # "trade" or "skip"
    reason: str


@dataclass(frozen=True, slots=True)
class SizingFacts:
    outcome: str  # the token bought: "Yes" or "No"
    edge: Decimal | None  # per share at the best ask, after fees
    edge_average: Decimal | None  # per share at the planned average price, after fees
    bankroll: Decimal | None
    kelly_fraction: Decimal | None
    kelly_stake: Decimal | None
    held_value: Decimal | None  # what was already held of the token, netted off
    max_notional: Decimal | None  # the per-intent cap
    target: Decimal | None
    bound: str  # the limit that bound it: "max_notional", "kelly", "min_edge", "depth", ""
    shares: Decimal | None
    notional: Decimal | None
    limit_price: Decimal | None
    average_price: Decimal | None


@dataclass(frozen=True, slots=True)
class IntentFacts:
    at: datetime
    side: str
    limit_price: Decimal | None
    size: Decimal | None
    notional: Decimal | None
    strategy: str
    reason: str
    model_probability: Decimal | None
    market_probability: Decimal | None


@dataclass(frozen=True, slots=True)
class RiskFacts:
    at: datetime
    passed: bool
    checks: tuple[str, ...] = ()  # the rules passed
    rule: str = ""  # the rule that denied it
    message: str = ""
    size: Decimal | None = None
    notional: Decimal | None = None
    fee: Decimal | None = None
    drawdown_mode: str = ""


@dataclass(frozen=True, slots=True)
class ApprovalFacts:
    key: str
    requested_at: datetime | None
    size: Decimal | None
    notional: Decimal | None
    status: str  # pending, approved, rejected, expired, superseded
    decided_by: str = ""
    decided_at: datetime | None = None
    approved_size: Decimal | None = None  # when approved at another size


@dataclass(frozen=True, slots=True)
class OrderFacts:
    order_id: str
    client_order_id: str
    at: datetime
    side: str
    price: Decimal
    size: Decimal
    order_type: str
    status: str  # the venue's answer at submit, or what happened instead
    filled: Decimal | None = None
    error: str = ""


@dataclass(frozen=True, slots=True)
class FillFacts:
    at: datetime
    order_id: str
    side: str
    price: Decimal
    size: Decimal
    fee: Decimal
    position_after: Decimal | None
    realized: Decimal | None


@dataclass(frozen=True, slots=True)
class SettlementFacts:
    at: datetime
    payout: Decimal | None  # what one share of the chain's token paid
    realized: Decimal | None  # the market's realised PnL at settlement
    redeemable: Decimal | None


@dataclass(frozen=True, slots=True)
class LaterFacts:
    """What happened to the position after the chain's own fills."""

    exits: tuple[FillFacts, ...] = ()
    settlements: tuple[SettlementFacts, ...] = ()
    position_now: Decimal | None = None
    realized_total: Decimal | None = None  # the token's realised PnL so far


@dataclass(frozen=True, slots=True)
class DecisionChain:
    ref: str  # what was asked for
    correlation_id: str
    market: str
    question: str
    outcome: str  # of the token traded, "" when unknown
    cycle: CycleFacts | None = None
    analysis: AnalysisFacts | None = None
    sizing: SizingFacts | None = None
    intent: IntentFacts | None = None
    risk: RiskFacts | None = None
    approval: ApprovalFacts | None = None
    orders: tuple[OrderFacts, ...] = ()
    fills: tuple[FillFacts, ...] = ()
    later: LaterFacts | None = None
    missing: tuple[str, ...] = ()  # steps (of `STEPS`) whose records are expected but absent

    def is_missing(self, step: str) -> bool:
        return step in self.missing


@dataclass(frozen=True, slots=True)
class DenialFacts:
    at: datetime
    correlation_id: str
    rule: str
    message: str
    market: str
    question: str
    side: str = ""


class WhySource(Protocol):
    """`trader.explain.WhyService` implements it over the event log and the tables."""

    async def explain(self, ref: str | None) -> DecisionChain:
        """The chain behind `ref` (an order id, an approval ref, a correlation id, a market),
        or the last decision with None. Raises `LookupError` with a readable message."""
        ...

    async def denials(self, limit: int) -> list[DenialFacts]:
        """The last `limit` denied intents, newest first."""
        ...

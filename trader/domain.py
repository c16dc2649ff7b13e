"""Plain typed values shared by every part of Polyops.

Money, prices and sizes are `Decimal`; timestamps are timezone-aware UTC. Nothing here
does I/O, reads settings or imports a library beyond the standard one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

ZERO = Decimal(0)
ONE = Decimal(1)


_UUID4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))  # the version nibble, the variant bits
_UUID4_SET = (0x4000 << 64) | (0x8000 << 48)  # version 4, RFC 4122 variant


def new_correlation_id() -> str:
    """A fresh correlation id: follows a signal to its orders, fills and chat messages.

    `uuid.uuid4().hex`, without building the `UUID` object (about half the cost; every
    command and every intent takes one): 122 random bits with version 4 and its variant."""
    bits = int.from_bytes(os.urandom(16)) & _UUID4_CLEAR | _UUID4_SET
    return f"{bits:032x}"


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"

    @property
    def sign(self) -> int:
        return 1 if self is Side.BUY else -1

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


class OrderType(StrEnum):
    GTC = "GTC"  # good till cancelled
    GTD = "GTD"  # good till date
    FOK = "FOK"  # fill or kill
    FAK = "FAK"  # fill and kill (immediate or cancel)


class OrderStatus(StrEnum):
    PENDING = "PENDING"  # persisted, not yet sent
    SUBMITTED = "SUBMITTED"  # sent, outcome unknown until the venue confirms
    LIVE = "LIVE"
    MATCHED = "MATCHED"  # fully filled
    CANCELED = "CANCELED"
    CANCELED_MARKET_RESOLVED = "CANCELED_MARKET_RESOLVED"
    REJECTED = "REJECTED"
    INVALID = "INVALID"
    EXPIRED = "EXPIRED"

    @property
    def is_open(self) -> bool:
        return self in (OrderStatus.PENDING, OrderStatus.SUBMITTED, OrderStatus.LIVE)


class TradeStatus(StrEnum):
    MATCHED = "MATCHED"
    MINED = "MINED"
    CONFIRMED = "CONFIRMED"
    RETRYING = "RETRYING"
    FAILED = "FAILED"


class TradingState(StrEnum):
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    HALTED = "HALTED"  # automatic halt: cancel-all done, no new entries until re-armed
    KILLED = "KILLED"  # operator kill: survives restarts, cleared only by re-arm


class DrawdownMode(StrEnum):
    FULL = "FULL"
    REDUCED = "REDUCED"
    HALTED = "HALTED"


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class TradingMode(StrEnum):
    PAPER = "paper"
    LIVE = "live"


@dataclass(frozen=True, slots=True)
class OutcomeToken:
    token_id: str
    outcome: str  # "Yes" / "No" or a named outcome


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    """A market's taker fee, as Gamma's `feeSchedule` states it (`trader.fees` applies it).

    `rate` is a fraction (0.04, not 400 bps); the fee per share at price p is
    `rate * (p * (1 - p)) ** exponent`. Makers pay none when `taker_only`; `rebate_rate` is
    the share of taker fees paid back to makers (not counted as income here)."""

    rate: Decimal = ZERO
    exponent: int = 1
    taker_only: bool = True
    rebate_rate: Decimal = ZERO
    enabled: bool = True
    # False: the venue said nothing usable about this market's fees (no `feeSchedule`, and
    # `feesEnabled` not false); sizing refuses such a market rather than guess a rate
    stated: bool = True

    @property
    def charges(self) -> bool:
        return self.enabled and self.rate > ZERO


NO_FEES = FeeSchedule(enabled=False)  # the venue says this market charges no fee
UNSTATED_FEES = FeeSchedule(enabled=False, stated=False)  # the venue does not say


@dataclass(frozen=True, slots=True)
class Market:
    condition_id: str
    question: str
    tokens: tuple[OutcomeToken, ...]
    end_date: datetime | None
    active: bool = True
    closed: bool = False
    accepting_orders: bool = True
    tick_size: Decimal = Decimal("0.01")
    min_order_size: Decimal = Decimal(5)
    neg_risk: bool = False
    # the neg-risk event this market is one outcome of (Gamma's event id); "" when it is no
    # outcome of a multi-outcome event. Its markets are mutually exclusive: one pays YES.
    event_id: str = ""
    volume: Decimal = ZERO
    liquidity: Decimal = ZERO
    slug: str = ""
    description: str = ""
    fees: FeeSchedule = NO_FEES
    # the venue's match delay (`seconds_delay`): a marketable order waits this long before it
    # is matched (in-play sports markets), so a GTD order's expiry is pushed back by it
    seconds_delay: int = 0

    def order_expiration(self, expires_at: datetime | None) -> datetime | None:
        """When a GTD order meant to work until `expires_at` should expire at the venue: the
        match delay added, so the order is live for its whole intended window."""
        if expires_at is None or self.seconds_delay <= 0:
            return expires_at
        return expires_at + timedelta(seconds=self.seconds_delay)

    def token(self, outcome: str) -> OutcomeToken | None:
        wanted = outcome.casefold()
        return next((t for t in self.tokens if t.outcome.casefold() == wanted), None)


@dataclass(frozen=True, slots=True)
class BookLevel:
    price: Decimal
    size: Decimal


@dataclass(frozen=True, slots=True)
class Book:
    """One token's order book. Levels are best first: bids descending, asks ascending."""

    token_id: str
    bids: tuple[BookLevel, ...]
    asks: tuple[BookLevel, ...]
    timestamp: datetime
    tick_size: Decimal = Decimal("0.01")
    min_order_size: Decimal = Decimal(5)
    market: str = ""
    hash: str = ""

    @property
    def best_bid(self) -> Decimal | None:
        return self.bids[0].price if self.bids else None

    @property
    def best_ask(self) -> Decimal | None:
        return self.asks[0].price if self.asks else None

    @property
    def mid(self) -> Decimal | None:
        if self.best_bid is None or self.best_ask is None:
            return None
        return (self.best_bid + self.best_ask) / 2


@dataclass(frozen=True, slots=True)
class MakerEntry:
    """A passive entry (`OrderIntent.maker`): a post-only order at or inside the touch, never
    crossing, repriced or cancelled by the execution core's maker desk every maker cycle, and
    never resting past the intent's `expires_at`. `improve_ticks`: ticks better than the best
    price of the same side (capped one tick short of the other side). `urgent`: when no
    passive price is possible within the limit, or the venue refuses the order as crossing,
    take at the limit instead (a taker order); a patient entry waits for the next cycle."""

    improve_ticks: int = 0
    urgent: bool = False


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """What a strategy wants; the execution engine decides whether it happens."""

    market: str  # condition id
    token_id: str
    side: Side
    limit_price: Decimal
    size: Decimal | None = None  # shares; or give notional
    notional: Decimal | None = None  # pUSD
    strategy: str = "manual"
    reason: str = ""
    correlation_id: str = field(default_factory=new_correlation_id)
    expires_at: datetime | None = None
    order_type: OrderType = OrderType.GTC
    post_only: bool = False
    # of the token bought winning (for a NO purchase: the NO side), as risk compares them
    model_probability: Decimal | None = None
    market_probability: Decimal | None = None
    sources: tuple[str, ...] = ()  # what the forecast read (news links), for the approval card
    maker: MakerEntry | None = None  # a passive entry (post-only, repriced); None: as given


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """A venue-ready order, before rounding to the market's tick size."""

    token_id: str
    side: Side
    price: Decimal
    size: Decimal
    client_order_id: str
    order_type: OrderType = OrderType.GTC
    post_only: bool = False
    expiration: datetime | None = None
    market: str = ""
    # a marketable BUY of a dollar amount: the collateral to spend (fees on top), `size` then
    # being the shares expected; None: spend at most price x size
    amount: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Order:
    order_id: str  # venue order id (the signed order's hash on Polymarket)
    token_id: str
    side: Side
    price: Decimal
    original_size: Decimal
    size_matched: Decimal
    status: OrderStatus
    created_at: datetime
    market: str = ""
    order_type: OrderType = OrderType.GTC
    client_order_id: str | None = None
    outcome: str = ""
    reason: str = ""  # a rejected order: why, in the venue's or the adapter's words

    @property
    def remaining(self) -> Decimal:
        return self.original_size - self.size_matched


@dataclass(frozen=True, slots=True)
class Fill:
    trade_id: str
    order_id: str
    token_id: str
    side: Side  # our side in this fill
    price: Decimal
    size: Decimal
    fee: Decimal
    timestamp: datetime
    market: str = ""
    status: TradeStatus = TradeStatus.MATCHED
    liquidity: str = "TAKER"  # TAKER or MAKER

    @property
    def key(self) -> tuple[str, str]:
        """One trade can fill several of our orders: (trade id, order id) is unique."""
        return (self.trade_id, self.order_id)


@dataclass(frozen=True, slots=True)
class Position:
    token_id: str
    size: Decimal
    average_price: Decimal
    market: str = ""
    outcome: str = ""
    realized_pnl: Decimal = ZERO


# What one share of each token of a resolved market pays, by token id: 1 and 0 for a winner and
# a loser, 0.5 and 0.5 for a 50/50 split. Every resolution carries its vector, never a winner.
Payouts = dict[str, Decimal]


@dataclass(frozen=True, slots=True)
class Resolution:
    """A market resolved (a fact on the bus): what each of its tokens pays per share."""

    market: str
    payouts: Payouts
    at: datetime


@dataclass(frozen=True, slots=True)
class Balance:
    cash: Decimal
    reserved: Decimal = ZERO

    @property
    def available(self) -> Decimal:
        return self.cash - self.reserved


@dataclass(frozen=True, slots=True)
class Alert:
    kind: str  # e.g. "order_filled", "venue_errors", "watchdog"
    severity: Severity
    title: str
    body: str = ""
    correlation_id: str = field(default_factory=new_correlation_id)
    dedupe_key: str | None = None
    attachment: str | None = None  # path of an image sent with the alert (the daily report)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who asked for something, and from where (audited with every Control API call)."""

    channel: str  # "telegram", "whatsapp", "console", "system", "scheduler"
    user_id: str
    name: str = ""

    def __str__(self) -> str:
        return f"{self.channel}:{self.user_id}"


SYSTEM_ACTOR = Actor(channel="system", user_id="trader")

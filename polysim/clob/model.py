"""The simulator's records (orders, trades, markets) and the events it publishes.

Prices and sides on a `SimOrder` are in the order's own token terms, as the owner signed them;
only the book (`book.py`) thinks in the first outcome's terms. Events carry snapshots, so a
WebSocket writer that formats them later sees the state at the moment they happened.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from polysim.clob.book import OrderBook, mirror_price
from polysim.clob.scenario import MarketSpec
from trader.domain import ZERO, OrderStatus, OrderType, Side, TradeStatus

MARKET_MAKER = "sim-market-maker"
MARKET_FLOW = "sim-market-flow"
SYNTHETIC_ADDRESSES = {
    MARKET_MAKER: "0x5111000000000000000000000000000000000001",
    MARKET_FLOW: "0x5111000000000000000000000000000000000002",
}


@dataclass(slots=True)
class SimOrder:
    order_id: str
    market: str
    token_id: str
    outcome: str
    side: Side
    price: Decimal
    original_size: Decimal
    order_type: OrderType
    owner: str  # the API key that placed it (a synthetic name for simulated flow)
    address: str  # the maker wallet
    created_at: datetime
    expiration: int = 0  # unix seconds; 0 for none
    post_only: bool = False
    synthetic: bool = False
    size_matched: Decimal = ZERO
    status: OrderStatus = OrderStatus.LIVE
    associate_trades: list[str] = field(default_factory=list)

    @property
    def remaining(self) -> Decimal:
        return self.original_size - self.size_matched

    def snapshot(self) -> SimOrder:
        return dataclasses.replace(self, associate_trades=list(self.associate_trades))

    def leg(self, price: Decimal, fee: Decimal) -> TradeLeg:
        return TradeLeg(
            order_id=self.order_id,
            owner=self.owner,
            address=self.address,
            token_id=self.token_id,
            outcome=self.outcome,
            side=self.side,
            price=price,
            fee=fee,
            synthetic=self.synthetic,
        )


@dataclass(frozen=True, slots=True)
class TradeLeg:
    """One order's part in a trade, in that order's own token terms."""

    order_id: str
    owner: str
    address: str
    token_id: str
    outcome: str
    side: Side
    price: Decimal
    fee: Decimal = ZERO
    synthetic: bool = False


@dataclass(slots=True)
class SimTrade:
    trade_id: str
    market: str
    taker: TradeLeg
    maker: TradeLeg
    size: Decimal
    fee_rate_bps: int
    match_time: datetime
    transaction_hash: str
    status: TradeStatus = TradeStatus.MATCHED
    last_update: datetime | None = None

    def involves(self, owners: set[str]) -> bool:
        return self.taker.owner in owners or self.maker.owner in owners


@dataclass(slots=True)
class SimMarket:
    spec: MarketSpec
    fair: Decimal
    tick_size: Decimal
    book: OrderBook = field(default_factory=OrderBook)
    closed: bool = False
    accepting_orders: bool = True
    winner: str | None = None  # token id; None for a 50/50 resolution
    payouts: dict[str, Decimal] | None = None  # token id -> payout per share, once resolved
    closed_at: datetime | None = None
    volume: Decimal = ZERO
    last_trade: dict[str, tuple[Decimal, Side]] = field(default_factory=dict)

    @property
    def condition_id(self) -> str:
        return self.spec.condition_id

    def outcome(self, token_id: str) -> str:
        return self.spec.tokens[self.index(token_id)].outcome

    def index(self, token_id: str) -> int:
        return 0 if token_id == self.spec.tokens[0].token_id else 1

    def complement(self, token_id: str) -> str:
        return self.spec.tokens[1 - self.index(token_id)].token_id

    def to_book(self, token_id: str, side: Side, price: Decimal) -> tuple[Side, Decimal]:
        if self.index(token_id) == 0:
            return side, price
        return side.opposite, mirror_price(price)

    def from_book(self, token_id: str, price: Decimal) -> Decimal:
        return price if self.index(token_id) == 0 else mirror_price(price)

    def levels(self, token_id: str) -> tuple[list[tuple[Decimal, Decimal]], ...]:
        """(bids, asks) for a token, best first, derived from the one book."""
        bids, asks = self.book.levels(Side.BUY), self.book.levels(Side.SELL)
        if self.index(token_id) == 0:
            return bids, asks
        return [(mirror_price(p), s) for p, s in asks], [(mirror_price(p), s) for p, s in bids]

    def level_changes(
        self, changes: list[tuple[Side, Decimal, Decimal]]
    ) -> tuple[LevelChange, ...]:
        """Book-level changes (first outcome's terms) as seen on both outcomes' books."""
        out: list[LevelChange] = []
        for token_id in self.spec.token_ids:
            bid, ask = self.best(token_id)
            first = self.index(token_id) == 0
            for side, price, size in changes:
                if first:
                    out.append(LevelChange(token_id, side, price, size, bid, ask))
                else:
                    out.append(LevelChange(token_id, side.opposite, 1 - price, size, bid, ask))
        return tuple(out)

    def best(self, token_id: str) -> tuple[Decimal | None, Decimal | None]:
        bid, ask = self.book.best(Side.BUY), self.book.best(Side.SELL)
        if self.index(token_id) == 0:
            return bid, ask
        return (
            None if ask is None else mirror_price(ask),
            None if bid is None else mirror_price(bid),
        )


# --- requests and results ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlaceRequest:
    order_id: str
    token_id: str
    side: Side
    price: Decimal  # exact, from the signed amounts
    size: Decimal  # shares
    order_type: OrderType
    owner: str
    address: str
    collateral: Decimal = ZERO  # the USDC amount of a BUY
    expiration: int = 0
    post_only: bool = False
    synthetic: bool = False
    fill_fraction: Decimal | None = None  # fault injection: clip what may fill now


@dataclass(frozen=True, slots=True)
class PlaceResult:
    order_id: str
    status: str  # "live" | "matched"
    making: Decimal
    taking: Decimal
    trade_ids: tuple[str, ...]
    transaction_hashes: tuple[str, ...]


class OrderRejected(Exception):
    """The venue refuses an order. `http_status` 400 for invalid input; 200 for a refusal the
    venue reports in the body (`success: false`), such as an unfilled FOK."""

    def __init__(self, code: str, message: str, *, http_status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.http_status = http_status


# --- events ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LevelChange:
    token_id: str
    side: Side
    price: Decimal
    size: Decimal
    best_bid: Decimal | None
    best_ask: Decimal | None


@dataclass(frozen=True, slots=True)
class BookChanged:
    market: str
    changes: tuple[LevelChange, ...]
    at: datetime


@dataclass(frozen=True, slots=True)
class TradePrinted:
    market: str
    token_id: str
    price: Decimal
    side: Side
    size: Decimal
    fee_rate_bps: int
    transaction_hash: str
    at: datetime


@dataclass(frozen=True, slots=True)
class OrderChanged:
    kind: str  # PLACEMENT | UPDATE | CANCELLATION
    order: SimOrder  # a snapshot
    at: datetime


@dataclass(frozen=True, slots=True)
class TradeChanged:
    trade: SimTrade  # a snapshot
    owner: str  # the API key whose view this is
    at: datetime


@dataclass(frozen=True, slots=True)
class TickSizeChanged:
    market: str
    token_id: str
    old: Decimal
    new: Decimal
    at: datetime


@dataclass(frozen=True, slots=True)
class MarketResolved:
    market: str
    winner: str | None  # None: resolved 50/50
    at: datetime


SimEvent = (
    BookChanged | TradePrinted | OrderChanged | TradeChanged | TickSizeChanged | MarketResolved
)

__all__ = [
    "MARKET_FLOW",
    "MARKET_MAKER",
    "SYNTHETIC_ADDRESSES",
    "BookChanged",
    "LevelChange",
    "MarketResolved",
    "OrderChanged",
    "OrderRejected",
    "PlaceRequest",
    "PlaceResult",
    "SimEvent",
    "SimMarket",
    "SimOrder",
    "SimTrade",
    "TickSizeChanged",
    "TradeChanged",
    "TradeLeg",
    "TradePrinted",
]

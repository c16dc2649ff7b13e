"""The risk engine: pure checks on one order intent, with their own small state.

`RiskEngine.check` is a plain function call on the hot path: no I/O, no awaiting. It takes the
intent and a `RiskContext` (limits, trading state, the market, its book, and an
`ExposureSnapshot` the portfolio computes) and returns either a `RiskApproval` with the size to
trade or a `RiskDenial` naming the rule that refused it and why. The engine's own state is
what it has let through (for the orders-per-minute limit and the cooldown); `record` adds an
order to it once the execution engine commits to sending it.

Entries (BUY) are checked against every limit. Exits (SELL) can only sell shares we hold and
not already offered; they skip the limits that exist to cap new risk (edge, exposure,
position, daily loss, drawdown HALTED, price band, market end) but not the trading state, the
stale book, the price deviation, the order notional, the open orders or the rate limit.
An entry made by a strategy whose stage does not allow the trading mode (trader/stages.py) is
denied with `strategy_stage`, whatever produced it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from enum import StrEnum

from trader.domain import (
    NO_FEES,
    ONE,
    ZERO,
    Book,
    DrawdownMode,
    FeeSchedule,
    Market,
    OrderIntent,
    OrderType,
    Side,
    TradingMode,
    TradingState,
)
from trader.fees import fee_per_share, taker_fee, walk_buy
from trader.stages import StageBook
from trader.state import RiskLimits

SIZE_STEP = Decimal("0.01")
IMMEDIATE = frozenset({OrderType.FOK, OrderType.FAK})
_MINUTE = timedelta(minutes=1)


class RiskRule(StrEnum):
    KILLED = "killed"
    HALTED = "halted"
    PAUSED = "paused"
    DRAWDOWN_HALTED = "drawdown_halted"
    INVALID_INTENT = "invalid_intent"
    EXPIRED = "expired"
    MARKET_UNKNOWN = "market_unknown"
    MARKET_CLOSED = "market_closed"
    MARKET_ENDING = "market_ending"
    STALE_BOOK = "stale_book"
    PRICE_BAND = "price_band"
    PRICE_DEVIATION = "price_deviation"
    MIN_EDGE = "min_edge"
    MAX_ORDER_NOTIONAL = "max_order_notional"
    MAX_POSITION = "max_position"
    MAX_EXPOSURE = "max_exposure"
    MAX_EVENT_EXPOSURE = "max_event_exposure"
    MAX_OPEN_ORDERS = "max_open_orders"
    MAX_ORDERS_PER_MINUTE = "max_orders_per_minute"
    DAILY_LOSS = "daily_loss"
    COOLDOWN = "cooldown"
    INSUFFICIENT_CASH = "insufficient_cash"
    INSUFFICIENT_SHARES = "insufficient_shares"
    STRATEGY_STAGE = "strategy_stage"


@dataclass(frozen=True, slots=True)
class RiskDenial:
    rule: RiskRule
    message: str

    @property
    def approved(self) -> bool:
        return False


@dataclass(frozen=True, slots=True)
class RiskApproval:
    size: Decimal  # shares, after the drawdown scale, two decimals (expected, for an amount)
    notional: Decimal  # size * limit price; for a marketable buy of an amount, that amount
    fee: Decimal  # the estimated taker fee
    reduces: bool  # an exit: sells shares we hold
    drawdown_mode: DrawdownMode

    @property
    def approved(self) -> bool:
        return True


RiskDecision = RiskApproval | RiskDenial

# The rules `RiskEngine.check` applies, in its order, to an entry and to an exit (which skips
# the limits that cap new risk): what an approval passed, for the event log and /why.
_GATES = ("trading_state", RiskRule.INVALID_INTENT, RiskRule.EXPIRED, RiskRule.MARKET_UNKNOWN)
_MARKET = (RiskRule.MARKET_CLOSED, RiskRule.STALE_BOOK, RiskRule.PRICE_DEVIATION)
_ENTRY = (
    RiskRule.DRAWDOWN_HALTED,
    RiskRule.MARKET_ENDING,
    RiskRule.PRICE_BAND,
    RiskRule.DAILY_LOSS,
    RiskRule.MIN_EDGE,
    RiskRule.INSUFFICIENT_CASH,
    RiskRule.MAX_POSITION,
    RiskRule.MAX_EXPOSURE,
)
_FLOW = (
    RiskRule.MAX_OPEN_ORDERS,
    RiskRule.MAX_ORDERS_PER_MINUTE,
    RiskRule.COOLDOWN,
    RiskRule.MAX_ORDER_NOTIONAL,
)


def checked_rules(reduces: bool) -> tuple[str, ...]:
    """The rules an approved intent passed: every one for an entry, the exit's for a sale."""
    middle = (RiskRule.INSUFFICIENT_SHARES,) if reduces else _ENTRY
    return tuple(str(rule) for rule in (*_GATES, *_MARKET, *middle, *_FLOW))


@dataclass(frozen=True, slots=True)
class ExposureSnapshot:
    """What the portfolio says about the money and positions an intent touches."""

    available_cash: Decimal  # cash minus what open BUY orders reserve
    token_shares: Decimal  # shares held of the intent's token
    token_shares_offered: Decimal  # of those, already in open SELL orders
    market_exposure: Decimal  # cost of positions in the intent's market plus open BUYs there
    total_exposure: Decimal  # the same over all markets
    open_orders: int
    day_pnl: Decimal  # realized + unrealized since the operator's midnight
    drawdown: Decimal  # fraction below peak equity
    # the same as market_exposure over every market of the intent's neg-risk event
    event_exposure: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class RiskContext:
    now: datetime
    trading_state: TradingState
    limits: RiskLimits
    exposure: ExposureSnapshot
    market: Market | None
    book: Book | None
    book_age_s: float | None  # seconds since the book last changed; None if never seen
    mode: TradingMode = TradingMode.PAPER
    stages: StageBook | None = None  # None: no strategy is staged (tests of other rules)
    # an intent already under way checked again (a maker entry about to post): its own
    # earlier orders are no repeat, so the cooldown does not apply
    continuing: bool = False


def drawdown_mode(drawdown: Decimal, limits: RiskLimits) -> DrawdownMode:
    if drawdown >= limits.halted_drawdown:
        return DrawdownMode.HALTED
    if drawdown >= limits.reduced_drawdown:
        return DrawdownMode.REDUCED
    return DrawdownMode.FULL


def market_fees(ctx: RiskContext) -> FeeSchedule:
    return ctx.market.fees if ctx.market is not None else NO_FEES


def spends_amount(intent: OrderIntent) -> bool:
    """A marketable BUY of a dollar amount: the venue spends `notional` (fees on top)."""
    return (
        intent.side is Side.BUY and intent.order_type in IMMEDIATE and intent.notional is not None
    )


def buy_amount_terms(
    amount: Decimal, limit: Decimal, book: Book | None, fees: FeeSchedule
) -> tuple[Decimal, Decimal]:
    """(shares expected, fee) for spending `amount` up to `limit`: walked on the book as the
    venue fills it; what the book cannot take is counted at the limit (the most it costs)."""
    walk = walk_buy(book.asks if book is not None else (), amount, limit, fees)
    rest = (walk.unspent / limit).quantize(SIZE_STEP, rounding=ROUND_DOWN) if limit > 0 else ZERO
    return walk.shares + rest, walk.fee + taker_fee(rest, limit, fees)


def intent_size(intent: OrderIntent) -> Decimal:
    """Shares the intent asks for: its size, or its notional at its limit price, rounded down."""
    if intent.size is not None:
        raw = intent.size
    elif intent.notional is not None and intent.limit_price > ZERO:
        raw = intent.notional / intent.limit_price
    else:
        raw = ZERO
    return raw.quantize(SIZE_STEP, rounding=ROUND_DOWN) if raw.is_finite() else ZERO


_STATE_RULES = {
    TradingState.KILLED: RiskRule.KILLED,
    TradingState.HALTED: RiskRule.HALTED,
    TradingState.PAUSED: RiskRule.PAUSED,
}


class RiskEngine:
    def __init__(self) -> None:
        self._recent: deque[datetime] = deque()
        self._last_seen: dict[tuple[str, str, Side], datetime] = {}

    def check(self, intent: OrderIntent, ctx: RiskContext) -> RiskDecision:
        """Approve with a size, or deny naming the rule. Changes nothing."""
        denial = self._gates(intent, ctx) or self._market_checks(intent, ctx)
        if denial is not None:
            return denial
        mode = drawdown_mode(ctx.exposure.drawdown, ctx.limits)
        reduces = intent.side is Side.SELL
        scale = ctx.limits.reduced_scale if not reduces and mode is DrawdownMode.REDUCED else None
        fees = market_fees(ctx)
        if spends_amount(intent) and intent.notional is not None:
            # valued at the amount the venue will spend, as sizing planned it
            notional = intent.notional if scale is None else intent.notional * scale
            notional = notional.quantize(SIZE_STEP, rounding=ROUND_DOWN)
            size, fee = buy_amount_terms(notional, intent.limit_price, ctx.book, fees)
        else:
            size = intent_size(intent)
            if scale is not None:
                size = (size * scale).quantize(SIZE_STEP, rounding=ROUND_DOWN)
            notional = size * intent.limit_price
            fee = taker_fee(size, intent.limit_price, fees)
        if size <= ZERO:
            return RiskDenial(RiskRule.INVALID_INTENT, "the order size rounds to zero shares")
        check = _exit_checks if reduces else _entry_checks
        denial = check(intent, ctx, size, notional + fee, mode) or self._flow_checks(intent, ctx)
        if denial is not None:
            return denial
        if notional > ctx.limits.max_order_notional:
            return RiskDenial(
                RiskRule.MAX_ORDER_NOTIONAL,
                f"order notional {notional:.2f} is above the {ctx.limits.max_order_notional} limit",
            )
        return RiskApproval(size, notional, fee, reduces, mode)

    def record(self, intent: OrderIntent, now: datetime) -> None:
        """Count an order the engine commits to sending (rate limit and cooldown)."""
        self.record_order(intent.market, intent.token_id, intent.side, now)

    def record_order(self, market: str, token_id: str, side: Side, at: datetime) -> None:
        """Also used at start, so a restart does not reset the rate limit or the cooldown."""
        self._recent.append(at)
        key = (market, token_id, side)
        self._last_seen[key] = max(at, self._last_seen.get(key, at))

    def orders_last_minute(self, now: datetime) -> int:
        while self._recent and now - self._recent[0] >= _MINUTE:
            self._recent.popleft()
        return len(self._recent)

    # rules -------------------------------------------------------------------------------

    @staticmethod
    def _gates(intent: OrderIntent, ctx: RiskContext) -> RiskDenial | None:
        rule = _STATE_RULES.get(ctx.trading_state)
        if rule is not None:
            return RiskDenial(rule, f"trading is {ctx.trading_state.value}: no orders")
        # A sell only reduces what is held (no short selling here): never trapped by a stage.
        if ctx.stages is not None and intent.side is Side.BUY:
            why = ctx.stages.not_allowed(intent.strategy, ctx.mode)
            if why:
                return RiskDenial(RiskRule.STRATEGY_STAGE, why)
        if not ZERO < intent.limit_price < ONE:
            return RiskDenial(
                RiskRule.INVALID_INTENT, f"limit price {intent.limit_price} is not in (0, 1)"
            )
        if (intent.size is None) == (intent.notional is None):
            return RiskDenial(RiskRule.INVALID_INTENT, "give exactly one of size and notional")
        if intent.expires_at is not None and intent.expires_at <= ctx.now:
            return RiskDenial(
                RiskRule.EXPIRED, f"the intent expired at {intent.expires_at.isoformat()}"
            )
        return None

    @staticmethod
    def _market_checks(intent: OrderIntent, ctx: RiskContext) -> RiskDenial | None:
        market, limits = ctx.market, ctx.limits
        if market is None:
            return RiskDenial(RiskRule.MARKET_UNKNOWN, f"market {intent.market} is not known")
        if market.closed or not market.active or not market.accepting_orders:
            return RiskDenial(RiskRule.MARKET_CLOSED, "the market is not accepting orders")
        if ctx.book is None or ctx.book_age_s is None:
            return RiskDenial(RiskRule.STALE_BOOK, "no order book seen for this token")
        if Decimal(str(ctx.book_age_s)) > limits.stale_book_s:
            return RiskDenial(
                RiskRule.STALE_BOOK,
                f"the book is {ctx.book_age_s:.0f}s old (limit {limits.stale_book_s}s)",
            )
        mid = ctx.book.mid
        if mid is None:
            return RiskDenial(RiskRule.STALE_BOOK, "the book has no bid or no ask")
        if abs(intent.limit_price - mid) > limits.max_price_deviation:
            return RiskDenial(
                RiskRule.PRICE_DEVIATION,
                f"limit {intent.limit_price} is more than {limits.max_price_deviation} "
                f"from the mid {mid}",
            )
        return None

    def _flow_checks(self, intent: OrderIntent, ctx: RiskContext) -> RiskDenial | None:
        limits = ctx.limits
        if ctx.exposure.open_orders >= limits.max_open_orders:
            return RiskDenial(
                RiskRule.MAX_OPEN_ORDERS,
                f"{ctx.exposure.open_orders} orders open (limit {limits.max_open_orders})",
            )
        if self.orders_last_minute(ctx.now) >= limits.max_orders_per_minute:
            return RiskDenial(
                RiskRule.MAX_ORDERS_PER_MINUTE,
                f"{limits.max_orders_per_minute} orders already sent in the last minute",
            )
        last = self._last_seen.get((intent.market, intent.token_id, intent.side))
        cooldown = timedelta(seconds=float(limits.cooldown_s))
        if last is not None and not ctx.continuing and ctx.now - last < cooldown:
            wait = (last + cooldown - ctx.now).total_seconds()
            return RiskDenial(
                RiskRule.COOLDOWN,
                f"the same {intent.side.value} on this token was sent "
                f"{(ctx.now - last).total_seconds():.0f}s ago; cooling down {wait:.0f}s more",
            )
        return None


def _entry_checks(
    intent: OrderIntent, ctx: RiskContext, size: Decimal, cost: Decimal, mode: DrawdownMode
) -> RiskDenial | None:
    limits, exposure, price = ctx.limits, ctx.exposure, intent.limit_price
    end = ctx.market.end_date if ctx.market is not None else None
    if mode is DrawdownMode.HALTED:
        return RiskDenial(
            RiskRule.DRAWDOWN_HALTED,
            f"drawdown {exposure.drawdown:.1%} is at or beyond {limits.halted_drawdown:.1%}: "
            "no new entries",
        )
    if end is not None and (end - ctx.now).total_seconds() < limits.min_time_to_end_s:
        return RiskDenial(
            RiskRule.MARKET_ENDING,
            f"the market ends at {end.isoformat()}, within {limits.min_time_to_end_s}s",
        )
    if not limits.price_band_low <= price <= limits.price_band_high:
        return RiskDenial(
            RiskRule.PRICE_BAND,
            f"price {price} is outside [{limits.price_band_low}, {limits.price_band_high}]",
        )
    if exposure.day_pnl <= -limits.daily_loss_limit:
        return RiskDenial(
            RiskRule.DAILY_LOSS,
            f"today's PnL {exposure.day_pnl:.2f} has reached the -{limits.daily_loss_limit} limit",
        )
    return _edge_check(intent, limits, market_fees(ctx)) or _money_checks(ctx, cost)


def _edge_check(intent: OrderIntent, limits: RiskLimits, fees: FeeSchedule) -> RiskDenial | None:
    if intent.model_probability is None:
        return RiskDenial(RiskRule.MIN_EDGE, "an entry needs a model probability to have an edge")
    price = intent.limit_price
    edge = intent.model_probability - price - fee_per_share(price, fees)
    if edge < limits.min_edge:
        return RiskDenial(
            RiskRule.MIN_EDGE,
            f"edge after fees {edge:.4f} is below the minimum {limits.min_edge} "
            f"(model {intent.model_probability}, price {price})",
        )
    return None


def _money_checks(ctx: RiskContext, cost: Decimal) -> RiskDenial | None:
    limits, exposure = ctx.limits, ctx.exposure
    if cost > exposure.available_cash:
        return RiskDenial(
            RiskRule.INSUFFICIENT_CASH,
            f"order needs {cost:.2f}, {exposure.available_cash:.2f} available",
        )
    if exposure.market_exposure + cost > limits.max_position:
        return RiskDenial(
            RiskRule.MAX_POSITION,
            f"position in this market would be {exposure.market_exposure + cost:.2f} "
            f"(limit {limits.max_position})",
        )
    if (
        ctx.market is not None
        and ctx.market.event_id
        and exposure.event_exposure + cost > limits.max_event_exposure
    ):
        return RiskDenial(
            RiskRule.MAX_EVENT_EXPOSURE,
            f"exposure to this event's outcomes would be {exposure.event_exposure + cost:.2f} "
            f"(limit {limits.max_event_exposure})",
        )
    if exposure.total_exposure + cost > limits.max_exposure:
        return RiskDenial(
            RiskRule.MAX_EXPOSURE,
            f"total exposure would be {exposure.total_exposure + cost:.2f} "
            f"(limit {limits.max_exposure})",
        )
    return None


def _exit_checks(
    intent: OrderIntent, ctx: RiskContext, size: Decimal, cost: Decimal, mode: DrawdownMode
) -> RiskDenial | None:
    free = ctx.exposure.token_shares - ctx.exposure.token_shares_offered
    if size > free:
        return RiskDenial(
            RiskRule.INSUFFICIENT_SHARES,
            f"selling {size} shares, {max(free, ZERO)} held and not already offered",
        )
    return None

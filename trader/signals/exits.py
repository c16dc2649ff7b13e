"""Exits: every signal cycle re-evaluates each open position and sells it, within a slippage
cap, when one of three rules says holding it no longer pays.

The rules, checked in this order (the first that fires is the exit's reason):

1. `orders_stopping`: the market stops taking orders soon: its end date (Gamma's `endDate`,
   when it is scheduled to close) is within `stop_horizon` (`EXIT_STOP_HORIZON_S`; 0: off), or
   past while it still takes orders. Sold whatever the edge: once it stops, nothing can be
   sold until it resolves.
2. `adverse_move`: the blended probability of the held token winning has fallen since entry by
   at least `adverse_move` (`EXIT_ADVERSE_MOVE`). The entry view is the blend of the forecast
   that traded the market; today's is the same model's latest view blended again with the
   market's mid now (`reblend`, the pipeline's own calibration and weight), so a market moving
   against the position moves the view every cycle, not only when the LLM runs again.
3. `edge_gone`: the market closes within `close_horizon` (`EXIT_CLOSE_HORIZON_S`; 0: off) and
   holding is worth less than selling: the blended probability less what a share fetches at the best
   bid after the taker fee is below `min_edge` (`EXIT_MIN_EDGE`).

An exit is a fill-and-kill SELL of the whole position (rounded down to the cent) with its limit
at the slippage floor, best bid x (1 - `slippage`) rounded up to the tick (`EXIT_SLIPPAGE`), as
the kill switch's flatten sells, raised to the token's value (the blend now; the mid without
one) less `max_discount` (`EXIT_MAX_DISCOUNT`): nothing is sold below it, and what the book
cannot take stays held for the next cycle. No exit goes into a book that would sell at an
absurd price (`sale_limit`): one-sided, a best bid under mid x (1 - `slippage`), a spread over
`max_spread` (`EXIT_MAX_SPREAD`), or a best bid under the value less the discount. The books are
read without our own resting orders (`without_own`), and a token we have a BUY resting on (a
maker entry improving the bid) is not exited while it rests: the FAK would trade with it.
It is published on `bus.intents` like any strategy's intent, so risk,
approval mode and the execution engine treat it as every other order (a sale skips the limits
that cap new risk). Every exit says why: its intent's reason, an `exit_decided` event under its
correlation id and an `exit` alert carry the rule and its numbers.

Nothing here imports `trader.execution`: positions, resting orders, markets and books come in
as values.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from enum import StrEnum
from typing import Any, Protocol

from trader.bus import Bus
from trader.clock import Clock
from trader.domain import (
    ONE,
    ZERO,
    Alert,
    Book,
    Market,
    OrderIntent,
    OrderType,
    Position,
    Severity,
    Side,
    new_correlation_id,
)
from trader.fees import fee_per_share
from trader.signals.exit_prices import RestingOrder, sale_limit, without_own
from trader.signals.pooling import Calibration, CalibrationHolder

log = logging.getLogger(__name__)
SIZE_STEP = Decimal("0.01")
PROBABILITY_STEP = Decimal("0.0001")
FLOOR, CEILING = Decimal("0.01"), Decimal("0.99")  # the blend's clamp, as the ensemble's
STRATEGY = "exit"


class ExitRule(StrEnum):
    ORDERS_STOPPING = "orders_stopping"
    ADVERSE_MOVE = "adverse_move"
    EDGE_GONE = "edge_gone"


@dataclass(frozen=True, slots=True)
class ExitConfig:
    enabled: bool = True
    adverse_move: Decimal = Decimal("0.10")  # probability points since entry
    min_edge: Decimal = Decimal("0.01")  # per share, holding over selling at the bid
    close_horizon: timedelta = timedelta(hours=24)
    stop_horizon: timedelta = timedelta(minutes=30)
    slippage: Decimal = Decimal("0.05")  # the floor: best bid x (1 - slippage)
    max_discount: Decimal = Decimal("0.10")  # never below the token's value less this
    max_spread: Decimal = Decimal("0.10")  # no exit into a wider book

    def __post_init__(self) -> None:
        if not ZERO < self.adverse_move < ONE:
            raise ValueError("EXIT_ADVERSE_MOVE is a probability move in (0, 1)")
        if not -ONE < self.min_edge < ONE:
            raise ValueError("EXIT_MIN_EDGE is a probability edge in (-1, 1)")
        if not ZERO <= self.slippage < ONE:
            raise ValueError("EXIT_SLIPPAGE is a fraction in [0, 1)")
        if not ZERO <= self.max_discount < ONE:
            raise ValueError("EXIT_MAX_DISCOUNT is a price in [0, 1)")
        if not ZERO < self.max_spread <= ONE:
            raise ValueError("EXIT_MAX_SPREAD is a price in (0, 1]")
        if self.close_horizon < timedelta(0) or self.stop_horizon < timedelta(0):
            raise ValueError("EXIT_CLOSE_HORIZON_S and EXIT_STOP_HORIZON_S are not negative")


@dataclass(frozen=True, slots=True)
class ModelView:
    """What the forecasts say about one market, of its YES outcome: the blend that traded it
    (None when no forecast did) and the latest forecast's aggregate, to blend again with the
    market's mid now (None when nothing forecast the market)."""

    entry_yes: Decimal | None
    aggregate: Decimal | None
    source: str = "llm"


@dataclass(frozen=True, slots=True)
class HeldView:
    """The blended probability of the held token winning: at entry and now."""

    entry: Decimal | None
    now: Decimal | None


@dataclass(frozen=True, slots=True)
class ExitDecision:
    rule: ExitRule
    reason: str
    intent: OrderIntent
    outcome: str
    view: HeldView
    best_bid: Decimal


def reblend(aggregate: Decimal, market_yes: Decimal, calibration: Calibration) -> Decimal:
    """The model's YES view blended with the market's YES mid, as the ensemble blends it."""
    pooled = calibration.pool(aggregate, market_yes)
    return min(max(pooled, FLOOR), CEILING).quantize(PROBABILITY_STEP)


def held_view(
    view: ModelView | None, outcome: str, market_yes: Decimal | None, calibration: Calibration
) -> HeldView:
    """The views of `outcome` ("Yes" or "No") winning, from the market's YES views."""
    if view is None:
        return HeldView(None, None)
    now = None
    if view.aggregate is not None and market_yes is not None:
        now = reblend(view.aggregate, market_yes, calibration)
    if outcome.casefold() == "no":
        return HeldView(_complement(view.entry_yes), _complement(now))
    return HeldView(view.entry_yes, now)


def _complement(probability: Decimal | None) -> Decimal | None:
    return None if probability is None else ONE - probability


def _hours(span: timedelta) -> str:
    return f"{span.total_seconds() / 3600:.1f} h"


def exit_rule(
    market: Market,
    bid: Decimal,
    view: HeldView,
    now: datetime,
    config: ExitConfig,
) -> tuple[ExitRule, str] | None:
    """The first rule that says sell, with its reason in words and numbers; None: hold.
    `bid` is the held token's best bid."""
    left = market.end_date - now if market.end_date is not None else None
    return (
        _orders_stopping(market, left, config)
        or _adverse_move(view, config)
        or _edge_gone(market, bid, view, left, config)
    )


def _orders_stopping(
    market: Market, left: timedelta | None, config: ExitConfig
) -> tuple[ExitRule, str] | None:
    if market.end_date is None or left is None or config.stop_horizon <= timedelta(0):
        return None
    if left > config.stop_horizon:
        return None
    when = f"in {left.total_seconds() / 60:.0f} min" if left > timedelta(0) else "passed"
    return ExitRule.ORDERS_STOPPING, (
        f"the market stops taking orders at its end {market.end_date:%Y-%m-%d %H:%M} UTC "
        f"({when}; EXIT_STOP_HORIZON_S {config.stop_horizon.total_seconds():.0f})"
    )


def _adverse_move(view: HeldView, config: ExitConfig) -> tuple[ExitRule, str] | None:
    if view.entry is None or view.now is None:
        return None
    fall = view.entry - view.now
    if fall < config.adverse_move:
        return None
    return ExitRule.ADVERSE_MOVE, (
        f"the blended probability fell from {view.entry} at entry to {view.now} "
        f"(by {fall}, at least EXIT_ADVERSE_MOVE {config.adverse_move})"
    )


def _edge_gone(
    market: Market, bid: Decimal, view: HeldView, left: timedelta | None, config: ExitConfig
) -> tuple[ExitRule, str] | None:
    if view.now is None or left is None or config.close_horizon <= timedelta(0):
        return None
    if left > config.close_horizon:
        return None
    proceeds = bid - fee_per_share(bid, market.fees)
    edge = view.now - proceeds
    if edge >= config.min_edge:
        return None
    return ExitRule.EDGE_GONE, (
        f"edge gone: blended probability {view.now} against {proceeds:.4f} a share at the "
        f"bid {bid} after fees (edge {edge:.4f}, below EXIT_MIN_EDGE {config.min_edge}) "
        f"and the market closes in {_hours(left)} (EXIT_CLOSE_HORIZON_S "
        f"{config.close_horizon.total_seconds():.0f})"
    )


def decide_exit(
    position: Position,
    market: Market,
    book: Book,
    view: HeldView,
    now: datetime,
    config: ExitConfig,
) -> ExitDecision | None:
    """The exit of `position`, or None when it is held (or cannot be sold now: no bid, fewer
    shares than the market's minimum order, or a book `sale_limit` will not sell into)."""
    size = position.size.quantize(SIZE_STEP, rounding=ROUND_DOWN)
    if book.best_bid is None or size < max(book.min_order_size, SIZE_STEP):
        return None
    fired = exit_rule(market, book.best_bid, view, now, config)
    if fired is None:
        return None
    rule, why = fired
    limit = sale_limit(
        book,
        view.now,
        slippage=config.slippage,
        spread=config.max_spread,
        discount=config.max_discount,
    )
    if isinstance(limit, str):
        log.info("exits: %s held (%s fired): %s", position.token_id[:12], rule, limit)
        return None
    outcome = next((t.outcome for t in market.tokens if t.token_id == position.token_id), "")
    reason = f"exit ({rule}): sell {size} {outcome}: {why}"
    intent = OrderIntent(
        market=market.condition_id,
        token_id=position.token_id,
        side=Side.SELL,
        limit_price=limit,
        size=size,
        strategy=STRATEGY,
        reason=reason,
        correlation_id=new_correlation_id(),
        order_type=OrderType.FAK,
        model_probability=view.now,
        market_probability=book.mid,
    )
    return ExitDecision(rule, reason, intent, outcome, view, book.best_bid)


def plan_exits(
    positions: Sequence[Position],
    markets: Mapping[str, Market],
    books: Mapping[str, Book],
    views: Mapping[str, ModelView],
    calibrations: Mapping[str, Calibration],
    now: datetime,
    config: ExitConfig,
) -> list[ExitDecision]:
    """The exits of `positions` (those whose market and book are known and open)."""
    exits = []
    for position in positions:
        market, book = markets.get(position.market), books.get(position.token_id)
        if market is None or book is None or market.closed or not market.accepting_orders:
            continue
        outcome = next((t.outcome for t in market.tokens if t.token_id == position.token_id), "")
        yes = market.token("Yes")
        mid = books[yes.token_id].mid if yes is not None and yes.token_id in books else None
        view = views.get(market.condition_id)
        calibration = calibrations.get(view.source if view else "", calibrations["llm"])
        held = held_view(view, outcome, mid, calibration)
        decision = decide_exit(position, market, book, held, now, config)
        if decision is not None:
            exits.append(decision)
    return exits


class ModelViewSource(Protocol):
    async def views(self, markets: Sequence[str]) -> dict[str, ModelView]: ...


Record = Callable[[str, Mapping[str, Any], str], None]  # event type, payload, correlation id


class ExitWatch:
    """Runs the exit rules over the open positions once per signal cycle and publishes the
    exits: an `exit_decided` event, the intent on `bus.intents`, an `exit` alert."""

    def __init__(
        self,
        config: ExitConfig,
        *,
        positions: Callable[[], Sequence[Position]],
        books: Callable[[str], Awaitable[Book]],
        views: ModelViewSource,
        calibration: CalibrationHolder,
        clock: Clock,
        bus: Bus,
        record: Record,
        resting: Callable[[], Sequence[RestingOrder]] = tuple,
    ) -> None:
        self.config = config
        self._positions, self._books, self._views = positions, books, views
        self._resting = resting
        self._calibration, self._clock, self._bus, self._record = calibration, clock, bus, record

    async def run(
        self, markets: Sequence[Market], *, skip: Iterable[str] = (), cycle_id: str = ""
    ) -> list[ExitDecision]:
        """Exits of the positions, except in the markets in `skip` (this cycle's own intents
        decided those)."""
        if not self.config.enabled:
            return []
        skipped = set(skip)
        held = [p for p in self._positions() if p.size > ZERO and p.market not in skipped]
        by_id = {m.condition_id: m for m in markets}
        held = [p for p in held if p.market in by_id]
        resting = list(self._resting())
        bidding = {o.token_id for o in resting if o.side is Side.BUY and o.remaining > ZERO}
        for position in (p for p in held if p.token_id in bidding):  # a sale would hit it
            log.info("exits: %s waits: our BUY rests on it", position.token_id[:12])
        held = [p for p in held if p.token_id not in bidding]
        if not held:
            return []
        books = {
            token: without_own(book, resting)
            for token, book in (await self._read_books(held, by_id)).items()
        }
        views = await self._views.views(sorted({p.market for p in held}))
        calibrations = {
            "llm": self._calibration.current,
            "heuristic": self._calibration.config.heuristic(),
        }
        now = self._clock.now()
        decisions = plan_exits(held, by_id, books, views, calibrations, now, self.config)
        for decision in decisions:
            self._publish(decision, by_id[decision.intent.market], cycle_id)
        return decisions

    async def _read_books(
        self, held: Sequence[Position], markets: Mapping[str, Market]
    ) -> dict[str, Book]:
        """The held tokens' books and their markets' YES books; a token without one is left
        out (its position waits for the next cycle)."""
        wanted = {p.token_id for p in held}
        wanted |= {yes.token_id for p in held if (yes := markets[p.market].token("Yes"))}
        books: dict[str, Book] = {}
        for token in sorted(wanted):
            try:
                books[token] = await self._books(token)
            except Exception as exc:  # any venue or transport error: this token waits a cycle
                log.warning("exits: no book for %s: %s", token[:12], exc)
        return books

    def _publish(self, decision: ExitDecision, market: Market, cycle_id: str) -> None:
        intent, corr = decision.intent, decision.intent.correlation_id
        self._record(EXIT_DECIDED, exit_payload(decision, cycle_id), corr)
        self._bus.intents.publish(intent, corr)
        title = f"Exit: selling {intent.size} {decision.outcome} ({decision.rule})"
        body = f"{market.question}\n{decision.reason}"
        alert = Alert("exit", Severity.WARNING, title, body, corr, f"exit:{corr}")
        self._bus.alerts.publish(alert, corr)


EXIT_DECIDED = "exit_decided"


def exit_payload(decision: ExitDecision, cycle_id: str = "") -> dict[str, Any]:
    """The `exit_decided` event: which rule, why, and the numbers it weighed."""
    intent = decision.intent
    return {
        "cycle": cycle_id,
        "rule": str(decision.rule),
        "reason": decision.reason,
        "market": intent.market,
        "token_id": intent.token_id,
        "outcome": decision.outcome,
        "size": intent.size,
        "limit_price": intent.limit_price,
        "best_bid": decision.best_bid,
        "entry_view": decision.view.entry,
        "view_now": decision.view.now,
    }

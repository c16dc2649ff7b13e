"""The portfolio: cash, positions, working orders, marks, PnL, peak equity and drawdown.

Everything here is in memory and synchronous, so the hot path can read exposure and apply a
fill without awaiting. Fills update positions at once (optimistically); reconciliation
corrects cash and positions from the venue, which wins. The execution engine persists what
changes (fills, positions, equity snapshots); `load` rebuilds the state after a restart.

Working orders are the orders the engine has committed to (written to the database and sent
or about to be): an open BUY reserves its remaining notional plus fee, an open SELL offers its
remaining shares, and both count against the open-orders limit.

Positions are valued at what selling them now would realise, not at the mid (`marks`: the
last book's bids walked for the size, net of the taker fee; no bid: zero). Before any book, a
position is valued at its last price (`mark`, or its first fill), else its cost.

Market resolution pays 1 (or 0, or a split) per share; `settle` realizes the PnL and keeps the
payout as *redeemable* (on-chain, not yet cash at the venue) until reconciliation sees it
(`redeem`: equity does not move). Deposits and withdrawals are cash flows, not PnL
(`apply_cash_flow`, see `trader.execution.cash_flows`): they move the day's starting equity and
scale the peak with them, so neither the day's PnL nor the drawdown sees them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from decimal import Decimal

from trader.clock import Clock
from trader.domain import NO_FEES, ZERO, Book, BookLevel, FeeSchedule, Fill, Position, Side
from trader.execution.cash_flows import Redeemable, scale_peak
from trader.execution.ledger import (
    Realization,
    apply_fill,
    cash_delta,
    fills_cash,
    settlement_fill,
)
from trader.execution.marks import FeeLookup, exit_value, no_fees
from trader.execution.risk import ExposureSnapshot
from trader.fees import fee_per_share


@dataclass(slots=True)
class WorkingOrder:
    client_order_id: str
    order_id: str  # the venue's id (known before submit)
    token_id: str
    market: str
    side: Side
    price: Decimal
    size: Decimal
    matched: Decimal = ZERO
    fees: FeeSchedule = NO_FEES
    correlation_id: str = ""

    @property
    def remaining(self) -> Decimal:
        return max(self.size - self.matched, ZERO)

    @property
    def reserved_cash(self) -> Decimal:
        if self.side is Side.SELL:
            return ZERO
        return self.remaining * (self.price + fee_per_share(self.price, self.fees))


@dataclass(frozen=True, slots=True)
class FillEffect:
    fill: Fill
    position: Position
    realized: Decimal
    cash_delta: Decimal
    order: WorkingOrder | None  # the working order it filled, if we know it


@dataclass(frozen=True, slots=True)
class SettledPosition:
    token_id: str
    market: str
    size: Decimal
    payout: Decimal  # per share
    realized: Decimal
    fill: Fill  # the synthetic settlement fill, to persist


@dataclass(frozen=True, slots=True)
class PortfolioSummary:
    at: datetime
    cash: Decimal
    reserved: Decimal
    redeemable: Decimal
    equity: Decimal
    exposure: Decimal  # positions at cost plus open BUY orders
    positions_value: Decimal  # positions at their marks
    unrealized: Decimal
    realized: Decimal  # every sell and settlement in the fill history
    day_pnl: Decimal
    peak_equity: Decimal
    drawdown: Decimal  # fraction below peak
    open_positions: int
    open_orders: int


class Portfolio:
    def __init__(
        self,
        clock: Clock,
        *,
        zone: tzinfo,
        cash: Decimal = ZERO,
        fees: FeeLookup = no_fees,
    ) -> None:
        self._clock = clock
        self._zone = zone
        self._fees = fees
        self.cash = cash
        self._positions: dict[str, Position] = {}
        self._marks: dict[str, Decimal] = {}  # display marks: the mid, or the last price
        self._bids: dict[str, tuple[BookLevel, ...]] = {}  # the last book's bids, to value at
        self._orders: dict[str, WorkingOrder] = {}  # by venue order id
        self._closed_waiters: dict[str, asyncio.Event] = {}
        self._seen: set[tuple[str, str]] = set()
        # Kept as plain tuples of atoms, which the garbage collector stops tracking once they
        # survive a collection: one is kept per closing fill for good (the win rate, realized
        # PnL), and as `Realization` objects every full collection would walk them all.
        self._realizations: list[_Kept] = []
        self._redeemable: dict[str, Decimal] = {}  # by market
        self._redeemable_tokens: dict[str, set[str]] = {}  # by market: the tokens it pays
        self._settled_tokens: set[str] = set()
        self._fills_cash = ZERO  # what every fill applied so far did to cash
        self._peak = ZERO
        self._day: date | None = None
        self._day_start_equity = ZERO

    def load(
        self,
        *,
        cash: Decimal,
        positions: Iterable[Position],
        fills: Iterable[Fill] = (),
        realizations: Iterable[Realization] = (),
        orders: Iterable[WorkingOrder] = (),
        redeemable: Mapping[str, Decimal] | None = None,
        redeemable_tokens: Mapping[str, Iterable[str]] | None = None,
        settled_tokens: Iterable[str] = (),
        peak_equity: Decimal | None = None,
        day_start_equity: Decimal | None = None,
        day_flows: Decimal = ZERO,
    ) -> None:
        """Restore after a restart (then reconciliation corrects it from the venue).
        `day_flows`: deposits and withdrawals since the start of the day, which the day's
        starting equity (a snapshot from before them) does not count."""
        self.cash = cash
        self._positions = {p.token_id: p for p in positions if p.size != ZERO}
        fills = list(fills)
        self._seen = {f.key for f in fills}
        self._fills_cash = fills_cash(fills)
        self._realizations = [_kept(r) for r in sorted(realizations, key=lambda r: r.at)]
        self._orders = {o.order_id: o for o in orders}
        self._redeemable = dict(redeemable or {})
        self._redeemable_tokens = {m: set(t) for m, t in (redeemable_tokens or {}).items()}
        self._settled_tokens = set(settled_tokens)
        equity = self.equity()
        self._peak = max(peak_equity or ZERO, equity)
        self._day = self._today()
        if day_start_equity is None:
            self._day_start_equity = equity
        else:
            self._day_start_equity = day_start_equity + day_flows

    # working orders ------------------------------------------------------------------------

    def add_order(self, order: WorkingOrder) -> None:
        self._orders[order.order_id] = order

    def order(self, order_id: str) -> WorkingOrder | None:
        return self._orders.get(order_id)

    def close_order(self, order_id: str) -> WorkingOrder | None:
        """The order is done (filled, cancelled, rejected): release what it reserved."""
        waiter = self._closed_waiters.pop(order_id, None)
        if waiter is not None:
            waiter.set()
        return self._orders.pop(order_id, None)

    def closed(self, order_id: str) -> asyncio.Event:
        """An event set once this order is no longer working (set already if it is not)."""
        event = self._closed_waiters.setdefault(order_id, asyncio.Event())
        if order_id not in self._orders:
            self._closed_waiters.pop(order_id, None)
            event.set()
        return event

    def working_orders(self) -> list[WorkingOrder]:
        return list(self._orders.values())

    # fills ---------------------------------------------------------------------------------

    def has_seen(self, fill: Fill) -> bool:
        return fill.key in self._seen

    def apply_fill(self, fill: Fill) -> FillEffect | None:
        """Update cash and the position at once; None if this fill was applied before."""
        if fill.key in self._seen:
            return None
        self._seen.add(fill.key)
        position, realized = apply_fill(self._positions.get(fill.token_id), fill)
        self._store(position)
        delta = cash_delta(fill)
        self.cash += delta
        self._fills_cash += delta
        if fill.side is Side.SELL:
            self._realizations.append(
                (fill.timestamp, fill.token_id, position.market, fill.size, realized)
            )
        order = self._orders.get(fill.order_id)
        if order is not None:
            order.matched += fill.size
            if order.remaining <= ZERO:
                self.close_order(fill.order_id)
        self._marks.setdefault(fill.token_id, fill.price)
        return FillEffect(fill, position, realized, delta, order)

    def _store(self, position: Position) -> None:
        if position.size == ZERO:
            self._positions.pop(position.token_id, None)
        else:
            self._positions[position.token_id] = position

    # marks ---------------------------------------------------------------------------------

    def mark(self, token_id: str, price: Decimal) -> None:
        """A stated price: the position is valued at it (not at a book) until the next book."""
        self._marks[token_id] = price
        self._bids.pop(token_id, None)

    def mark_book(self, book: Book) -> None:
        """Value the token at this book's bids from now on; display its mid."""
        self._bids[book.token_id] = book.bids
        price = book.mid if book.mid is not None else book.best_bid
        if price is not None:
            self._marks[book.token_id] = price

    def mark_price(self, token_id: str) -> Decimal | None:
        """The display mark (the book's mid when it has both sides), not what equity uses."""
        return self._marks.get(token_id)

    def exit_value(self, token_id: str) -> Decimal | None:
        """What the position in `token_id` is worth to equity (see `trader.execution.marks`)."""
        position = self._positions.get(token_id)
        return None if position is None else self._value(position)

    # corrections from reconciliation -----------------------------------------------------

    def set_cash(self, cash: Decimal) -> None:
        self.cash = cash

    def set_position(self, position: Position) -> None:
        self._store(position)

    def mark_fill_seen(self, fill: Fill) -> None:
        self._seen.add(fill.key)

    def redeem(self, market: str) -> Decimal:
        """The venue paid `market`'s payout out (it shows in its cash): it moves from
        redeemable to cash, once; equity does not change. The amount moved."""
        amount = self._redeemable.pop(market, ZERO)
        self._redeemable_tokens.pop(market, None)
        self.cash += amount
        return amount

    def apply_cash_flow(self, amount: Decimal) -> None:
        """A deposit (> 0) or a withdrawal (< 0): cash moves, and so do the day's starting
        equity and (time-weighted) the peak, so the day's PnL and the drawdown do not."""
        self.observe()
        before = self.equity()
        self.cash += amount
        self._peak = scale_peak(self._peak, before, amount)
        self._day_start_equity += amount

    @property
    def fills_cash(self) -> Decimal:
        """The sum of what every fill applied did to cash (a watermark for the restart: cash
        remembered with it, plus what fills recorded since did, is the cash we expect)."""
        return self._fills_cash

    # settlement ----------------------------------------------------------------------------

    def settle(self, market: str, payouts: Mapping[str, Decimal]) -> list[SettledPosition]:
        """Close every position in `market` at its token's payout; realize the PnL."""
        now = self._clock.now()
        settled: list[SettledPosition] = []
        for position in [p for p in self._positions.values() if p.market == market]:
            payout = payouts.get(position.token_id, ZERO)
            fill = settlement_fill(position, payout, now)
            effect = self.apply_fill(fill)
            if effect is None:
                continue
            amount = payout * position.size
            self._settled_tokens.add(position.token_id)
            self._redeemable[market] = self._redeemable.get(market, ZERO) + amount
            self._redeemable_tokens.setdefault(market, set()).add(position.token_id)
            self._marks[position.token_id] = payout
            settled.append(
                SettledPosition(
                    position.token_id, market, position.size, payout, effect.realized, fill
                )
            )
        return settled

    # views ---------------------------------------------------------------------------------

    def position(self, token_id: str) -> Position | None:
        return self._positions.get(token_id)

    def positions(self) -> list[Position]:
        return sorted(self._positions.values(), key=lambda p: (p.market, p.token_id))

    def holdings(self) -> dict[str, Decimal]:
        """Shares per token held plus those open BUY orders may still buy, less those open
        SELL orders offer: what the stake will be if working orders complete. Sizing nets a
        new Kelly stake against this, so a re-analysis adds only the difference."""
        held = {token: p.size for token, p in self._positions.items()}
        for order in self._orders.values():
            delta = order.remaining if order.side is Side.BUY else -order.remaining
            held[order.token_id] = held.get(order.token_id, ZERO) + delta
        return {token: max(size, ZERO) for token, size in held.items()}

    @property
    def redeemable(self) -> dict[str, Decimal]:
        return dict(self._redeemable)

    def redeemables(self) -> dict[str, Redeemable]:
        """Each settled market's payout still to reach the venue's cash, with its tokens."""
        return {
            market: Redeemable(amount, frozenset(self._redeemable_tokens.get(market, ())))
            for market, amount in self._redeemable.items()
        }

    @property
    def settled_tokens(self) -> frozenset[str]:
        return frozenset(self._settled_tokens)

    def reserved_cash(self) -> Decimal:
        return sum((o.reserved_cash for o in self._orders.values()), ZERO)

    def positions_value(self) -> Decimal:
        return sum((self._value(p) for p in self._positions.values()), ZERO)

    def _value(self, position: Position) -> Decimal:
        """The realisable value: the bids walked for the size, net of the sale's taker fee."""
        bids = self._bids.get(position.token_id)
        if bids is None:  # no book yet: the last stated price, else cost
            price = self._marks.get(position.token_id, position.average_price)
            return position.size * price
        return exit_value(position.size, bids, self._fees(position.market))

    def unrealized(self) -> Decimal:
        return sum(
            (self._value(p) - p.size * p.average_price for p in self._positions.values()),
            ZERO,
        )

    def equity(self) -> Decimal:
        return self.cash + sum(self._redeemable.values(), ZERO) + self.positions_value()

    def exposure(self, market: str | None = None) -> Decimal:
        """Positions at cost plus open BUY orders (in one market, or all)."""
        held = sum(
            (
                p.size * p.average_price
                for p in self._positions.values()
                if market is None or p.market == market
            ),
            ZERO,
        )
        working = sum(
            (
                o.reserved_cash
                for o in self._orders.values()
                if market is None or o.market == market
            ),
            ZERO,
        )
        return held + working

    def exposure_for(
        self, market: str, token_id: str, event_markets: Iterable[str] = ()
    ) -> ExposureSnapshot:
        """`event_markets`: every market of `market`'s neg-risk event (none: not one)."""
        self.observe()
        position = self._positions.get(token_id)
        offered = sum(
            (
                o.remaining
                for o in self._orders.values()
                if o.token_id == token_id and o.side is Side.SELL
            ),
            ZERO,
        )
        return ExposureSnapshot(
            available_cash=self.cash - self.reserved_cash(),
            token_shares=position.size if position else ZERO,
            token_shares_offered=offered,
            market_exposure=self.exposure(market),
            total_exposure=self.exposure(),
            open_orders=len(self._orders),
            day_pnl=self.day_pnl(),
            drawdown=self.drawdown(),
            event_exposure=sum((self.exposure(m) for m in set(event_markets)), ZERO),
        )

    def observe(self) -> Decimal:
        """Update the peak and the day's starting equity; returns the equity now."""
        equity = self.equity()
        today = self._today()
        if self._day != today:
            self._day = today
            self._day_start_equity = equity
        self._peak = max(self._peak, equity)
        return equity

    def day_pnl(self) -> Decimal:
        return self.equity() - self._day_start_equity

    def drawdown(self) -> Decimal:
        if self._peak <= ZERO:
            return ZERO
        return max(ZERO, (self._peak - self.equity()) / self._peak)

    @property
    def peak_equity(self) -> Decimal:
        return self._peak

    def realizations(self, since: datetime | None = None) -> list[Realization]:
        return [Realization(*r) for r in self._realizations if since is None or r[0] >= since]

    def win_rate(self, since: datetime | None = None) -> tuple[int, int, Decimal | None]:
        """(wins, losses, wins / (wins + losses)) over sells and settlements since `since`."""
        pnls = [r.pnl for r in self.realizations(since)]
        wins = sum(1 for pnl in pnls if pnl > ZERO)
        losses = sum(1 for pnl in pnls if pnl <= ZERO)
        rate = Decimal(wins) / Decimal(wins + losses) if pnls else None
        return wins, losses, rate

    def summary(self) -> PortfolioSummary:
        equity = self.observe()
        return PortfolioSummary(
            at=self._clock.now(),
            cash=self.cash,
            reserved=self.reserved_cash(),
            redeemable=sum(self._redeemable.values(), ZERO),
            equity=equity,
            exposure=self.exposure(),
            positions_value=self.positions_value(),
            unrealized=self.unrealized(),
            realized=sum((r[4] for r in self._realizations), ZERO),
            day_pnl=self.day_pnl(),
            peak_equity=self._peak,
            drawdown=self.drawdown(),
            open_positions=len(self._positions),
            open_orders=len(self._orders),
        )

    def _today(self) -> date:
        return self._clock.now().astimezone(self._zone).date()


_Kept = tuple[datetime, str, str, Decimal, Decimal]  # a `Realization`'s fields, in order


def _kept(realization: Realization) -> _Kept:
    r = realization
    return (r.at, r.token_id, r.market, r.size, r.pnl)

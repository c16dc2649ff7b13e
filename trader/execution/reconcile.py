"""Reconciliation as pure functions: (what the venue reports, what we hold) -> corrections.

The venue wins. `orders_to_look_up` says which of our open orders the venue's open-order list
does not show (the caller asks the venue for each by id); `reconcile` then compares open
orders, trades and positions (and cash) and returns typed corrections for the caller to
apply, log and alert. Nothing here does I/O or reads a clock.

Rules:
- a venue open order we do not know is adopted (placed by hand, or before a lost write); one
  we had closed (a submit judged lost that arrived after all) is reopened;
- an order of ours takes the venue's status and matched size; one the venue has never heard
  of and that has no trades was never received (a crash between the write and the send, or
  a lost request): REJECTED. It is never re-sent: the signed order stays unused;
- an order we closed recently (created within the trades' lookback) whose matched size
  disagrees with the venue's trades for it (REJECTED here, yet traded there, say) is looked up
  and takes the venue's status and matched size; without the venue's order, the trades';
- a venue trade we have not recorded is recorded (it also moves the position); a trade whose
  status moved (MINED, CONFIRMED, FAILED) takes the venue's status;
- positions are compared after those fills; a difference beyond the tolerance takes the
  venue's size (and its average price when it gives one);
- orders being submitted right now and tokens of settled markets are left alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from trader.domain import ZERO, Fill, Order, OrderStatus, Position, Side, TradeStatus
from trader.execution.ledger import apply_fill, cash_delta

SIZE_TOLERANCE = Decimal("0.01")
CASH_TOLERANCE = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class LocalOrder:
    client_order_id: str
    order_id: str  # the venue's id
    token_id: str
    market: str
    side: Side
    price: Decimal
    size: Decimal
    size_matched: Decimal
    status: OrderStatus
    created_at: datetime


@dataclass(frozen=True, slots=True)
class LocalState:
    open_orders: Sequence[LocalOrder]
    known_order_ids: frozenset[str]  # every venue order id we have a row for
    fills: Mapping[tuple[str, str], TradeStatus]  # recorded fills and their status
    positions: Mapping[str, Position]
    cash: Decimal | None = None
    in_flight: frozenset[str] = frozenset()  # order ids being submitted now
    ignored_tokens: frozenset[str] = frozenset()  # settled markets' tokens
    closed_orders: Mapping[str, LocalOrder] = field(default_factory=dict)  # ours, closed here
    recently_closed: Sequence[LocalOrder] = ()  # ours closed here, within the trades' lookback
    now: datetime | None = None
    unknown_grace_s: float = 0.0  # a SUBMITTED order younger than this is not judged yet


@dataclass(frozen=True, slots=True)
class VenueReport:
    open_orders: Sequence[Order]
    trades: Sequence[Fill]
    positions: Sequence[Position]
    cash: Decimal | None = None
    looked_up: Mapping[str, Order | None] = field(default_factory=dict)
    # Tokens whose venue position changed while the venue was being read (positions are read
    # before and after the trades): a fill landed mid-read, so the two reads cannot be compared
    # for them. Their position difference is left for the next run, never claimed (or halted on).
    moving_tokens: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class AdoptOrder:
    order: Order
    kind: str = "adopt_order"

    def describe(self) -> str:
        o = self.order
        return f"unknown open order {o.order_id} at the venue ({o.side} {o.remaining} @ {o.price})"


@dataclass(frozen=True, slots=True)
class UpdateOrder:
    client_order_id: str
    order_id: str
    before: OrderStatus
    after: OrderStatus
    size_matched: Decimal
    reason: str
    kind: str = "update_order"

    def describe(self) -> str:
        return (
            f"order {self.order_id}: {self.before.value} -> {self.after.value}, "
            f"matched {self.size_matched} ({self.reason})"
        )


@dataclass(frozen=True, slots=True)
class RecordFill:
    fill: Fill
    kind: str = "record_fill"

    def describe(self) -> str:
        f = self.fill
        return f"missing fill {f.trade_id}: {f.side} {f.size} @ {f.price} on order {f.order_id}"


@dataclass(frozen=True, slots=True)
class UpdateFillStatus:
    trade_id: str
    order_id: str
    before: TradeStatus
    after: TradeStatus
    kind: str = "update_fill_status"

    def describe(self) -> str:
        return f"trade {self.trade_id}: {self.before.value} -> {self.after.value}"


@dataclass(frozen=True, slots=True)
class SetPosition:
    token_id: str
    market: str
    local_size: Decimal
    venue: Position
    value: Decimal  # the difference valued at the average price, in USD
    kind: str = "set_position"

    def describe(self) -> str:
        return (
            f"position {self.token_id}: ours {self.local_size}, venue {self.venue.size} "
            f"(difference worth {self.value:.2f})"
        )


@dataclass(frozen=True, slots=True)
class SetCash:
    local: Decimal  # ours once the missing fills are applied
    venue: Decimal
    # the tokens the venue holds now: a settled market none of whose tokens it holds was
    # redeemed, which explains (part of) the difference (`trader.execution.cash_flows`)
    venue_held: frozenset[str] = frozenset()
    kind: str = "set_cash"

    def describe(self) -> str:
        return f"cash: ours {self.local:.2f}, venue {self.venue:.2f}"


Correction = AdoptOrder | UpdateOrder | RecordFill | UpdateFillStatus | SetPosition | SetCash


@dataclass(frozen=True, slots=True)
class ReconcileResult:
    corrections: tuple[Correction, ...]
    position_mismatch_value: Decimal  # sum of SetPosition values: the halt compares it

    @property
    def clean(self) -> bool:
        return not self.corrections


def orders_to_look_up(
    local: LocalState, venue_open: Sequence[Order], trades: Sequence[Fill] = ()
) -> list[str]:
    """Our open orders that the venue's open list does not show, and our recently closed
    orders whose matched size the venue's trades contradict: look each up by id."""
    shown = {order.order_id for order in venue_open}
    asked = [
        o.order_id
        for o in local.open_orders
        if o.order_id and o.order_id not in shown and o.order_id not in local.in_flight
    ]
    traded = _matched_by_trades(trades)
    asked += [
        o.order_id
        for o in _closed_to_check(local, shown)
        if traded.get(o.order_id, ZERO) != o.size_matched
    ]
    return asked


def _closed_to_check(local: LocalState, shown: set[str]) -> list[LocalOrder]:
    return [
        o
        for o in local.recently_closed
        if o.order_id
        and o.order_id not in shown
        and o.order_id not in local.in_flight
        and o.order_id not in local.closed_orders
    ]


def _matched_by_trades(trades: Sequence[Fill]) -> dict[str, Decimal]:
    matched: dict[str, Decimal] = {}
    for trade in trades:
        if trade.status is not TradeStatus.FAILED:
            matched[trade.order_id] = matched.get(trade.order_id, ZERO) + trade.size
    return matched


def reconcile(local: LocalState, venue: VenueReport) -> ReconcileResult:
    fills = _fill_corrections(local, venue)
    orders = _order_corrections(local, venue)
    missing = [c.fill for c in fills if isinstance(c, RecordFill)]
    positions = _position_corrections(local, venue, missing)
    corrections: list[Correction] = [*orders, *fills, *positions]
    if local.cash is not None and venue.cash is not None:
        expected = local.cash + sum((cash_delta(f) for f in missing), ZERO)
        if abs(expected - venue.cash) > CASH_TOLERANCE:
            held = frozenset(p.token_id for p in venue.positions if p.size > ZERO)
            corrections.append(SetCash(expected, venue.cash, held))
    mismatch = sum((c.value for c in positions), ZERO)
    return ReconcileResult(tuple(corrections), mismatch)


def _order_corrections(local: LocalState, venue: VenueReport) -> list[Correction]:
    corrections: list[Correction] = []
    venue_open = {o.order_id: o for o in venue.open_orders}
    for order in venue.open_orders:
        closed = local.closed_orders.get(order.order_id)
        if closed is not None:
            corrections.append(
                UpdateOrder(
                    closed.client_order_id,
                    order.order_id,
                    closed.status,
                    order.status,
                    order.size_matched,
                    "open at the venue after all",
                )
            )
        elif order.order_id not in local.known_order_ids:
            corrections.append(AdoptOrder(order))
    matched_by_trades = _matched_by_trades(venue.trades)
    for mine in local.open_orders:
        if not mine.order_id or mine.order_id in local.in_flight:
            continue
        seen = venue_open.get(mine.order_id) or venue.looked_up.get(mine.order_id)
        traded = matched_by_trades.get(mine.order_id, ZERO)
        if seen is None and not traded and _too_young(mine, local):
            continue
        update = _order_update(mine, seen, traded)
        if update is not None:
            corrections.append(update)
    corrections += _closed_corrections(local, venue, matched_by_trades)
    return corrections


def _closed_corrections(
    local: LocalState, venue: VenueReport, matched_by_trades: Mapping[str, Decimal]
) -> list[Correction]:
    corrections: list[Correction] = []
    for closed in _closed_to_check(local, {o.order_id for o in venue.open_orders}):
        traded = matched_by_trades.get(closed.order_id, ZERO)
        if closed.order_id in venue.looked_up and traded != closed.size_matched:
            update = _closed_update(closed, venue.looked_up[closed.order_id], traded)
            if update is not None:
                corrections.append(update)
    return corrections


def _closed_update(mine: LocalOrder, seen: Order | None, traded: Decimal) -> UpdateOrder | None:
    """An order closed here that the venue's trades contradict: the venue's order if it has
    one, else what its trades say."""
    if seen is not None:
        status, matched = seen.status, max(seen.size_matched, traded)
    else:
        status, matched = OrderStatus.MATCHED if traded >= mine.size else mine.status, traded
        if status is OrderStatus.REJECTED and traded > ZERO:
            status = OrderStatus.CANCELED  # it traded, so it was received: partly filled
    if status is mine.status and matched == mine.size_matched:
        return None
    reason = "closed here; the venue reports otherwise"
    return UpdateOrder(mine.client_order_id, mine.order_id, mine.status, status, matched, reason)


def _too_young(mine: LocalOrder, local: LocalState) -> bool:
    if mine.status is not OrderStatus.SUBMITTED or local.now is None:
        return False
    return (local.now - mine.created_at).total_seconds() < local.unknown_grace_s


def _order_update(mine: LocalOrder, seen: Order | None, traded: Decimal) -> UpdateOrder | None:
    if seen is not None:
        matched = max(seen.size_matched, traded)
        if seen.status is mine.status and matched == mine.size_matched:
            return None
        return UpdateOrder(
            mine.client_order_id,
            mine.order_id,
            mine.status,
            seen.status,
            matched,
            "as the venue reports it",
        )
    if traded >= mine.size:
        status, reason = OrderStatus.MATCHED, "gone from the venue, fully traded"
    elif traded > ZERO or mine.status is OrderStatus.LIVE:
        status, reason = OrderStatus.CANCELED, "gone from the venue, not fully traded"
    else:
        status, reason = OrderStatus.REJECTED, "the venue never received it"
    return UpdateOrder(mine.client_order_id, mine.order_id, mine.status, status, traded, reason)


def _fill_corrections(local: LocalState, venue: VenueReport) -> list[Correction]:
    corrections: list[Correction] = []
    for trade in venue.trades:
        known = local.fills.get(trade.key)
        if known is None:
            if trade.status is not TradeStatus.FAILED:
                corrections.append(RecordFill(trade))
        elif known is not trade.status:
            corrections.append(
                UpdateFillStatus(trade.trade_id, trade.order_id, known, trade.status)
            )
    return corrections


def _position_corrections(
    local: LocalState, venue: VenueReport, missing: Sequence[Fill]
) -> list[SetPosition]:
    expected = dict(local.positions)
    for fill in missing:
        expected[fill.token_id], _ = apply_fill(expected.get(fill.token_id), fill)
    theirs = {p.token_id: p for p in venue.positions}
    corrections: list[SetPosition] = []
    for token in sorted(set(expected) | set(theirs)):
        if token in local.ignored_tokens or token in venue.moving_tokens:
            continue
        ours = expected.get(token)
        our_size = ours.size if ours is not None else ZERO
        venue_position = theirs.get(token) or Position(
            token_id=token, size=ZERO, average_price=ZERO, market=ours.market if ours else ""
        )
        difference = abs(venue_position.size - our_size)
        if difference <= SIZE_TOLERANCE:
            continue
        price = venue_position.average_price or (ours.average_price if ours else ZERO)
        market = venue_position.market or (ours.market if ours else "")
        corrections.append(SetPosition(token, market, our_size, venue_position, difference * price))
    return corrections

"""Runs reconciliation against the venue: on start (before any new order), then periodically.

It drains the write-behind queue so the database is current, reads the venue (cash, open
orders, positions, trades by market, each of our open orders it no longer lists, each of our
recently closed orders its trades contradict, and the positions again: a token whose size moved
between the two reads had a fill land mid-read and is not compared this run) and compares with
the pure `reconcile`, all WITHOUT the engine's decision lock: a slow venue must not hold up
decisions or a kill. Only applying the corrections takes the lock, and each is re-validated
there against what changed since the gather (`_still_valid`): an order now being submitted, an
order now known here, a position or cash that moved meanwhile are left for the next run.
Corrections go to the database, the portfolio, the event log, and one summary alert per run. A
position difference beyond the tolerance triggers the automatic halt.

A cash difference left after the missing fills is explained, in this order, by redemptions
(a settled market whose tokens the venue no longer holds: its payout moves from redeemable
to cash, `redemption_received`) and then by a cash flow (a deposit or withdrawal: a
`cash_flow` event, a row in `cash_flows`, one alert), never by PnL
(`trader.execution.cash_flows`). A flow is recorded only when two runs in a row see the same
unexplained difference (the first appends `cash_difference_seen` and leaves our cash as it
is): a fill landing between the venue's balance and its trades being read makes a
difference for one run only, and must not become a deposit.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from decimal import Decimal

from trader.bus import Bus
from trader.clock import Clock
from trader.domain import ZERO, Alert, Fill, Order, Position, Severity, new_correlation_id
from trader.execution.cash_flows import UNEXPLAINED, VENUE, CashFlow, explain_cash_change
from trader.execution.engine import ExecutionEngine
from trader.execution.portfolio import WorkingOrder
from trader.execution.ports import EventSink, ResolvesUnknown
from trader.execution.reconcile import (
    CASH_TOLERANCE,
    AdoptOrder,
    Correction,
    LocalOrder,
    LocalState,
    ReconcileResult,
    RecordFill,
    SetCash,
    SetPosition,
    UpdateFillStatus,
    UpdateOrder,
    VenueReport,
    orders_to_look_up,
    reconcile,
)
from trader.execution.store import OrderRecord

log = logging.getLogger(__name__)
MismatchHook = Callable[[Decimal, str], Awaitable[object]]
MAX_ALERT_LINES = 10


def local_order(record: OrderRecord) -> LocalOrder:
    return LocalOrder(
        record.client_order_id,
        record.order_id,
        record.token_id,
        record.market,
        record.side,
        record.price,
        record.size,
        record.size_matched,
        record.status,
        record.created_at,
    )


class Reconciler:
    def __init__(
        self,
        *,
        engine: ExecutionEngine,
        events: EventSink,
        bus: Bus,
        clock: Clock,
        lookback: timedelta = timedelta(days=7),
        unknown_grace_s: float = 30.0,
        on_mismatch: MismatchHook | None = None,
        before_run: Callable[[], Awaitable[object]] | None = None,
        after_cash_moved: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        self._engine = engine
        self._events = events
        self._bus = bus
        self._clock = clock
        self._lookback = lookback
        self._grace = unknown_grace_s
        self._on_mismatch = on_mismatch
        self._before_run = before_run  # settle resolved markets first (their positions vanish)
        # remember the cash it explained (a redemption, a flow), so a restart does not again
        self._after_cash_moved = after_cash_moved
        self._cash_moved = False
        self._flow_candidate: Decimal | None = None  # the last run's unexplained difference
        self._flow_seen: Decimal | None = None  # this run's
        self.runs = 0
        self.last_result: ReconcileResult | None = None

    async def run_once(self, reason: str = "periodic") -> ReconcileResult:
        engine = self._engine
        if self._before_run is not None:
            await self._before_run()
        corr = new_correlation_id()
        self._flow_seen = None
        starting = reason == "start"  # nothing of ours is in flight: its process is gone
        result, local, venue = await self._compare(starting=starting)
        if any(isinstance(c, SetPosition) for c in result.corrections):
            # A fill landing between the venue's reads is not a difference: apply the rest,
            # read again, and take only the position differences that remain.
            rest: list[Correction] = [
                c for c in result.corrections if not isinstance(c, SetPosition)
            ]
            first = await self._apply_all(rest, local, corr)
            again, local, venue = await self._compare(starting=starting)
            applied = await self._apply_all(again.corrections, local, corr)
            result = _applied(again, (*first, *applied))
        else:
            result = _applied(result, await self._apply_all(result.corrections, local, corr))
        async with engine.lock:
            if starting and venue.cash is not None and self._flow_seen is None:
                engine.portfolio.set_cash(venue.cash)
        self._flow_candidate = self._flow_seen
        await engine.writer.drain_now()
        async with engine.lock:
            await self._prune_working(venue)
        if self._cash_moved and self._after_cash_moved is not None:
            await self._after_cash_moved()  # the flow's row is written: drained above
        self._cash_moved = False
        self.runs += 1
        self.last_result = result
        self._report(result, reason, corr)
        if result.position_mismatch_value > 0 and self._on_mismatch is not None:
            await self._on_mismatch(result.position_mismatch_value, _summary(result))
        return result

    async def _compare(self, *, starting: bool) -> tuple[ReconcileResult, LocalState, VenueReport]:
        await self._engine.writer.drain_now()  # the database must be current
        local, venue = await self._gather(starting=starting)
        return reconcile(local, venue), local, venue

    async def _apply_all(
        self, corrections: Sequence[Correction], local: LocalState, corr: str
    ) -> list[Correction]:
        """Under the decision lock, apply what still holds; the corrections applied."""
        applied: list[Correction] = []
        async with self._engine.lock:
            for correction in corrections:
                if await self._still_valid(correction, local):
                    await self._apply(correction, corr)
                    applied.append(correction)
        return applied

    async def _still_valid(self, correction: Correction, local: LocalState) -> bool:
        """Whether a correction computed from the gathered picture still fits the present
        (a decision or a fill may have run while the venue was being read)."""
        engine, portfolio = self._engine, self._engine.portfolio
        if isinstance(correction, UpdateOrder):
            return correction.order_id not in engine.in_flight
        if isinstance(correction, AdoptOrder):
            order_id = correction.order.order_id
            if portfolio.order(order_id) is not None or order_id in engine.in_flight:
                return False
            return not await engine.store.orders_by_ids([order_id])
        if isinstance(correction, SetPosition):
            now, then = (
                portfolio.position(correction.token_id),
                local.positions.get(correction.token_id),
            )
            return _size(now) == _size(then)
        if isinstance(correction, SetCash):  # as gathered, or with the missing fills applied
            return local.cash is None or portfolio.cash in (local.cash, correction.local)
        return True  # fills are applied once by trade id; a fill's status only moves on

    async def _gather(self, *, starting: bool) -> tuple[LocalState, VenueReport]:
        engine, portfolio, store = self._engine, self._engine.portfolio, self._engine.store
        now = self._clock.now()
        balance = await engine.venue.balance()
        venue_open = list(await engine.venue.open_orders())
        local_open = [local_order(r) for r in await store.open_orders()]
        venue_ids = [o.order_id for o in venue_open]
        rows = {r.order_id: r for r in await store.orders_by_ids(venue_ids)}
        closed = {i: local_order(r) for i, r in rows.items() if not r.status.is_open}
        positions = list(await engine.venue.positions())
        markets = {o.market for o in local_open} | {o.market for o in venue_open}
        markets |= {p.market for p in portfolio.positions()} | {p.market for p in positions}
        recent = [r for r in await store.recent_orders(200) if r.created_at > now - self._lookback]
        markets |= {r.market for r in recent}
        trades: list[Fill] = []
        for market in sorted(m for m in markets if m):
            trades.extend(await engine.venue.trades(market=market, after=now - self._lookback))
        local = LocalState(
            open_orders=local_open,
            known_order_ids=frozenset(rows),
            fills=await store.fill_statuses(),
            positions={p.token_id: p for p in portfolio.positions()},
            # At start our cash is the one remembered at the last snapshot plus what the fills
            # recorded since did (`Accounts.restore`): what the venue shows beyond that and
            # the fills we missed is redemptions or a cash flow made while we were down.
            cash=portfolio.cash,
            in_flight=frozenset(engine.in_flight),
            ignored_tokens=portfolio.settled_tokens,
            closed_orders=closed,
            recently_closed=[local_order(r) for r in recent if not r.status.is_open],
            now=now,
            unknown_grace_s=0.0 if starting else self._grace,
        )
        looked_up = {
            i: await self._look_up(i) for i in orders_to_look_up(local, venue_open, trades)
        }
        # Read again after the trades: a token whose size moved in between had a fill land
        # mid-read (its trade may be in `trades` while the first read lacks it).
        moving = _moved(positions, await engine.venue.positions())
        report = VenueReport(venue_open, trades, positions, balance.cash, looked_up, moving)
        return local, report

    async def _prune_working(self, venue: VenueReport) -> None:
        """Release working orders that are open neither here nor at the venue any more
        (a MATCHED answer whose fills were recorded from the venue's trades, say)."""
        engine = self._engine
        still_open = {r.order_id for r in await engine.store.open_orders()}
        still_open |= {o.order_id for o in venue.open_orders} | engine.in_flight
        for working in engine.portfolio.working_orders():
            if working.order_id not in still_open:
                engine.portfolio.close_order(working.order_id)

    async def _look_up(self, order_id: str) -> Order | None:
        venue = self._engine.venue
        if isinstance(venue, ResolvesUnknown):
            return await venue.resolve_unknown(order_id)
        return await venue.get_order(order_id)

    async def _apply(self, correction: Correction, corr: str) -> None:
        engine = self._engine
        self._events.append(
            "reconcile_correction",
            {"kind": correction.kind, "detail": correction.describe()},
            correlation_id=corr,
        )
        if isinstance(correction, RecordFill):
            engine.apply_fill(correction.fill, source="reconcile")
        elif isinstance(correction, UpdateOrder):
            await self._update_order(correction)
        elif isinstance(correction, AdoptOrder):
            await self._adopt(correction.order)
        elif isinstance(correction, UpdateFillStatus):
            trade, order, status = correction.trade_id, correction.order_id, correction.after
            engine.writer.enqueue(
                "fill status", lambda: engine.store.set_fill_status(trade, order, status)
            )
        elif isinstance(correction, SetPosition):
            position = _position(correction, engine.portfolio.position(correction.token_id))
            engine.portfolio.set_position(position)
            engine.writer.enqueue("position", lambda: engine.store.save_position(position))
        elif isinstance(correction, SetCash):
            self._set_cash(correction, corr)

    async def _update_order(self, correction: UpdateOrder) -> None:
        engine = self._engine
        # Through the writer, so it lands in order with what the engine has queued.
        engine.writer.enqueue(
            "order",
            lambda: engine.store.update_order(
                correction.client_order_id,
                status=correction.after,
                size_matched=correction.size_matched,
            ),
        )
        working = engine.portfolio.order(correction.order_id)
        if not correction.after.is_open:
            engine.portfolio.close_order(correction.order_id)
        elif working is not None:
            working.matched = correction.size_matched
        else:
            rows = await engine.store.orders_by_ids([correction.order_id])
            if rows:
                engine.portfolio.add_order(_working(rows[0], correction.size_matched))

    async def _adopt(self, order: Order) -> None:
        engine = self._engine
        record = OrderRecord(
            client_order_id=f"adopted-{order.order_id}",
            order_id=order.order_id,
            token_id=order.token_id,
            market=order.market,
            side=order.side,
            price=order.price,
            size=order.original_size,
            status=order.status,
            created_at=order.created_at,
            size_matched=order.size_matched,
            order_type=order.order_type,
            strategy="external",
        )
        engine.writer.enqueue("adopted order", lambda: engine.store.insert_order(record))
        engine.portfolio.add_order(_working(record, order.size_matched))

    def _set_cash(self, correction: SetCash, corr: str) -> None:
        """Explain the venue's cash: redemptions first, then a deposit or withdrawal."""
        portfolio = self._engine.portfolio
        change = correction.venue - portfolio.cash
        explained = explain_cash_change(
            change, portfolio.redeemables(), correction.venue_held, CASH_TOLERANCE
        )
        self._cash_moved = self._cash_moved or bool(explained.redeemed)
        for market, amount in explained.redeemed.items():
            portfolio.redeem(market)
            self._events.append(
                "redemption_received", {"market": market, "amount": amount}, correlation_id=corr
            )
        if explained.flow:
            previous = self._flow_candidate
            if previous is None or abs(previous - explained.flow) > CASH_TOLERANCE:
                self._flow_seen = explained.flow  # a flow if the next run sees it again
                self._events.append(
                    "cash_difference_seen", {"amount": explained.flow}, correlation_id=corr
                )
                return  # our cash stays (with any redemption): nothing is PnL meanwhile
            flow = CashFlow(self._clock.now(), explained.flow, UNEXPLAINED, VENUE)
            self._cash_moved = True
            portfolio.apply_cash_flow(flow.amount)
            self._record_flow(flow, corr)
        portfolio.set_cash(correction.venue)  # what is left is within the tolerance

    def _record_flow(self, flow: CashFlow, corr: str) -> None:
        engine = self._engine
        payload = {"amount": flow.amount, "kind": flow.kind.value, "reason": flow.reason}
        self._events.append("cash_flow", {**payload, "source": flow.source}, correlation_id=corr)
        engine.writer.enqueue("cash flow", lambda: engine.store.record_cash_flow(flow, corr))
        self._bus.alerts.publish(
            Alert(
                "cash_flow",
                Severity.INFO,
                f"Cash flow: {flow.kind.value} of {abs(flow.amount):.2f} pUSD",
                f"{flow.reason}; not counted as PnL (the day's PnL, the daily loss limit "
                "and the drawdown are net of it)",
                corr,
            ),
            corr,
        )

    def _report(self, result: ReconcileResult, reason: str, corr: str) -> None:
        counts: dict[str, int] = {}
        for correction in result.corrections:
            counts[correction.kind] = counts.get(correction.kind, 0) + 1
        self._events.append(
            "reconciled",
            {
                "reason": reason,
                "corrections": counts,
                "mismatch_value": result.position_mismatch_value,
            },
            correlation_id=corr,
        )
        # Trades moving MATCHED -> MINED -> CONFIRMED are routine: logged, not alerted.
        notable = [c for c in result.corrections if not isinstance(c, UpdateFillStatus)]
        if not notable:
            return
        lines = [c.describe() for c in notable[:MAX_ALERT_LINES]]
        if len(notable) > MAX_ALERT_LINES:
            lines.append(f"... and {len(notable) - MAX_ALERT_LINES} more")
        self._bus.alerts.publish(
            Alert(
                "reconciliation",
                Severity.WARNING,
                f"Reconciliation ({reason}) corrected {len(notable)} differences",
                "\n".join(lines),
                corr,
            ),
            corr,
        )


def _applied(result: ReconcileResult, applied: Sequence[Correction]) -> ReconcileResult:
    """The run's result as applied: a position difference dropped as stale does not count."""
    moved = any(isinstance(c, SetPosition) for c in applied)
    return ReconcileResult(tuple(applied), result.position_mismatch_value if moved else ZERO)


def _moved(first: Sequence[Position], second: Sequence[Position]) -> frozenset[str]:
    """Tokens whose venue size differs between two reads."""
    before = {p.token_id: p.size for p in first}
    after = {p.token_id: p.size for p in second}
    return frozenset(t for t in before.keys() | after.keys() if before.get(t) != after.get(t))


def _size(position: Position | None) -> Decimal:
    return position.size if position is not None else ZERO


def _summary(result: ReconcileResult) -> str:
    return "; ".join(c.describe() for c in result.corrections if isinstance(c, SetPosition))


def _position(correction: SetPosition, ours: Position | None) -> Position:
    """The venue's size; its average price when it gives one, else ours."""
    venue = correction.venue
    average = venue.average_price or (ours.average_price if ours else ZERO)
    return Position(
        token_id=correction.token_id,
        size=venue.size,
        average_price=average,
        market=correction.market or (ours.market if ours else ""),
        outcome=venue.outcome or (ours.outcome if ours else ""),
        realized_pnl=ours.realized_pnl if ours else venue.realized_pnl,
    )


def _working(record: OrderRecord, matched: Decimal) -> WorkingOrder:
    return WorkingOrder(
        record.client_order_id,
        record.order_id,
        record.token_id,
        record.market,
        record.side,
        record.price,
        record.size,
        matched,
        correlation_id=record.correlation_id,
    )

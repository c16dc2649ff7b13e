"""The execution engine: the one synchronous hot path that moves money, and the only code
that submits or cancels orders.

intent -> risk (a function call) -> capital reserved -> prepared (rounded, signed, its id known)
-> order row written -> submitted -> fills applied to positions at once.

- The order row (client id, venue id = the signed order's hash, the signed payload) is written
  and committed before the venue is called, with the events before it. What the venue's
  answer changes (the fills' events, the fill rows, the positions they leave, the order's
  status) is applied in memory first (optimistic), then committed in one transaction before
  the call returns (`_write_rows`); if that commit fails or other writes are queued ahead, the
  rows go through the write-behind queue, behind a barrier that writes their events first.
  Reconciliation corrects positions from the venue.
- A submit with an unknown outcome leaves the order SUBMITTED with its capital reserved; it is
  resolved by looking its id up (`resolve_unknown`), never re-signed or re-sent.
- Decisions are serialised by a lock: one intent at a time is checked, reserved and sent, so
  two intents never both fit under a limit only one of them fits under. Fills and cancels do
  not take the lock (they only ever release risk).
- Every step is appended to the event log with the intent's correlation id.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from trader.bus import Bus
from trader.clock import Clock
from trader.domain import (
    NO_FEES,
    SYSTEM_ACTOR,
    ZERO,
    Actor,
    FeeSchedule,
    Fill,
    Order,
    OrderIntent,
    OrderRequest,
    OrderStatus,
    OrderType,
    Position,
    TradingMode,
)
from trader.events import (
    FillApplied,
    IntentDenied,
    OrderRefusedByVenue,
    OrderSubmitted,
    SubmitOutcomeUnknown,
    VenueErrored,
)
from trader.execution.market_data import MarketBoard
from trader.execution.portfolio import Portfolio, WorkingOrder
from trader.execution.ports import (
    EventSink,
    ExecutionResult,
    Outcome,
    intent_payload,
    order_view,
    record_payload,
)
from trader.execution.risk import (
    RiskApproval,
    RiskContext,
    RiskDenial,
    RiskEngine,
    checked_rules,
    spends_amount,
)
from trader.execution.store import Entry, ExecutionStore, FillRows, OrderRecord, WriteBehind
from trader.execution.trading_state import TradingStateMachine
from trader.state import ControlState
from trader.store.trading import OrderChange
from trader.venue.base import (
    OrderRefused,
    PreparedOrder,
    SubmitResult,
    UnknownOutcome,
    Venue,
    VenueError,
)

ApprovalGate = Callable[[OrderIntent, RiskApproval], Awaitable[str]]
# where an approved maker intent goes (trader/execution/maker.py), under the decision lock
MakerGate = Callable[[OrderIntent, RiskApproval], Awaitable[ExecutionResult]]
VenueErrorHook = Callable[[VenueError, str], None]


log = logging.getLogger(__name__)


class ExecutionEngine:
    def __init__(
        self,
        *,
        venue: Venue,
        risk: RiskEngine,
        portfolio: Portfolio,
        board: MarketBoard,
        store: ExecutionStore,
        writer: WriteBehind,
        events: EventSink,
        bus: Bus,
        clock: Clock,
        state: ControlState,
        trading: TradingStateMachine,
        durable: Callable[[], Awaitable[None]] | None = None,
        mode: TradingMode = TradingMode.PAPER,
    ) -> None:
        self.venue = venue
        self._mode = mode
        self._durable = durable
        self.risk = risk
        self.portfolio = portfolio
        self.board = board
        self.store = store
        self.writer = writer
        self._events = events
        self._bus = bus
        self._clock = clock
        self._state = state
        self._trading = trading
        self.lock = asyncio.Lock()
        self.in_flight: set[str] = set()
        self._approval_gate: ApprovalGate | None = None
        self._maker_gate: MakerGate | None = None
        self._on_venue_error: VenueErrorHook | None = None

    def set_approval_gate(self, gate: ApprovalGate | None) -> None:
        self._approval_gate = gate

    def set_maker_gate(self, gate: MakerGate | None) -> None:
        self._maker_gate = gate

    def set_venue_error_hook(self, hook: VenueErrorHook | None) -> None:
        self._on_venue_error = hook

    def risk_horizon_s(self) -> Decimal:
        """How far back sent orders still matter to risk (the rate minute, the cooldown)."""
        return max(Decimal(60), self._state.risk_limits.cooldown_s)

    # the hot path ------------------------------------------------------------------------

    async def handle(
        self, intent: OrderIntent, *, approved_by: str | None = None
    ) -> ExecutionResult:
        """Check, reserve, persist, submit. With approval mode on, an intent that passes risk
        becomes an approval request instead (unless it is the approved one)."""
        corr = intent.correlation_id
        async with self.lock:
            self._events.append(
                "intent_received",
                intent_payload(intent, approved_by),
                correlation_id=corr,
                actor=approved_by or SYSTEM_ACTOR,
            )
            decision = await self._check(intent)
            if isinstance(decision, RiskDenial):
                self._events.record(
                    IntentDenied(
                        decision.rule.value, decision.message, intent.market, intent.side.value
                    ),
                    correlation_id=corr,
                )
                return ExecutionResult(Outcome.DENIED, corr, decision.message, decision.rule.value)
            self._events.append("risk_passed", _passed_payload(decision), correlation_id=corr)
            if approved_by is None and self._state.approval_mode and self._approval_gate:
                key = await self._approval_gate(intent, decision)
                return ExecutionResult(
                    Outcome.AWAITING_APPROVAL,
                    corr,
                    "awaiting approval",
                    size=decision.size,
                    approval_key=key,
                )
            if intent.maker is not None and self._maker_gate is not None:
                return await self._maker_gate(intent, decision)
            return await self._place(intent, decision.size, _amount(intent, decision))

    def _expiration(self, intent: OrderIntent) -> datetime | None:
        """A GTD order's expiry at the venue: the intent's, plus its market's match delay."""
        market = self.board.market(intent.market)
        if intent.order_type is not OrderType.GTD or market is None:
            return intent.expires_at
        return market.order_expiration(intent.expires_at)

    def _fees_of(self, market_id: str) -> FeeSchedule:
        market = self.board.market(market_id)
        return market.fees if market is not None else NO_FEES

    async def recheck(self, intent: OrderIntent) -> RiskApproval | RiskDenial:
        """The rule book again for an intent under way (a maker entry about to post what is
        left of it, the decision lock held; the cooldown skipped: its own orders are no
        repeat), on the record as the first check was (`risk_passed` or `intent_denied`)."""
        if not self.lock.locked():
            raise RuntimeError("recheck needs the decision lock held")
        corr = intent.correlation_id
        decision = await self._check(intent, continuing=True)
        if isinstance(decision, RiskDenial):
            self._events.record(
                IntentDenied(
                    decision.rule.value, decision.message, intent.market, intent.side.value
                ),
                correlation_id=corr,
            )
        else:
            self._events.append("risk_passed", _passed_payload(decision), correlation_id=corr)
        return decision

    async def _check(
        self, intent: OrderIntent, *, continuing: bool = False
    ) -> RiskApproval | RiskDenial:
        market = self.board.market(intent.market)
        view = await self.board.book_for(intent.token_id)
        ctx = RiskContext(
            now=self._clock.now(),
            trading_state=self._trading.state,
            limits=self._state.risk_limits,
            exposure=self.portfolio.exposure_for(
                intent.market, intent.token_id, self.board.event_markets(intent.market)
            ),
            market=market,
            book=view.book,
            book_age_s=view.age_s,
            mode=self._mode,
            stages=self._state.stages,
            continuing=continuing,
        )
        return self.risk.check(intent, ctx)

    async def place_exit(self, intent: OrderIntent, size: Decimal, actor: Actor) -> ExecutionResult:
        """The kill switch's flatten: sells bypass the trading-state gate (we are killed) but
        take the same lock and the same persist-before-submit path."""
        async with self.lock:
            self._events.append(
                "exit_requested",
                intent_payload(intent, str(actor)),
                correlation_id=intent.correlation_id,
                actor=actor,
            )
            return await self._place(intent, size)

    async def place_locked(
        self, intent: OrderIntent, size: Decimal, *, replaces: str | None = None
    ) -> ExecutionResult:
        """The maker desk's orders (a post-only entry, its reprice, an urgent taker fallback):
        the same persist-before-submit path, with the decision lock already held. `replaces`:
        the order of the same intent this one follows (cancelled first), on the record."""
        if not self.lock.locked():
            raise RuntimeError("place_locked needs the decision lock held")
        return await self._place(intent, size, replaces=replaces)

    async def _place(
        self,
        intent: OrderIntent,
        size: Decimal,
        amount: Decimal | None = None,
        *,
        replaces: str | None = None,
    ) -> ExecutionResult:
        corr = intent.correlation_id
        request = OrderRequest(
            token_id=intent.token_id,
            side=intent.side,
            price=intent.limit_price,
            size=size,
            client_order_id=f"po-{uuid.uuid4().hex}",
            order_type=intent.order_type,
            post_only=intent.post_only,
            expiration=self._expiration(intent),
            market=intent.market,
            # a marketable buy of an amount spends what risk approved, as sizing planned it
            amount=amount,
        )
        try:
            prepared = await self.venue.prepare(request)
        except OrderRefused as error:
            self._events.record(OrderRefusedByVenue(error.code, str(error)), correlation_id=corr)
            return ExecutionResult(Outcome.REFUSED, corr, str(error), error.code)
        except VenueError as error:
            return self._venue_failed(error, corr, "prepare")
        rounded = prepared.request
        record = OrderRecord(
            client_order_id=rounded.client_order_id,
            order_id=prepared.order_id,
            token_id=rounded.token_id,
            market=intent.market,
            side=rounded.side,
            price=rounded.price,
            size=rounded.size,
            status=OrderStatus.SUBMITTED,
            created_at=self._clock.now(),
            order_type=rounded.order_type,
            post_only=rounded.post_only,
            expires_at=rounded.expiration,
            strategy=intent.strategy,
            correlation_id=corr,
            signed_payload=prepared.payload,
        )
        working = WorkingOrder(
            record.client_order_id,
            record.order_id,
            record.token_id,
            record.market,
            record.side,
            record.price,
            record.size,
            fees=self._fees_of(record.market),
            correlation_id=corr,
        )
        self.portfolio.add_order(working)  # capital reserved before anything is sent
        self.risk.record(intent, record.created_at)
        # The event first: on SQLite the order row and the events buffered so far (the intent,
        # this one) commit in one transaction (trader/store/direct.py).
        created = record_payload(record)
        if replaces is not None:
            created["replaces"] = replaces
        self._events.append("order_created", created, correlation_id=corr)
        try:
            await self.store.insert_order(record)
        except Exception as error:
            self.portfolio.close_order(record.order_id)
            self._events.append(
                "order_not_recorded",
                {"order_id": record.order_id, "error": type(error).__name__},
                correlation_id=corr,
            )
            raise
        try:  # the intent and the order are on record before the venue hears of them
            await self._make_durable()
        except Exception:
            self.portfolio.close_order(record.order_id)
            self._persist_status(
                record.client_order_id, OrderStatus.REJECTED, error="event log not writable"
            )
            raise
        return await self._submit(record, prepared)

    async def _make_durable(self) -> None:
        if self._durable is not None:
            await self._durable()

    async def make_durable(self) -> None:
        """The events appended so far, durable now (a refusal is logged, not raised: they stay
        buffered and the writer retries). For a write that must follow its event."""
        await self._record_durably()

    async def _record_durably(self) -> None:
        """After fills were applied: write their events now. A refusal is logged, not raised:
        the events stay buffered and the writer retries; the fills have already happened."""
        try:
            await self._make_durable()
        except Exception as error:
            log.warning("event log not durable after a fill: %s", error)

    async def _submit(self, record: OrderRecord, prepared: PreparedOrder) -> ExecutionResult:
        corr = record.correlation_id
        self.in_flight.add(record.order_id)
        try:
            result = await self.venue.submit(prepared)
        except UnknownOutcome as error:
            self._events.record(
                SubmitOutcomeUnknown(record.order_id, str(error)), correlation_id=corr
            )
            if self._on_venue_error is not None:
                self._on_venue_error(error, "submit")
            return ExecutionResult(
                Outcome.UNKNOWN,
                corr,
                str(error),
                "unknown_outcome",
                record.order_id,
                record.client_order_id,
                OrderStatus.SUBMITTED,
                record.size,
            )
        except VenueError as error:
            self.portfolio.close_order(record.order_id)
            self._persist_status(record.client_order_id, OrderStatus.REJECTED, error=str(error))
            return self._venue_failed(error, corr, "submit", record)
        finally:
            self.in_flight.discard(record.order_id)
        rows = FillRows()
        accepted = self._accepted(record, result, rows)
        await self._write_rows(rows)
        return accepted

    def _accepted(
        self, record: OrderRecord, result: SubmitResult, rows: FillRows
    ) -> ExecutionResult:
        for fill in result.fills:
            self._fill_applied(fill, "venue", rows)
        filled = sum((f.size for f in result.fills), ZERO)
        status = result.status
        # MATCHED with its fills still to come (they arrive on the fill stream): the order
        # keeps its reservation until they do, or until reconciliation settles it.
        awaiting_fills = status is OrderStatus.MATCHED and filled < record.size
        if not status.is_open and not awaiting_fills:
            self.portfolio.close_order(record.order_id)
        known = filled if result.fills else None
        rows.change(OrderChange(record.client_order_id, status, known))
        self._events.record(
            OrderSubmitted(record.order_id, status.value, filled),
            correlation_id=record.correlation_id,
        )
        self._bus.orders.publish(order_view(record, status, filled), record.correlation_id)
        return ExecutionResult(
            Outcome.PLACED,
            record.correlation_id,
            result.message,
            result.error_code,
            record.order_id,
            record.client_order_id,
            status,
            record.size,
            filled,
        )

    def _venue_failed(
        self, error: VenueError, corr: str, step: str, record: OrderRecord | None = None
    ) -> ExecutionResult:
        self._events.record(
            VenueErrored(step, error.code, type(error).__name__, str(error)), correlation_id=corr
        )
        if self._on_venue_error is not None:
            self._on_venue_error(error, step)
        if record is not None:
            rejected = replace(order_view(record, OrderStatus.REJECTED, ZERO), reason=str(error))
            self._bus.orders.publish(rejected, corr)
        return ExecutionResult(
            Outcome.REJECTED,
            corr,
            str(error),
            error.code,
            record.order_id if record else None,
            record.client_order_id if record else None,
            OrderStatus.REJECTED if record else None,
        )

    # fills -------------------------------------------------------------------------------

    def apply_fill(self, fill: Fill, *, source: str = "venue") -> bool:
        """Apply a fill to positions at once (False if it was seen before); persist behind."""
        rows = FillRows()
        if not self._fill_applied(fill, source, rows):
            return False
        self._queue_rows(rows)
        return True

    def _fill_applied(self, fill: Fill, source: str, rows: FillRows) -> bool:
        """The fill on the positions and on the record (its event, its rows in `rows`)."""
        effect = self.portfolio.apply_fill(fill)
        if effect is None:
            return False
        order = effect.order
        corr = order.correlation_id if order else None
        self._events.record(
            FillApplied(
                trade_id=fill.trade_id,
                order_id=fill.order_id,
                side=fill.side.value,
                price=fill.price,
                size=fill.size,
                fee=fill.fee,
                source=source,
                position=effect.position.size,
                realized=effect.realized,
            ),
            correlation_id=corr,
        )
        # One transaction: a crash between the fill's row and its position's would leave
        # the position short by the fill, for reconciliation to find (and halt on).
        rows.fills.append((fill, corr, effect.position))
        if order is not None:
            status = OrderStatus.MATCHED if order.remaining <= ZERO else None
            rows.change(OrderChange(order.client_order_id, status, order.matched))
        self._bus.fills.publish(fill, corr)
        return True

    async def _write_rows(self, rows: FillRows) -> None:
        """A submit's answer or a streamed fill on disk in one commit, inside the call: the
        events so far (the fills' among them), the fill rows, their positions, the order's
        status. Queued first, as the write-behind's entries (the fill events' flush a barrier
        ahead of the rows): if anything is queued ahead of them, or the commit fails, or the
        call is cancelled, they stay there for the writer task, which writes them as before
        (the rows never before their events; a repeated fill row is ignored)."""
        entries = self._queue_rows(rows, wake=False)
        if entries:
            await self.writer.write_through(entries, lambda: self._commit_rows(rows))
        await self._record_durably()  # what was not carried (a failed commit: retried here)

    async def _commit_rows(self, rows: FillRows) -> None:
        if not self.store.carries_events:  # the events first, in their own transaction
            await self._make_durable()
        await self.store.record_rows(rows.fills, rows.orders)

    def _queue_rows(self, rows: FillRows, *, wake: bool = True) -> list[Entry]:
        # The event first: a crash must never leave a fill row the event log cannot explain.
        # The flush is a barrier: while it is refused, the rows (and all behind them) wait.
        entries = []
        if rows.fills and self._durable is not None:
            entries.append(
                self.writer.enqueue("fill event", self._durable, barrier=True, wake=wake)
            )
        for fill, corr, position in rows.fills:
            write = self._fill_write(fill, corr, position)
            entries.append(self.writer.enqueue("fill", write, wake=wake))
        entries.extend(self._enqueue_change(change, wake=wake) for change in rows.orders)
        return entries

    def _fill_write(
        self, fill: Fill, corr: str | None, position: Position
    ) -> Callable[[], Awaitable[bool]]:
        return lambda: self.store.record_fill_and_position(fill, corr, position)

    async def consume_fills(self) -> None:
        """Apply the venue's fill stream (a supervised task)."""
        async for fill in self.venue.fills():
            rows = FillRows()
            if self._fill_applied(fill, "stream", rows):
                await self._write_rows(rows)

    def _persist_status(
        self,
        client_order_id: str,
        status: OrderStatus | None,
        *,
        size_matched: Decimal | None = None,
        error: str | None = None,
    ) -> None:
        self._enqueue_change(OrderChange(client_order_id, status, size_matched, error))

    def _enqueue_change(self, change: OrderChange, *, wake: bool = True) -> Entry:
        def write() -> Awaitable[None]:
            return self.store.update_order(
                change.client_order_id,
                status=change.status,
                size_matched=change.size_matched,
                error=change.error,
            )

        return self.writer.enqueue("order", write, wake=wake)

    # cancels -----------------------------------------------------------------------------

    async def cancel(self, order_ids: list[str], *, reason: str, actor: Actor | str) -> list[str]:
        """Cancel these orders; the ids the venue cancelled."""
        result = await self.venue.cancel(order_ids)
        self._closed_by_cancel(list(result.canceled), reason, actor)
        return list(result.canceled)

    async def cancel_all(self, *, reason: str, actor: Actor | str) -> list[str]:
        result = await self.venue.cancel_all()
        self._closed_by_cancel(list(result.canceled), reason, actor)
        return list(result.canceled)

    def _closed_by_cancel(self, ids: list[str], reason: str, actor: Actor | str) -> None:
        for order_id in ids:
            order = self.portfolio.close_order(order_id)
            corr = order.correlation_id if order else None
            if order is not None:
                self._persist_status(order.client_order_id, OrderStatus.CANCELED)
                self._bus.orders.publish(
                    _working_view(order, OrderStatus.CANCELED, self._clock.now()), corr
                )
            self._events.append(
                "order_canceled",
                {"order_id": order_id, "reason": reason},
                correlation_id=corr,
                actor=actor,
            )


def _working_view(order: WorkingOrder, status: OrderStatus, at: datetime) -> Order:
    """A working order as the bus's `Order` fact, once its state changed."""
    return Order(
        order.order_id,
        order.token_id,
        order.side,
        order.price,
        order.size,
        order.matched,
        status,
        at,
        market=order.market,
        client_order_id=order.client_order_id,
    )


def _amount(intent: OrderIntent, decision: RiskApproval) -> Decimal | None:
    """The collateral a marketable buy of an amount spends: what risk approved."""
    return decision.notional if spends_amount(intent) else None


def _passed_payload(decision: RiskApproval) -> dict[str, object]:
    """What risk approved, and the rules it passed (the `risk_passed` event)."""
    return {
        "size": decision.size,
        "notional": decision.notional,
        "fee": decision.fee,
        "drawdown_mode": decision.drawdown_mode.value,
        "checks": list(checked_rules(decision.reduces)),
    }

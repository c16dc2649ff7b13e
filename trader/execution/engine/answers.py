"""What follows a decision in the execution engine: the submit and the venue's answer to it
(placed, rejected, unknown), fills applied to the positions at once (from the answer or the
venue's stream) and their rows committed in one transaction or queued behind, cancels, and the
event log made durable around them. `EngineAnswers` holds these methods for `ExecutionEngine`
(`decisions`), over the engine's own attributes, declared here.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from trader.bus import Bus
from trader.clock import Clock
from trader.domain import ZERO, Actor, Fill, Order, OrderStatus, Position
from trader.events import FillApplied, OrderSubmitted, SubmitOutcomeUnknown, VenueErrored
from trader.execution.portfolio import Portfolio, WorkingOrder
from trader.execution.ports import EventSink, ExecutionResult, Outcome, order_view
from trader.execution.store import Entry, ExecutionStore, FillRows, OrderRecord, WriteBehind
from trader.store.trading import OrderChange
from trader.venue.base import PreparedOrder, SubmitResult, UnknownOutcome, Venue, VenueError

log = logging.getLogger(__name__)
VenueErrorHook = Callable[[VenueError, str], None]


class EngineAnswers:
    """The engine's submits, fills and cancels (mixed into `ExecutionEngine`, which sets
    these attributes in its constructor)."""

    venue: Venue
    portfolio: Portfolio
    store: ExecutionStore
    writer: WriteBehind
    in_flight: set[str]
    _events: EventSink
    _bus: Bus
    _clock: Clock
    _durable: Callable[[], Awaitable[None]] | None
    _on_venue_error: VenueErrorHook | None

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

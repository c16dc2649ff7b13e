"""What the execution core persists, behind one small protocol with two implementations.

`SqlExecutionStore` writes to the database through the repositories (the app; on a SQLite
file its writes go through the engine's one `DirectWriter`, without a thread hop, and carry
the event log's buffered events in the same transaction); the
`MemoryExecutionStore` keeps the same records in dicts (the hot-path benchmark and fast
tests).

Write-behind (`WriteBehind`): the engine awaits `insert_order` before it calls the venue (on
the hot path). What follows (the venue's answer, fills, the new position) is already applied
in memory; writing it is queued and done in order by one task, so the hot path never waits
for the database twice. A failed write is retried with a backoff; if the process dies with
writes queued, reconciliation restores the same facts from the venue on the next start. An
event log flush queued ahead of the rows it explains (a fill's, a settlement's) is a barrier:
while it fails, nothing behind it is written.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from trader.clock import Clock
from trader.domain import ZERO, Fill, OrderStatus, OrderType, Position, Side, TradeStatus
from trader.execution.cash_flows import CashFlow
from trader.execution.portfolio import PortfolioSummary
from trader.store.execution_repo import ExecutionRepository
from trader.store.repositories import CashFlowRepository, EquityRepository
from trader.store.tables import CashFlowRow, EquitySnapshotRow, OrderRow
from trader.store.trading import (
    FillRepository,
    FillWrite,
    OrderChange,
    OrderRepository,
    PositionRepository,
    trading_writes,
)

log = logging.getLogger(__name__)
Write = Callable[[], Awaitable[object]]
Entry = tuple[str, Write, bool]  # a queued write: what, how, and whether it is a barrier
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class OrderRecord:
    client_order_id: str
    order_id: str  # the venue's id, known before submit
    token_id: str
    market: str
    side: Side
    price: Decimal
    size: Decimal
    status: OrderStatus
    created_at: datetime
    size_matched: Decimal = ZERO
    order_type: OrderType = OrderType.GTC
    post_only: bool = False
    expires_at: datetime | None = None
    strategy: str = "manual"
    correlation_id: str = ""
    signed_payload: str = ""
    error: str = ""


class ExecutionStore(Protocol):
    @property
    def carries_events(self) -> bool:
        """Whether `record_rows` commits the event log's buffered events in its transaction
        (a SQLite file: the engine's one direct writer); if not, the caller writes them first."""
        ...

    async def insert_order(self, order: OrderRecord) -> None: ...

    async def update_order(
        self,
        client_order_id: str,
        *,
        status: OrderStatus | None = None,
        size_matched: Decimal | None = None,
        error: str | None = None,
    ) -> None: ...

    async def record_fill(self, fill: Fill, correlation_id: str | None) -> bool: ...

    async def record_fill_and_position(
        self, fill: Fill, correlation_id: str | None, position: Position
    ) -> bool:
        """The fill and the position it leaves, atomically (a crash keeps both or neither)."""
        ...

    async def record_rows(self, fills: Sequence[FillWrite], orders: Sequence[OrderChange]) -> None:
        """A submit's answer or a streamed fill: the fills with the positions they leave and
        the order changes, in one transaction (with the buffered events if `carries_events`)."""
        ...

    async def set_fill_status(self, trade_id: str, order_id: str, status: TradeStatus) -> None: ...

    async def save_position(self, position: Position) -> None: ...

    async def open_orders(self) -> list[OrderRecord]: ...

    async def recent_orders(self, limit: int = 50) -> list[OrderRecord]: ...

    async def known_order_ids(self, order_ids: Iterable[str]) -> set[str]: ...

    async def orders_by_ids(self, order_ids: Iterable[str]) -> list[OrderRecord]: ...

    async def fill_statuses(self) -> dict[tuple[str, str], TradeStatus]: ...

    async def fills(self, since: datetime | None = None) -> list[Fill]: ...

    async def positions(self) -> list[Position]: ...

    async def save_equity(self, summary: PortfolioSummary) -> None: ...

    async def equity_before(self, at: datetime) -> Decimal | None: ...

    async def equity_from(self, at: datetime) -> Decimal | None: ...

    async def record_cash_flow(self, flow: CashFlow, correlation_id: str | None) -> None: ...

    async def cash_flows(self, since: datetime) -> list[CashFlow]: ...


def record_from_row(row: OrderRow) -> OrderRecord:
    return OrderRecord(
        client_order_id=row.client_order_id,
        order_id=row.venue_order_id or "",
        token_id=row.token_id,
        market=row.market,
        side=Side(row.side),
        price=row.price,
        size=row.size,
        status=OrderStatus(row.status),
        created_at=row.created_at,
        size_matched=row.size_matched,
        order_type=OrderType(row.order_type),
        post_only=row.post_only,
        expires_at=row.expires_at,
        strategy=row.strategy,
        correlation_id=row.correlation_id or "",
        signed_payload=row.signed_payload or "",
        error=row.error or "",
    )


def order_values(order: OrderRecord) -> dict[str, Any]:
    """The order's `OrderRow` column values (no ORM instance: this is the hot path)."""
    return {
        "client_order_id": order.client_order_id,
        "market": order.market,
        "token_id": order.token_id,
        "side": order.side.value,
        "price": order.price,
        "size": order.size,
        "status": order.status.value,
        "created_at": order.created_at,
        "updated_at": order.created_at,
        "venue_order_id": order.order_id or None,
        "size_matched": order.size_matched,
        "order_type": order.order_type.value,
        "post_only": order.post_only,
        "expires_at": order.expires_at,
        "strategy": order.strategy,
        "correlation_id": order.correlation_id or None,
        "signed_payload": order.signed_payload or None,
        "error": order.error or None,
    }


class SqlExecutionStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock) -> None:
        self._clock = clock
        self._writes = trading_writes(sessions, clock)
        self._orders = OrderRepository(sessions, clock)
        self._fills = FillRepository(sessions, clock)
        self._positions = PositionRepository(sessions, clock)
        self._equity = EquityRepository(sessions, clock)
        self._flows = CashFlowRepository(sessions, clock)
        self._queries = ExecutionRepository(sessions, clock)

    @property
    def carries_events(self) -> bool:
        return self._writes.carries_events

    async def insert_order(self, order: OrderRecord) -> None:
        await self._writes.insert_order(order_values(order))

    async def update_order(
        self,
        client_order_id: str,
        *,
        status: OrderStatus | None = None,
        size_matched: Decimal | None = None,
        error: str | None = None,
    ) -> None:
        await self._writes.update_order(
            client_order_id, status=status, size_matched=size_matched, error=error
        )

    async def record_fill(self, fill: Fill, correlation_id: str | None) -> bool:
        return await self._writes.record_fill(fill, correlation_id)

    async def record_fill_and_position(
        self, fill: Fill, correlation_id: str | None, position: Position
    ) -> bool:
        return await self._writes.record_fill_and_position(fill, correlation_id, position)

    async def record_rows(self, fills: Sequence[FillWrite], orders: Sequence[OrderChange]) -> None:
        await self._writes.record_rows(fills, orders)

    async def set_fill_status(self, trade_id: str, order_id: str, status: TradeStatus) -> None:
        await self._writes.set_fill_status(trade_id, order_id, status)

    async def save_position(self, position: Position) -> None:
        await self._writes.save_position(position)

    async def open_orders(self) -> list[OrderRecord]:
        return [record_from_row(row) for row in await self._orders.open_orders()]

    async def recent_orders(self, limit: int = 50) -> list[OrderRecord]:
        return [record_from_row(row) for row in await self._queries.orders(limit=limit)]

    async def known_order_ids(self, order_ids: Iterable[str]) -> set[str]:
        return await self._queries.known_venue_order_ids(order_ids)

    async def orders_by_ids(self, order_ids: Iterable[str]) -> list[OrderRecord]:
        return [record_from_row(r) for r in await self._queries.orders_by_venue_ids(order_ids)]

    async def fill_statuses(self) -> dict[tuple[str, str], TradeStatus]:
        return await self._queries.fill_statuses()

    async def fills(self, since: datetime | None = None) -> list[Fill]:
        return await self._fills.since(since or EPOCH)

    async def positions(self) -> list[Position]:
        return await self._positions.all()

    async def save_equity(self, summary: PortfolioSummary) -> None:
        await self._equity.insert(
            EquitySnapshotRow(
                ts=summary.at,
                equity=summary.equity,
                cash=summary.cash,
                exposure=summary.exposure,
                unrealized=summary.unrealized,
                realized=summary.realized,
                drawdown=summary.drawdown,
            )
        )

    async def equity_before(self, at: datetime) -> Decimal | None:
        row = await self._queries.equity_before(at)
        return None if row is None else row.equity

    async def equity_from(self, at: datetime) -> Decimal | None:
        row = await self._queries.equity_from(at)
        return None if row is None else row.equity

    async def record_cash_flow(self, flow: CashFlow, correlation_id: str | None) -> None:
        await self._flows.insert(
            CashFlowRow(
                ts=flow.at,
                amount=flow.amount,
                reason=flow.reason,
                source=flow.source,
                correlation_id=correlation_id,
            )
        )

    async def cash_flows(self, since: datetime) -> list[CashFlow]:
        rows = await self._flows.since(since)
        return [CashFlow(r.ts, r.amount, r.reason, r.source) for r in rows]


class MemoryExecutionStore:
    """The same records in dicts: for the benchmark and tests that need no database."""

    carries_events = False

    def __init__(self) -> None:
        self.orders: dict[str, OrderRecord] = {}
        self.fill_rows: dict[tuple[str, str], Fill] = {}
        self.position_rows: dict[str, Position] = {}
        self.equity: list[PortfolioSummary] = []
        self.flows: list[CashFlow] = []

    async def insert_order(self, order: OrderRecord) -> None:
        if order.client_order_id in self.orders:
            raise ValueError(f"duplicate client order id {order.client_order_id}")
        self.orders[order.client_order_id] = order

    async def update_order(
        self,
        client_order_id: str,
        *,
        status: OrderStatus | None = None,
        size_matched: Decimal | None = None,
        error: str | None = None,
    ) -> None:
        row = self.orders.get(client_order_id)
        if row is None:
            return
        self.orders[client_order_id] = replace(
            row,
            status=status or row.status,
            size_matched=row.size_matched if size_matched is None else size_matched,
            error=row.error if error is None else error,
        )

    async def record_fill(self, fill: Fill, correlation_id: str | None) -> bool:
        if fill.key in self.fill_rows:
            return False
        self.fill_rows[fill.key] = fill
        return True

    async def record_fill_and_position(
        self, fill: Fill, correlation_id: str | None, position: Position
    ) -> bool:
        self.position_rows[position.token_id] = position
        return await self.record_fill(fill, correlation_id)

    async def record_rows(self, fills: Sequence[FillWrite], orders: Sequence[OrderChange]) -> None:
        for fill, correlation_id, position in fills:
            await self.record_fill_and_position(fill, correlation_id, position)
        for change in orders:
            await self.update_order(
                change.client_order_id,
                status=change.status,
                size_matched=change.size_matched,
                error=change.error,
            )

    async def set_fill_status(self, trade_id: str, order_id: str, status: TradeStatus) -> None:
        fill = self.fill_rows.get((trade_id, order_id))
        if fill is not None:
            self.fill_rows[fill.key] = replace(fill, status=status)

    async def save_position(self, position: Position) -> None:
        self.position_rows[position.token_id] = position

    async def open_orders(self) -> list[OrderRecord]:
        return [o for o in self.orders.values() if o.status.is_open]

    async def recent_orders(self, limit: int = 50) -> list[OrderRecord]:
        return list(reversed(self.orders.values()))[:limit]

    async def known_order_ids(self, order_ids: Iterable[str]) -> set[str]:
        known = {o.order_id for o in self.orders.values()}
        return {order_id for order_id in order_ids if order_id in known}

    async def orders_by_ids(self, order_ids: Iterable[str]) -> list[OrderRecord]:
        wanted = set(order_ids)
        return [o for o in self.orders.values() if o.order_id in wanted]

    async def fill_statuses(self) -> dict[tuple[str, str], TradeStatus]:
        return {key: fill.status for key, fill in self.fill_rows.items()}

    async def fills(self, since: datetime | None = None) -> list[Fill]:
        return [f for f in self.fill_rows.values() if since is None or f.timestamp >= since]

    async def positions(self) -> list[Position]:
        return [p for p in self.position_rows.values() if p.size != ZERO]

    async def save_equity(self, summary: PortfolioSummary) -> None:
        self.equity.append(summary)

    async def equity_before(self, at: datetime) -> Decimal | None:
        before = [s for s in self.equity if s.at < at]
        return before[-1].equity if before else None

    async def equity_from(self, at: datetime) -> Decimal | None:
        after = [s for s in self.equity if s.at >= at]
        return after[0].equity if after else None

    async def record_cash_flow(self, flow: CashFlow, correlation_id: str | None) -> None:
        self.flows.append(flow)

    async def cash_flows(self, since: datetime) -> list[CashFlow]:
        return [f for f in self.flows if f.at >= since]


@dataclass(slots=True)
class FillRows:
    """The rows one submit's answer (or one streamed fill) changes: each fill with the position
    it leaves, and the order changes (one per order: later changes folded into earlier)."""

    fills: list[FillWrite] = field(default_factory=list)
    orders: list[OrderChange] = field(default_factory=list)

    def change(self, change: OrderChange) -> None:
        for i, earlier in enumerate(self.orders):
            if earlier.client_order_id == change.client_order_id:
                self.orders[i] = earlier.then(change)
                return
        self.orders.append(change)


class WriteBehind:
    """Queued writes, done in order by one task. A plain write that fails `max_attempts` times
    is given up (reconciliation restores it). A barrier (an event log flush that must precede
    the rows queued behind it: a fill's, a settlement's) that fails stops the drain and stays
    at the head of the queue: nothing behind it is written until it goes through, on the next
    drain (the writer task retries every `retry_s` seconds, or sooner on a new write)."""

    def __init__(
        self, *, max_attempts: int = 5, first_backoff_s: float = 0.05, retry_s: float = 5.0
    ) -> None:
        self._queue: deque[tuple[str, Write, bool]] = deque()
        self._lock = asyncio.Lock()
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._max_attempts = max_attempts
        self._first_backoff = first_backoff_s
        self._retry_s = retry_s
        self.failed = 0

    def enqueue(
        self, what: str, write: Write, *, barrier: bool = False, wake: bool = True
    ) -> Entry:
        """Queue a write; the entry, for `write_through`. `wake=False`: the caller writes it
        through at once, and wakes the writer task only if that does not happen."""
        entry = (what, write, barrier)
        self._queue.append(entry)
        self._idle.clear()
        if wake:
            self._wakeup.set()
        return entry

    async def write_through(self, entries: Sequence[Entry], write: Write) -> bool:
        """Write these queued entries now, by `write` (one transaction doing what they do), if
        nothing is queued ahead of them; True if so. Otherwise, or if `write` fails, they stay
        queued for the writer task, each with its own retries (a barrier first), as if this
        had not been called. The hot path's one commit for a fill (trader/execution/engine.py)."""
        written = False
        try:
            async with self._lock:
                if not self._at_head(entries):
                    return False
                try:
                    await write()
                except Exception as error:
                    log.warning("writing %s at once failed (%s); queued", entries[0][0], error)
                    return False
                for _ in entries:
                    self._queue.popleft()
                if not self._queue:
                    self._idle.set()
                written = True
                return True
        finally:
            if not written:  # cancelled too: the queued entries are the writer task's now
                self._wakeup.set()

    def _at_head(self, entries: Sequence[Entry]) -> bool:
        if len(self._queue) < len(entries):
            return False
        return all(self._queue[i] is entry for i, entry in enumerate(entries))

    @property
    def pending(self) -> int:
        return len(self._queue)

    async def run(self) -> None:
        """Write queued items in order, forever (a supervised task)."""
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            if not await self.drain_now():
                # a barrier is stuck: try again after a while (or at the next write)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), self._retry_s)
                self._wakeup.set()

    async def drain_now(self) -> bool:
        """Write everything queued, in order, now (safe to call beside `run`). False when a
        barrier failed: it and everything behind it stay queued."""
        async with self._lock:
            while self._queue:
                what, write, barrier = self._queue[0]
                if not await self._write(what, write, barrier):
                    return False
                self._queue.popleft()
            self._idle.set()
            return True

    async def _write(self, what: str, write: Write, barrier: bool) -> bool:
        delay = self._first_backoff
        for attempt in range(1, self._max_attempts + 1):
            try:
                await write()
                return True
            except asyncio.CancelledError:
                raise
            except Exception:
                if attempt == self._max_attempts:
                    self.failed += 1
                    if barrier:
                        log.exception(
                            "writing %s failed %d times; the %d writes behind it wait for it",
                            what, attempt, len(self._queue) - 1,
                        )  # fmt: skip
                        return False
                    log.exception("giving up writing %s; reconciliation will restore it", what)
                    return True
                log.warning("writing %s failed (attempt %d); retrying", what, attempt)
                # I/O backoff on the loop's real time, like the event log's: not a clock read.
                await asyncio.sleep(delay)
                delay *= 2
        return True

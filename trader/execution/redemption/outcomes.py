"""What becomes of an operation: its record saved, confirmed (our cash moves: a redemption's
payout, a merge's two synthetic sells) or failed, and each step told to the event log and
the operator's alerts."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from trader.bus import Bus
from trader.clock import Clock
from trader.domain import ZERO, Alert, Fill, Position, Severity, Side
from trader.execution.accounts import Accounts
from trader.execution.chain_records import (
    ChainOperation,
    ChainOperationStore,
    OperationKind,
    OperationState,
)
from trader.execution.engine import ExecutionEngine
from trader.execution.ports import EventSink
from trader.logs import REDACTOR

MERGE_ORDER_ID = "merge"
MERGE_LIQUIDITY = "MERGE"  # fits the fills.liquidity column (8)
HALF = Decimal("0.5")


class Outcomes:
    """Records, confirms and fails operations; tells the event log and the alerts."""

    def __init__(
        self,
        *,
        engine: ExecutionEngine,
        accounts: Accounts,
        store: ChainOperationStore,
        events: EventSink,
        bus: Bus,
        clock: Clock,
    ) -> None:
        self._engine = engine
        self._accounts = accounts
        self._store = store
        self._events = events
        self._bus = bus
        self._clock = clock

    async def confirm(self, op: ChainOperation) -> ChainOperation:
        engine = self._engine
        async with engine.lock:
            if op.kind is OperationKind.REDEEM:
                moved = engine.portfolio.redeem(op.market)  # zero if reconciliation did it
            else:
                moved = self._apply_merge(op)
        await engine.writer.drain_now()
        await self._accounts.remember()
        op = await self.save(op, state=OperationState.CONFIRMED)
        self.event(op, "confirmed", payout=op.payout, cash_moved=moved, tx_hash=op.tx_hash)
        self.alert(op, Severity.INFO, f"{_title(op.kind)}: {op.payout:.2f} pUSD", self._body(op))
        return op

    def _apply_merge(self, op: ChainOperation) -> Decimal:
        engine, portfolio = self._engine, self._engine.portfolio
        moved = ZERO
        for token, size in op.amounts.items():
            fill = Fill(
                trade_id=f"{op.id}:{token}",
                order_id=MERGE_ORDER_ID,
                token_id=token,
                side=Side.SELL,
                price=op.prices.get(token, HALF),
                size=size,
                fee=ZERO,
                timestamp=self._clock.now(),
                market=op.market,
                liquidity=MERGE_LIQUIDITY,
            )
            effect = portfolio.apply_fill(fill)
            if effect is None:
                continue
            moved += effect.cash_delta
            position = effect.position

            async def write(
                fill: Fill = fill, position: Position = position, corr: str = op.correlation_id
            ) -> None:
                await engine.store.record_fill_and_position(fill, corr, position)

            engine.writer.enqueue("merge", write)
        return moved

    async def fail(self, op: ChainOperation, message: str) -> ChainOperation:
        message = REDACTOR(message)
        op = await self.save(op, state=OperationState.FAILED, message=message)
        self.event(op, "failed", message=message)
        what = "Redemption" if op.kind is OperationKind.REDEEM else "Merge"
        self.alert(op, Severity.WARNING, f"{what} failed", message)
        return op

    async def save(self, op: ChainOperation, **changes: object) -> ChainOperation:
        op = replace(op, updated_at=self._clock.now(), **changes)  # type: ignore[arg-type]
        await self._store.update(op)
        return op

    def event(self, op: ChainOperation, what: str, **extra: object) -> None:
        payload: dict[str, object] = {
            "operation_id": op.id,
            "market": op.market,
            "amounts": {t: str(s) for t, s in op.amounts.items()},
            "payout": op.payout,
            **extra,
        }
        name = "redemption" if op.kind is OperationKind.REDEEM else "merge"
        self._events.append(f"{name}_{what}", payload, correlation_id=op.correlation_id)

    def alert(self, op: ChainOperation, severity: Severity, title: str, body: str) -> None:
        found = self._engine.board.market(op.market)
        question = found.question if found else op.market
        alert = Alert(
            f"{op.kind.value}_{op.state.value}",
            severity,
            f"{title}: {question}",
            body,
            op.correlation_id,
            f"{op.kind.value}:{op.id}:{op.state.value}",
        )
        self._bus.alerts.publish(alert, op.correlation_id)

    def _body(self, op: ChainOperation) -> str:
        board = self._engine.board
        lines = [
            f"{size} shares of {board.outcome_of(t) or t[:12]} at {op.prices.get(t, ZERO)}"
            for t, size in op.amounts.items()
        ]
        verb = "redeemed" if op.kind is OperationKind.REDEEM else "merged"
        lines.append(f"{verb} for {op.payout:.2f} pUSD; cash {self._engine.portfolio.cash:.2f}")
        return "\n".join(lines)


def _title(kind: OperationKind) -> str:
    return "Redeemed" if kind is OperationKind.REDEEM else "Merged"

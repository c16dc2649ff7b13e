"""The follow-up of operations in flight: a sent transaction followed by its tx id until it
is mined or fails (one warning when it is still unmined after the grace); a record without a
tx id, or one the venue no longer knows, settled from the venue's holdings."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from decimal import Decimal

from trader.clock import Clock
from trader.domain import ZERO, Position, Severity
from trader.execution.chain_records import ChainOperation, OperationKind, OperationState
from trader.execution.engine import ExecutionEngine
from trader.execution.redemption.outcomes import Outcomes
from trader.venue.base import VenueError
from trader.venue.chain import ChainOps, ChainTx, ChainTxState

log = logging.getLogger(__name__)


class Follower:
    """Settles what was requested or sent: never sends anything a second time."""

    def __init__(
        self,
        *,
        engine: ExecutionEngine,
        chain: ChainOps,
        holdings: Callable[[], Awaitable[dict[str, Decimal]]],
        outcomes: Outcomes,
        clock: Clock,
        unsent_grace_s: float,
    ) -> None:
        self._engine = engine
        self._chain = chain
        self._holdings = holdings
        self._outcomes = outcomes
        self._clock = clock
        self._grace = unsent_grace_s
        self._told_waiting: set[str] = set()  # operations the operator was told are unmined

    async def follow(self, op: ChainOperation) -> ChainOperation:
        if op.state is OperationState.SENT and op.tx_id:
            try:
                tx = await self._chain.tx_status(op.tx_id)
            except VenueError as error:
                log.warning("status of %s %s unknown: %s", op.kind, op.tx_id, error)
                return op
            return await self.apply_status(op, tx)
        return await self._settle_unsent(op)

    async def _settle_unsent(self, op: ChainOperation) -> ChainOperation:
        """A record without a tx id, or one the venue no longer knows: did the send happen
        (or the transaction get mined)? The holdings say."""
        held = await self._holdings()
        portfolio = self._engine.portfolio
        if op.kind is OperationKind.REDEEM:
            gone = all(held.get(t, ZERO) <= op.amounts[t] - size for t, size in op.amounts.items())
        else:
            gone = all(
                held.get(t, ZERO) <= _held(portfolio.position(t)) - size
                for t, size in op.amounts.items()
            )
        if gone:
            return await self._outcomes.confirm(replace(op, message="settled from the holdings"))
        age = (self._clock.now() - op.created_at).total_seconds()
        if age >= self._grace:
            if op.tx_id:
                lost = f"not mined: the venue does not know {op.tx_id}; the holdings did not change"
                return await self._outcomes.fail(op, lost)
            return await self._outcomes.fail(op, "not sent: the holdings did not change")
        return op

    async def apply_status(self, op: ChainOperation, tx: ChainTx) -> ChainOperation:
        if tx.state is ChainTxState.CONFIRMED:
            return await self._outcomes.confirm(replace(op, tx_hash=tx.tx_hash or op.tx_hash))
        if tx.state is ChainTxState.FAILED:
            return await self._outcomes.fail(op, tx.message or "the transaction failed")
        if tx.state is ChainTxState.UNKNOWN and op.state is OperationState.SENT:
            return await self._settle_unsent(op)
        self._tell_if_waiting(op, tx)
        return op

    def _tell_if_waiting(self, op: ChainOperation, tx: ChainTx) -> None:
        """One warning when a sent transaction is still unmined after the grace: it is followed
        (never sent again beside it), but a stuck one wants the operator's eye."""
        waited = (self._clock.now() - op.created_at).total_seconds()
        if waited < self._grace or op.id in self._told_waiting:
            return
        self._told_waiting.add(op.id)
        verb = "redemption" if op.kind is OperationKind.REDEEM else "merge"
        body = (
            f"transaction {op.tx_id}: {tx.message or 'pending'} after {waited / 60:.0f} min; "
            "followed until it is mined or fails, never sent a second time"
        )
        self._outcomes.alert(op, Severity.WARNING, f"A {verb} is not mined yet", body)


def _held(position: Position | None) -> Decimal:
    return position.size if position is not None else ZERO

"""`RedemptionService`: the job's run and the operator's requests, one at a time, and the
sending of each operation (its record written and made durable before the venue is called)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal

from trader.bus import Bus
from trader.clock import Clock
from trader.control.types import ControlError
from trader.domain import ZERO, new_correlation_id
from trader.execution.accounts import Accounts, ResolutionSource
from trader.execution.chain_records import (
    ChainOperation,
    ChainOperationStore,
    OperationKind,
    OperationState,
)
from trader.execution.engine import ExecutionEngine
from trader.execution.ports import EventSink
from trader.execution.redemption.follow import Follower
from trader.execution.redemption.outcomes import HALF, Outcomes
from trader.execution.redemption.scan import Mergeable, Redeemable, RedemptionScan
from trader.logs import REDACTOR
from trader.venue.base import UnknownOutcome, VenueError, VenueUnavailable
from trader.venue.chain import ChainOps, ChainTx

log = logging.getLogger(__name__)

SYSTEM = "system:trader"


@dataclass(frozen=True, slots=True)
class RedemptionRun:
    """What one run of the job did."""

    confirmed: tuple[ChainOperation, ...] = ()
    failed: tuple[ChainOperation, ...] = ()
    sent: tuple[ChainOperation, ...] = ()
    pending: tuple[ChainOperation, ...] = ()


class RedemptionService:
    def __init__(
        self,
        *,
        engine: ExecutionEngine,
        accounts: Accounts,
        chain: ChainOps,
        store: ChainOperationStore,
        resolutions: ResolutionSource | None,
        events: EventSink,
        bus: Bus,
        clock: Clock,
        durable: Callable[[], Awaitable[None]] | None = None,
        unsent_grace_s: float = 600.0,
        auto_merge: bool = True,
    ) -> None:
        self._engine = engine
        self._chain = chain
        self._store = store
        self._clock = clock
        self._durable = durable
        self._auto_merge = auto_merge
        self._lock = asyncio.Lock()  # one operation decided at a time: never two for a market
        self._scan = RedemptionScan(engine=engine, store=store, resolutions=resolutions)
        self._outcomes = Outcomes(
            engine=engine, accounts=accounts, store=store, events=events, bus=bus, clock=clock
        )
        self._follower = Follower(
            engine=engine,
            chain=chain,
            holdings=self._scan.venue_holdings,
            outcomes=self._outcomes,
            clock=clock,
            unsent_grace_s=unsent_grace_s,
        )

    # the job -----------------------------------------------------------------------------

    async def run_once(self) -> RedemptionRun:
        """Follow what is in flight, then redeem what resolved and merge what pays to."""
        scan = self._scan
        async with self._lock:
            done = []
            for op in await self._store.unfinished():
                try:
                    done.append(await self._follower.follow(op))
                except VenueError as error:  # holdings unreadable: settled on the next run
                    log.warning("could not follow %s %s: %s", op.kind, op.id, error)
                    done.append(op)
            for item in await scan.redeemables():
                if await scan.may_send(item.market, automatic=True):
                    done.append(await self._send_redeem(item, SYSTEM))
            if self._auto_merge:
                for pair in scan.mergeables():
                    if pair.gain > ZERO and await scan.may_send(pair.market, automatic=True):
                        done.append(await self._send_merge(pair, SYSTEM))
        return _summary(done)

    # by hand -----------------------------------------------------------------------------

    async def redeemable(self) -> list[Redeemable]:
        """Settled markets still held at the venue, with their latest record."""
        items = await self._scan.redeemables()
        out = []
        for item in items:
            records = [r for r in await self._store.of_market(item.market) if not r.legacy]
            out.append(replace(item, operation=records[-1] if records else None))
        return out

    def mergeable(self) -> list[Mergeable]:
        return self._scan.mergeables()

    async def redeem(self, market: str, actor: str) -> ChainOperation:
        async with self._lock:
            item = next((i for i in await self._scan.redeemables() if i.market == market), None)
            if item is None:
                raise ControlError(f"nothing to redeem in {market}: not settled, or not held")
            await self._scan.refuse_if_busy(market)
            return await self._send_redeem(item, actor)

    async def merge(self, market: str, actor: str, pairs: Decimal | None = None) -> ChainOperation:
        async with self._lock:
            pair = next((p for p in self._scan.mergeables() if p.market == market), None)
            if pair is None:
                raise ControlError(f"nothing to merge in {market}: both sides are not held")
            if pairs is not None:
                if pairs <= ZERO or pairs > pair.pairs:
                    raise ControlError(f"between 0 and {pair.pairs} pairs can be merged")
                pair = replace(pair, pairs=pairs)
            await self._scan.refuse_if_busy(market)
            return await self._send_merge(pair, actor)

    async def recent(self, limit: int = 20) -> list[ChainOperation]:
        return [r for r in await self._store.recent(limit) if not r.legacy]

    # sending -----------------------------------------------------------------------------

    async def _send_redeem(self, item: Redeemable, actor: str) -> ChainOperation:
        op = self._new(
            OperationKind.REDEEM,
            item.market,
            item.amounts,
            item.prices,
            item.payout,
            item.neg_risk,
            actor,
        )
        return await self._send(
            op, lambda: self._chain.redeem(item.market, neg_risk=op.neg_risk, amounts=op.amounts)
        )

    async def _send_merge(self, pair: Mergeable, actor: str) -> ChainOperation:
        yes, no = pair.tokens
        mark = self._engine.portfolio.mark_price(yes)
        split = mark if mark is not None and ZERO <= mark <= 1 else HALF
        op = self._new(
            OperationKind.MERGE,
            pair.market,
            {yes: pair.pairs, no: pair.pairs},
            {yes: split, no: 1 - split},
            pair.pairs,
            pair.neg_risk,
            actor,
        )
        return await self._send(
            op, lambda: self._chain.merge(pair.market, neg_risk=op.neg_risk, amount=pair.pairs)
        )

    def _new(
        self,
        kind: OperationKind,
        market: str,
        amounts: Mapping[str, Decimal],
        prices: Mapping[str, Decimal],
        payout: Decimal,
        neg_risk: bool,
        actor: str,
    ) -> ChainOperation:
        now = self._clock.now()
        return ChainOperation(
            id=f"{kind.value}-{uuid.uuid4().hex}",
            kind=kind,
            market=market,
            state=OperationState.REQUESTED,
            created_at=now,
            updated_at=now,
            amounts=dict(amounts),
            prices=dict(prices),
            payout=payout,
            neg_risk=neg_risk,
            requested_by=actor,
            correlation_id=new_correlation_id(),
        )

    async def _send(
        self, op: ChainOperation, call: Callable[[], Awaitable[ChainTx]]
    ) -> ChainOperation:
        outcomes = self._outcomes
        await self._store.insert(op)  # before the venue is called: a crash leaves the record
        outcomes.event(op, "requested", requested_by=op.requested_by)
        if self._durable is not None:
            await self._durable()
        try:
            tx = await call()
        except VenueError as error:
            if (
                isinstance(error, UnknownOutcome | VenueUnavailable)
                or error.retryable
                or (error.code in (None, "timeout", "transport"))
            ):
                # it may have been sent: settled from the holdings, never sent again
                log.warning("%s of %s: outcome unknown (%s)", op.kind, op.market, error)
                return await outcomes.save(op, message=REDACTOR(f"outcome unknown: {error}"))
            return await outcomes.fail(op, f"refused: {error}")
        op = await outcomes.save(
            op, state=OperationState.SENT, tx_id=tx.tx_id, tx_hash=tx.tx_hash, message=tx.message
        )
        outcomes.event(op, "sent", tx_id=tx.tx_id, tx_hash=tx.tx_hash)
        return await self._follower.apply_status(op, tx)


def _summary(done: Sequence[ChainOperation]) -> RedemptionRun:
    by = {s: tuple(o for o in done if o.state is s) for s in OperationState}
    return RedemptionRun(
        confirmed=by[OperationState.CONFIRMED],
        failed=by[OperationState.FAILED],
        sent=by[OperationState.SENT],
        pending=by[OperationState.REQUESTED],
    )

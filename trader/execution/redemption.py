"""Redemption and merge: resolved markets' shares back to collateral, and YES+NO pairs merged.

The service the execution core owns (only `trader.execution` sends to a venue). It runs as
one scheduler job (`redemption`) and by hand (`/redeem`, `/merge` through the desk), over the
venue's `ChainOps` (`trader.venue.chain`): the live venue through the official SDK, the paper
venue in its own ledger: one service for both.

Redeem. A settled market (`Accounts.settle` moved its payout to *redeemable*) whose tokens the
venue still holds is redeemed: the payout vector from the resolution source, the shares from
the venue's holdings. Merge. A market held on both sides is merged (n YES + n NO -> n pUSD)
when n is worth more than selling both at the bids net of taker fees (`merge_gain`).

Each operation is a `ChainOperation` record, written before the venue is called (state
requested, event `redemption_requested` / `merge_requested` made durable), then sent (the
venue's tx id, `*_sent`), then confirmed (`*_confirmed`: our cash moves, one alert with the
payout) or failed (`*_failed`, an alert). Idempotent across crashes:

- a market with a record in flight (requested or sent) or confirmed is never sent again;
- a sent record is followed by its tx id after a restart (`tx_status`);
- a requested record has no tx id: the send may or may not have happened. It is settled from
  the venue's holdings: the shares are gone, so it happened (confirmed); they are still there
  `unsent_grace_s` after the request, so it did not (failed, and the next run may ask again);
- so is a sent record whose status the venue cannot tell (`ChainTxState.UNKNOWN`: a relayer's
  404 for an id it lost in a restart, an EOA's hash without a receipt): never failed on the
  venue's word alone, which would send it a second time.

What the venue said reaches the record, the event log and the alerts redacted (`REDACTOR`):
an SDK error may name POLYGON_RPC_URL or RELAYER_HOST, keys and all.

Cash. A confirmed redemption moves the market's payout from redeemable to cash
(`Portfolio.redeem`, once: if reconciliation saw the venue's cash first, it already did, and
nothing moves twice). A confirmed merge is two synthetic sells (order id "merge", liquidity
"MERGE") at prices summing to 1 a pair, so cash rises by n and the pair's PnL is realised.
"""

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
from trader.domain import ZERO, Alert, Fill, Market, Position, Severity, Side, new_correlation_id
from trader.execution.accounts import Accounts, ResolutionSource
from trader.execution.chain_records import (
    ChainOperation,
    ChainOperationStore,
    OperationKind,
    OperationState,
)
from trader.execution.engine import ExecutionEngine
from trader.execution.marks import exit_value
from trader.execution.ports import EventSink
from trader.logs import REDACTOR
from trader.venue.base import UnknownOutcome, VenueError, VenueUnavailable
from trader.venue.chain import ChainOps, ChainTx, ChainTxState

log = logging.getLogger(__name__)

MERGE_ORDER_ID = "merge"
MERGE_LIQUIDITY = "MERGE"  # fits the fills.liquidity column (8)
HALF = Decimal("0.5")
CENT = Decimal("0.01")
MAX_AUTO_FAILURES = 3  # a market whose operations failed this often waits for the operator
SYSTEM = "system:trader"


@dataclass(frozen=True, slots=True)
class Redeemable:
    """A settled market the venue still holds shares of: what redeeming it would pay."""

    market: str
    question: str
    amounts: Mapping[str, Decimal]  # token -> shares held at the venue
    prices: Mapping[str, Decimal]  # token -> payout per share
    payout: Decimal
    neg_risk: bool
    operation: ChainOperation | None = None  # the latest record, if any


@dataclass(frozen=True, slots=True)
class Mergeable:
    """A market held on both sides: n pairs, worth n merged, `sale` sold at the bids."""

    market: str
    question: str
    pairs: Decimal
    sale: Decimal  # what selling n of each at the bids would bring, net of fees
    tokens: tuple[str, str]  # (YES, NO)
    neg_risk: bool

    @property
    def gain(self) -> Decimal:
        return self.pairs - self.sale


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
        self._accounts = accounts
        self._chain = chain
        self._store = store
        self._resolutions = resolutions
        self._events = events
        self._bus = bus
        self._clock = clock
        self._durable = durable
        self._grace = unsent_grace_s
        self._auto_merge = auto_merge
        self._lock = asyncio.Lock()  # one operation decided at a time: never two for a market
        self._told_waiting: set[str] = set()  # operations the operator was told are unmined

    # the job -----------------------------------------------------------------------------

    async def run_once(self) -> RedemptionRun:
        """Follow what is in flight, then redeem what resolved and merge what pays to."""
        async with self._lock:
            done = []
            for op in await self._store.unfinished():
                try:
                    done.append(await self._follow(op))
                except VenueError as error:  # holdings unreadable: settled on the next run
                    log.warning("could not follow %s %s: %s", op.kind, op.id, error)
                    done.append(op)
            for item in await self._redeemables():
                if await self._may_send(item.market, automatic=True):
                    done.append(await self._send_redeem(item, SYSTEM))
            if self._auto_merge:
                for pair in self._mergeables():
                    if pair.gain > ZERO and await self._may_send(pair.market, automatic=True):
                        done.append(await self._send_merge(pair, SYSTEM))
        return _summary(done)

    # by hand -----------------------------------------------------------------------------

    async def redeemable(self) -> list[Redeemable]:
        """Settled markets still held at the venue, with their latest record."""
        items = await self._redeemables()
        out = []
        for item in items:
            records = [r for r in await self._store.of_market(item.market) if not r.legacy]
            out.append(replace(item, operation=records[-1] if records else None))
        return out

    def mergeable(self) -> list[Mergeable]:
        return self._mergeables()

    async def redeem(self, market: str, actor: str) -> ChainOperation:
        async with self._lock:
            item = next((i for i in await self._redeemables() if i.market == market), None)
            if item is None:
                raise ControlError(f"nothing to redeem in {market}: not settled, or not held")
            await self._refuse_if_busy(market)
            return await self._send_redeem(item, actor)

    async def merge(self, market: str, actor: str, pairs: Decimal | None = None) -> ChainOperation:
        async with self._lock:
            pair = next((p for p in self._mergeables() if p.market == market), None)
            if pair is None:
                raise ControlError(f"nothing to merge in {market}: both sides are not held")
            if pairs is not None:
                if pairs <= ZERO or pairs > pair.pairs:
                    raise ControlError(f"between 0 and {pair.pairs} pairs can be merged")
                pair = replace(pair, pairs=pairs)
            await self._refuse_if_busy(market)
            return await self._send_merge(pair, actor)

    async def recent(self, limit: int = 20) -> list[ChainOperation]:
        return [r for r in await self._store.recent(limit) if not r.legacy]

    # what there is to do -----------------------------------------------------------------

    async def _redeemables(self) -> list[Redeemable]:
        redeemables = self._engine.portfolio.redeemables()
        if not redeemables or self._resolutions is None:
            return []
        try:
            held = await self._venue_holdings()
            payouts = await self._resolutions.resolved_markets(sorted(redeemables))
        except VenueError as error:  # Gamma or the venue down: the next run tries again
            log.warning("could not read what is redeemable: %s", error)
            return []
        items = []
        for market, entry in sorted(redeemables.items()):
            vector = payouts.get(market)
            amounts = {t: held[t] for t in sorted(entry.tokens) if held.get(t, ZERO) > ZERO}
            if vector is None or not amounts:
                continue  # not (yet) reported resolved; or nothing left at the venue
            prices = {t: vector.get(t, ZERO) for t in amounts}
            payout = sum((amounts[t] * prices[t] for t in amounts), ZERO)
            question, neg_risk = await self._describe(market)
            items.append(Redeemable(market, question, amounts, prices, payout, neg_risk))
        return items

    async def _describe(self, market: str) -> tuple[str, bool]:
        """The market's question and whether it is neg-risk (which adapter redeems it): from
        the board, else from the markets table (a resolved market leaves the listing)."""
        found = self._engine.board.market(market)
        if found is not None:
            return found.question, found.neg_risk
        facts = await self._store.market_facts(market)
        if facts is None:
            log.warning("market %s is unknown here: redeemed as a plain binary market", market)
            return market, False
        return facts

    def _mergeables(self) -> list[Mergeable]:
        portfolio, board = self._engine.portfolio, self._engine.board
        settled = portfolio.settled_tokens
        out = []
        for market in sorted({p.market for p in portfolio.positions() if p.market}):
            found = board.market(market)
            if found is None or len(found.tokens) != 2:
                continue
            yes, no = (t.token_id for t in found.tokens)
            if yes in settled or no in settled:
                continue
            pairs = min(self._free(yes), self._free(no)).quantize(CENT, rounding="ROUND_DOWN")
            if pairs <= ZERO:
                continue
            sale = self._sale(found, yes, pairs) + self._sale(found, no, pairs)
            out.append(Mergeable(market, found.question, pairs, sale, (yes, no), found.neg_risk))
        return out

    def _free(self, token_id: str) -> Decimal:
        """Shares of `token_id` held and not offered by a working sell."""
        portfolio = self._engine.portfolio
        position = portfolio.position(token_id)
        offered = sum(
            (
                o.remaining
                for o in portfolio.working_orders()
                if o.token_id == token_id and o.side is Side.SELL
            ),
            ZERO,
        )
        return max((position.size if position else ZERO) - offered, ZERO)

    def _sale(self, market: Market, token_id: str, size: Decimal) -> Decimal:
        book = self._engine.board.cached_book(token_id)
        return exit_value(size, book.bids, market.fees) if book is not None else ZERO

    async def _venue_holdings(self) -> dict[str, Decimal]:
        positions: Sequence[Position] = await self._engine.venue.positions()
        return {p.token_id: p.size for p in positions if p.size > ZERO}

    async def _may_send(self, market: str, *, automatic: bool) -> bool:
        records = [r for r in await self._store.of_market(market) if not r.legacy]
        if any(not r.state.finished for r in records):
            return False
        if any(
            r.kind is OperationKind.REDEEM and r.state is OperationState.CONFIRMED for r in records
        ):
            return False
        failures = sum(1 for r in records if r.state is OperationState.FAILED)
        return not (automatic and failures >= MAX_AUTO_FAILURES)

    async def _refuse_if_busy(self, market: str) -> None:
        records = [r for r in await self._store.of_market(market) if not r.legacy]
        busy = next((r for r in records if not r.state.finished), None)
        if busy is not None:
            raise ControlError(f"a {busy.kind.value} of {market} is already {busy.state.value}")

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
        await self._store.insert(op)  # before the venue is called: a crash leaves the record
        self._event(op, "requested", requested_by=op.requested_by)
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
                return await self._save(op, message=REDACTOR(f"outcome unknown: {error}"))
            return await self._fail(op, f"refused: {error}")
        op = await self._save(
            op, state=OperationState.SENT, tx_id=tx.tx_id, tx_hash=tx.tx_hash, message=tx.message
        )
        self._event(op, "sent", tx_id=tx.tx_id, tx_hash=tx.tx_hash)
        return await self._apply_status(op, tx)

    # following ---------------------------------------------------------------------------

    async def _follow(self, op: ChainOperation) -> ChainOperation:
        if op.state is OperationState.SENT and op.tx_id:
            try:
                tx = await self._chain.tx_status(op.tx_id)
            except VenueError as error:
                log.warning("status of %s %s unknown: %s", op.kind, op.tx_id, error)
                return op
            return await self._apply_status(op, tx)
        return await self._settle_unsent(op)

    async def _settle_unsent(self, op: ChainOperation) -> ChainOperation:
        """A record without a tx id, or one the venue no longer knows: did the send happen
        (or the transaction get mined)? The holdings say."""
        held = await self._venue_holdings()
        portfolio = self._engine.portfolio
        if op.kind is OperationKind.REDEEM:
            gone = all(held.get(t, ZERO) <= op.amounts[t] - size for t, size in op.amounts.items())
        else:
            gone = all(
                held.get(t, ZERO) <= _held(portfolio.position(t)) - size
                for t, size in op.amounts.items()
            )
        if gone:
            return await self._confirm(replace(op, message="settled from the holdings"))
        age = (self._clock.now() - op.created_at).total_seconds()
        if age >= self._grace:
            if op.tx_id:
                lost = f"not mined: the venue does not know {op.tx_id}; the holdings did not change"
                return await self._fail(op, lost)
            return await self._fail(op, "not sent: the holdings did not change")
        return op

    async def _apply_status(self, op: ChainOperation, tx: ChainTx) -> ChainOperation:
        if tx.state is ChainTxState.CONFIRMED:
            return await self._confirm(replace(op, tx_hash=tx.tx_hash or op.tx_hash))
        if tx.state is ChainTxState.FAILED:
            return await self._fail(op, tx.message or "the transaction failed")
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
        self._alert(op, Severity.WARNING, f"A {verb} is not mined yet", body)

    async def _confirm(self, op: ChainOperation) -> ChainOperation:
        engine = self._engine
        async with engine.lock:
            if op.kind is OperationKind.REDEEM:
                moved = engine.portfolio.redeem(op.market)  # zero if reconciliation did it
            else:
                moved = self._apply_merge(op)
        await engine.writer.drain_now()
        await self._accounts.remember()
        op = await self._save(op, state=OperationState.CONFIRMED)
        self._event(op, "confirmed", payout=op.payout, cash_moved=moved, tx_hash=op.tx_hash)
        self._alert(op, Severity.INFO, f"{_title(op.kind)}: {op.payout:.2f} pUSD", self._body(op))
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

    async def _fail(self, op: ChainOperation, message: str) -> ChainOperation:
        message = REDACTOR(message)
        op = await self._save(op, state=OperationState.FAILED, message=message)
        self._event(op, "failed", message=message)
        what = "Redemption" if op.kind is OperationKind.REDEEM else "Merge"
        self._alert(op, Severity.WARNING, f"{what} failed", message)
        return op

    async def _save(self, op: ChainOperation, **changes: object) -> ChainOperation:
        op = replace(op, updated_at=self._clock.now(), **changes)  # type: ignore[arg-type]
        await self._store.update(op)
        return op

    # telling -----------------------------------------------------------------------------

    def _event(self, op: ChainOperation, what: str, **extra: object) -> None:
        payload: dict[str, object] = {
            "operation_id": op.id,
            "market": op.market,
            "amounts": {t: str(s) for t, s in op.amounts.items()},
            "payout": op.payout,
            **extra,
        }
        name = "redemption" if op.kind is OperationKind.REDEEM else "merge"
        self._events.append(f"{name}_{what}", payload, correlation_id=op.correlation_id)

    def _alert(self, op: ChainOperation, severity: Severity, title: str, body: str) -> None:
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


def _held(position: Position | None) -> Decimal:
    return position.size if position is not None else ZERO


def _title(kind: OperationKind) -> str:
    return "Redeemed" if kind is OperationKind.REDEEM else "Merged"


def _summary(done: Sequence[ChainOperation]) -> RedemptionRun:
    by = {s: tuple(o for o in done if o.state is s) for s in OperationState}
    return RedemptionRun(
        confirmed=by[OperationState.CONFIRMED],
        failed=by[OperationState.FAILED],
        sent=by[OperationState.SENT],
        pending=by[OperationState.REQUESTED],
    )

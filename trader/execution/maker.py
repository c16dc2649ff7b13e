"""The maker desk: passive entries (`OrderIntent.maker`) as post-only orders at or inside the
touch, repriced or cancelled every maker cycle, never outliving the intent that placed them.

- Entry: the engine hands an approved maker intent here under its decision lock. The desk
  prices it from the book (`trader.execution.touch.passive_price`: the best price of the same
  side, ours left out, improved by `improve_ticks`, at most one tick short of the other side,
  never worse than the intent's limit) and sends a post-only order of the approved size: GTD
  expiring with the intent; GTC only for an intent that never lapses. One entry a token: a
  newer one replaces the entry there (its order cancelled first, `maker_replaced`), so every
  order an entry may send is one risk saw.
- Every cycle (`cycle`, each `reprice_s` and at once when a book's tick size changes), under
  the decision lock, each entry is reviewed: an intent that lapsed (expired, trading not
  RUNNING, the market not accepting orders) has its order cancelled and is forgotten; an order
  no longer at the price the touch asks for (or priced on an old tick size) is cancelled and,
  once the venue confirmed the cancel and said what it matched, replaced by a post-only order
  for what is left (its `order_created` event names the order it `replaces`). When the intent
  lapses too soon for a GTD order (`GTD_MIN_LEAD` + `GTD_MARGIN`), it lapses instead: never
  a GTC order in its place, which a SIGKILL or a halt would leave resting.
- Urgency: when no passive price exists within the limit, or the venue refuses the order as
  crossing, an urgent entry takes at its limit (fill-and-kill); a patient one waits for the
  next cycle without an order. An entry that holds no order reserves nothing, so before it
  rests after waiting, and before an urgent take from a cycle, the rule book checks what is
  left of it again (`ExecutionEngine.recheck`); denied, it lapses.
- A restart forgets every entry (intents live in memory; the strategy publishes new ones), so
  `cancel_orphans` at start-up cancels every open post-only order left in the orders table;
  each cycle tries again until the venue works none of them.

Resting orders are working orders of the portfolio like any other: they count against
exposure, cash and open orders while they rest. A reprice of a resting order is no new risk
(the same intent, what is left of its approved size, at a price within its approved limit),
so it is checked against the trading state and the market, not the whole rule book; it counts
for the rate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

from trader.clock import Clock
from trader.control.types import ExecutionResult, Outcome
from trader.domain import (
    SYSTEM_ACTOR,
    ZERO,
    Book,
    OrderIntent,
    OrderStatus,
    OrderType,
    TradingState,
)
from trader.execution.engine import ExecutionEngine
from trader.execution.maker_types import MakerCycle, MakerEntryState, MakerView
from trader.execution.ports import EventSink
from trader.execution.risk import RiskApproval
from trader.execution.touch import passive_price
from trader.execution.trading_state import TradingStateMachine
from trader.venue.base import VenueError
from trader.venue.rounding import GTD_MIN_LEAD

log = logging.getLogger(__name__)
CROSSES = "INVALID_POST_ONLY_ORDER"  # the venue's code for a post-only order that would cross
WAITING = "maker_waiting"
LAPSED = "maker_lapsed"
REPLACE_FAILED = "maker_not_replaced"
GTD_MARGIN = timedelta(seconds=5)  # past the venue's GTD lead: our clock and its may differ


class MakerDesk:
    def __init__(
        self,
        *,
        engine: ExecutionEngine,
        trading: TradingStateMachine,
        events: EventSink,
        clock: Clock,
        reprice_s: float = 30.0,
    ) -> None:
        self._engine = engine
        self._trading = trading
        self._events = events
        self._clock = clock
        self._reprice_s = reprice_s
        self._entries: dict[str, MakerEntryState] = {}
        self._wake = asyncio.Event()
        self._orphans_left = True  # until `cancel_orphans` has run through once

    def entries(self) -> list[MakerView]:
        return [
            MakerView(
                corr,
                e.intent.token_id,
                e.intent.side,
                e.order_id,
                e.price,
                e.size - e.filled,
                e.intent.maker.urgent if e.intent.maker else False,
            )
            for corr, e in self._entries.items()
        ]

    # the engine's gate (called under the decision lock) -----------------------------------

    async def enter(self, intent: OrderIntent, decision: RiskApproval) -> ExecutionResult:
        """Priced off the book risk has just checked (the board's). An entry already on the
        token is replaced: its order cancelled first (one entry a token, so risk sees every
        order it may send); while that cancel fails the new one is refused."""
        corr = intent.correlation_id
        if not await self._replace_on(intent.token_id, corr):
            why = "the maker entry already on this token could not be cancelled"
            return ExecutionResult(Outcome.REFUSED, corr, why, REPLACE_FAILED)
        entry = MakerEntryState(intent, decision.size)
        self._entries[corr] = entry
        book = (await self._engine.board.book_for(intent.token_id)).book
        return await self._post(entry, book, checked=True)

    async def _replace_on(self, token_id: str, by: str) -> bool:
        for corr, old in list(self._entries.items()):
            if old.intent.token_id != token_id:
                continue
            if not await self._cancel(old, "maker entry replaced"):
                return False
            self._entries.pop(corr, None)
            self._events.append(
                "maker_replaced", {"order_id": old.order_id, "by": by}, correlation_id=corr
            )
        return True

    # the cycle ----------------------------------------------------------------------------

    async def run(self) -> None:
        """Review every `reprice_s`, or at once on a tick-size change (a supervised task)."""
        while True:
            sleeper = asyncio.ensure_future(self._clock.sleep(self._reprice_s))
            woken = asyncio.ensure_future(self._wake.wait())
            try:
                await asyncio.wait({sleeper, woken}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in (sleeper, woken):
                    waiter.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await waiter
            self._wake.clear()
            try:
                await self.cycle()
            except VenueError as error:  # the venue down: the next cycle tries again
                log.warning("maker cycle: %s", error)

    def on_book(self, book: Book) -> None:
        """The board's listener: a tick size other than an order was priced on wakes the desk."""
        if any(
            e.intent.token_id == book.token_id and e.tick is not None and e.tick != book.tick_size
            for e in self._entries.values()
        ):
            self._wake.set()

    async def cycle(self) -> MakerCycle:
        """Review every entry once, each under the decision lock (a kill waits for one entry's
        review at most, and the next review sees the trading state it left)."""
        counts = {"kept": 0, "repriced": 0, "lapsed": 0, "taken": 0}
        if self._orphans_left:  # the start-up's cancel failed (the venue was down): again
            try:
                await self.cancel_orphans()
            except VenueError as error:
                log.warning("maker orders left from before still not cancelled: %s", error)
        for entry in list(self._entries.values()):
            async with self._engine.lock:
                if self._entries.get(entry.intent.correlation_id) is entry:
                    counts[await self._review(entry)] += 1
        return MakerCycle(**counts)

    async def _review(self, entry: MakerEntryState) -> str:
        corr = entry.intent.correlation_id
        if not await self._settle(entry):
            return "kept"  # the venue could not say what the ended order matched: wait
        lapsed = self._lapse_reason(entry)
        if lapsed:
            return await self._lapse(entry, lapsed)
        book = await self._fresh_book(entry.intent.token_id)
        if book is not None and self._remaining(entry) < book.min_order_size:
            if entry.order_id is None:
                self._entries.pop(corr, None)  # done: what is left is below the venue minimum
            return "kept"
        if entry.order_id is not None and book is not None and not self._moved(entry, book):
            return "kept"
        if entry.order_id is not None and self._too_soon(entry):  # a repost could not be GTD
            return await self._lapse(entry, self._too_soon(entry))
        waited = entry.order_id is None
        if entry.order_id is not None:
            old = entry.order_id
            if not await self._cancel(entry, "maker reprice") or not await self._settle(entry):
                return "kept"
            self._events.append(
                "maker_repriced",
                {"order_id": old, "price": entry.price, "tick_size": entry.tick},
                correlation_id=corr,
            )
        result = await self._post(entry, book, checked=False, waited=waited)
        if corr not in self._entries:
            return (
                "lapsed" if result.outcome is Outcome.DENIED or result.rule == LAPSED else "taken"
            )
        return "repriced" if entry.order_id is not None else "kept"

    async def _lapse(self, entry: MakerEntryState, reason: str) -> str:
        corr = entry.intent.correlation_id
        if not await self._cancel(entry, f"maker intent lapsed: {reason}"):
            return "kept"  # still resting: never forgotten before its cancel lands
        self._entries.pop(corr, None)
        self._events.append(
            "maker_lapsed", {"order_id": entry.order_id, "reason": reason}, correlation_id=corr
        )
        return "lapsed"

    def _too_soon(self, entry: MakerEntryState) -> str:
        """Why the entry lapses too soon for a GTD order (a GTC one in its place could outlive
        it: a SIGKILL, a halt); "" when it does not."""
        expires = entry.intent.expires_at
        if expires is None or expires - self._clock.now() >= GTD_MIN_LEAD + GTD_MARGIN:
            return ""
        left = (expires - self._clock.now()).total_seconds()
        return f"lapses in {left:.0f}s: too soon for a GTD order (the venue's lead)"

    async def _fresh_book(self, token_id: str) -> Book | None:
        """The venue's book now (a cycle reprices on the touch as it is), onto the board; the
        board's when the venue cannot say."""
        board = self._engine.board
        try:
            board.put_book(await self._engine.venue.get_book(token_id))
        except VenueError as error:
            log.warning("maker cycle: book of %s not read: %s", token_id, error)
        return board.cached_book(token_id)

    def _lapse_reason(self, entry: MakerEntryState) -> str:
        intent = entry.intent
        if intent.expires_at is not None and intent.expires_at <= self._clock.now():
            return f"expired at {intent.expires_at.isoformat()}"
        state = self._trading.state
        if state is not TradingState.RUNNING:
            return f"trading is {state.value}"
        market = self._engine.board.market(intent.market)
        if market is None or market.closed or not market.active or not market.accepting_orders:
            return "the market is not accepting orders"
        return ""

    def _remaining(self, entry: MakerEntryState) -> Decimal:
        working = self._engine.portfolio.order(entry.order_id) if entry.order_id else None
        return entry.size - entry.filled - (working.matched if working else ZERO)

    def _own(self, entry: MakerEntryState) -> dict[Decimal, Decimal]:
        own: dict[Decimal, Decimal] = {}
        for order in self._engine.portfolio.working_orders():
            if order.token_id == entry.intent.token_id and order.side is entry.intent.side:
                own[order.price] = own.get(order.price, ZERO) + order.remaining
        return own

    def _target(self, entry: MakerEntryState, book: Book) -> Decimal | None:
        maker = entry.intent.maker
        ticks = maker.improve_ticks if maker is not None else 0
        intent = entry.intent
        return passive_price(intent.side, intent.limit_price, book, ticks, self._own(entry))

    def _moved(self, entry: MakerEntryState, book: Book) -> bool:
        return entry.tick != book.tick_size or self._target(entry, book) != entry.price

    async def _cancel(self, entry: MakerEntryState, reason: str) -> bool:
        """Cancel the resting order; True once the venue no longer has it open."""
        if entry.order_id is None:
            return True
        order_id = entry.order_id
        working = self._engine.portfolio.order(order_id)
        if working is not None:
            entry.seen_matched = working.matched
        try:
            canceled = await self._engine.cancel([order_id], reason=reason, actor=SYSTEM_ACTOR)
        except VenueError as error:
            log.warning("maker cancel of %s failed: %s", order_id, error)
            return False
        if order_id in canceled:
            return True
        # not cancelled: it ended already (filled, expired) unless it is still working
        return self._engine.portfolio.order(order_id) is None

    async def _settle(self, entry: MakerEntryState) -> bool:
        """An order no longer working: add what it matched (the venue's word) to `filled`."""
        if entry.order_id is None or self._engine.portfolio.order(entry.order_id) is not None:
            return True
        try:
            order = await self._engine.venue.get_order(entry.order_id)
        except VenueError as error:
            log.warning("maker order %s not looked up: %s", entry.order_id, error)
            return False
        if order is not None and order.status.is_open:
            return False  # the venue still works it: not ended after all
        # the venue's word, never less than we saw it match (a late fill still counts)
        matched = max(order.size_matched if order is not None else ZERO, entry.seen_matched)
        entry.filled += matched
        entry.seen_matched = ZERO
        self._events.append(
            "maker_order_ended",
            {"order_id": entry.order_id, "matched": matched},
            correlation_id=entry.intent.correlation_id,
        )
        entry.order_id = entry.price = None
        return True

    # placing ------------------------------------------------------------------------------

    async def _post(
        self, entry: MakerEntryState, book: Book | None, *, checked: bool, waited: bool = False
    ) -> ExecutionResult:
        """`checked`: risk has just approved it (the entry); `waited`: it had no order since
        the last review, so nothing of it is reserved and risk sees it again first."""
        intent = entry.intent
        price = self._target(entry, book) if book is not None else None
        if price is None:
            why = "no passive price within the limit"
            return await self._no_passive(entry, why, checked=checked)
        lasting = intent.expires_at is not None
        too_soon = self._too_soon(entry)
        if too_soon:
            return self._lapse_unposted(entry, too_soon)
        if waited and not checked:
            denied = await self._recheck(entry)
            if denied is not None:
                return denied
            checked = True
        remaining = self._remaining(entry)
        order = replace(
            intent,
            limit_price=price,
            size=remaining,
            notional=None,
            order_type=OrderType.GTD if lasting else OrderType.GTC,
            expires_at=intent.expires_at if lasting else None,
            post_only=True,
        )
        result = await self._engine.place_locked(order, remaining, replaces=entry.last_order_id)
        if result.order_id is not None:
            entry.last_order_id = result.order_id
        if result.outcome is Outcome.REJECTED and result.rule == CROSSES:
            return await self._no_passive(
                entry, "the venue refused it as crossing", checked=checked
            )
        if result.status is not None and (
            result.status.is_open or result.outcome is Outcome.UNKNOWN
        ):
            working = self._engine.portfolio.order(result.order_id or "")
            # the price as the venue boundary rounded it (its tick size may be newer than ours)
            entry.order_id, entry.price = result.order_id, working.price if working else price
            entry.tick = book.tick_size if book is not None else None
        elif result.status is OrderStatus.MATCHED:
            entry.filled += result.filled
        return result

    async def _no_passive(
        self, entry: MakerEntryState, why: str, *, checked: bool
    ) -> ExecutionResult:
        """A patient entry waits; an urgent one takes at its limit, after risk saw it again
        unless it has just (a take may come long after the entry was checked)."""
        intent, corr = entry.intent, entry.intent.correlation_id
        if intent.maker is None or not intent.maker.urgent:
            self._events.append("maker_waiting", {"reason": why}, correlation_id=corr)
            return ExecutionResult(Outcome.REFUSED, corr, f"{why}: waits a cycle", WAITING)
        if not checked:
            denied = await self._recheck(entry)
            if denied is not None:
                return denied
        remaining = self._remaining(entry)
        self._entries.pop(corr, None)
        self._events.append(
            "maker_taking", {"reason": why, "limit_price": intent.limit_price}, correlation_id=corr
        )
        taker = replace(
            intent, size=remaining, notional=None, order_type=OrderType.FAK, post_only=False
        )
        return await self._engine.place_locked(taker, remaining, replaces=entry.last_order_id)

    async def _recheck(self, entry: MakerEntryState) -> ExecutionResult | None:
        """The rule book again for what is left of an entry that holds no order (None: it
        passed; a smaller approval, in a reduced drawdown, shrinks the entry). Denied, the entry
        lapses."""
        intent, corr = entry.intent, entry.intent.correlation_id
        remaining = self._remaining(entry)
        decision = await self._engine.recheck(replace(intent, size=remaining, notional=None))
        if isinstance(decision, RiskApproval):
            entry.size -= remaining - min(remaining, decision.size)
            return None
        why = f"risk denied what is left ({decision.rule.value}): {decision.message}"
        self._lapse_unposted(entry, why)
        return ExecutionResult(Outcome.DENIED, corr, why, decision.rule.value)

    def _lapse_unposted(self, entry: MakerEntryState, reason: str) -> ExecutionResult:
        """Forget an entry with no order resting (nothing to cancel), on the record."""
        corr = entry.intent.correlation_id
        self._entries.pop(corr, None)
        self._events.append(
            "maker_lapsed", {"order_id": None, "reason": reason}, correlation_id=corr
        )
        return ExecutionResult(Outcome.REFUSED, corr, f"maker entry lapsed: {reason}", LAPSED)

    # start-up -----------------------------------------------------------------------------

    async def cancel_orphans(self) -> list[str]:
        """At start-up: every open post-only order in the table whose intent is gone (all of
        them: intents do not survive a restart) is cancelled. The ids cancelled. When the venue
        cannot be reached it raises, and while it still works one (it did not cancel it) each
        cycle tries again, until the venue's open orders hold none of them."""
        # the table's open post-only orders, and the venue's open orders the table knows as
        # post-only: at start-up the table may still call one MATCHED that the venue works
        # (a partial fill the start's reconciliation is still writing back)
        at_venue = [o.order_id for o in await self._engine.venue.open_orders()]
        records = [
            *await self._engine.store.open_orders(),
            *await self._engine.store.orders_by_ids(at_venue),
        ]
        orphans = sorted(
            {
                r.order_id
                for r in records
                if r.post_only and r.order_id and r.correlation_id not in self._entries
            }
        )
        if not orphans:
            self._orphans_left = False
            return []
        canceled = await self._engine.cancel(
            orphans, reason="maker intent gone (restart)", actor=SYSTEM_ACTOR
        )
        # done only once the venue works none of them (one it would not cancel: next cycle)
        still_open = {o.order_id for o in await self._engine.venue.open_orders()}
        self._orphans_left = any(o in still_open for o in orphans if o not in canceled)
        self._events.append(
            "maker_orphans_canceled",
            {"order_ids": orphans, "canceled": canceled},
            correlation_id=None,
        )
        return canceled

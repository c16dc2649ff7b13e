"""The kill switch: stop everything, cancel every order, optionally flatten, survive restarts.

`kill` first moves the trading-state machine to KILLED (in memory at once, so no intent passes
risk from that moment; persisted so it holds after a restart), then waits for the decision in
flight (only that: reconciliation gathers from the venue outside the decision lock), cancels
everything and checks that the venue shows no open order left (cancelling stragglers one by
one, a few rounds). With
flatten, every position is sold with a fill-and-kill order whose limit is the slippage floor:
best bid * (1 - cap), so nothing sells below it; what the book cannot take above the floor
stays held and is reported. `preview` shows all of that before anyone commits to it.

Before it cancels anything, a kill with flatten records what it will sell (trader.execution.
flatten_intent), and clears the record once the sells have run; `finish_interrupted`, called
at start-up after reconciliation, resumes (or only reports) a flatten a crash cut short.

Only `rearm` clears KILLED (or an automatic HALTED).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from decimal import ROUND_CEILING, ROUND_DOWN, Decimal

from trader.bus import Bus
from trader.clock import Clock
from trader.control.types import ExitPreview, ExitResult, KillPreview, KillReport, StateChange
from trader.domain import (
    SYSTEM_ACTOR,
    ZERO,
    Actor,
    Alert,
    Book,
    OrderIntent,
    OrderType,
    Position,
    Severity,
    Side,
    TradingState,
    new_correlation_id,
)
from trader.execution.engine import ExecutionEngine
from trader.execution.flatten_intent import FlattenIntent, FlattenIntentRepository, FlattenSell
from trader.execution.ports import EventSink
from trader.execution.trading_state import TradingStateMachine, Transition
from trader.state import ControlState
from trader.venue.base import VenueError

log = logging.getLogger(__name__)
CANCEL_ROUNDS = 3
SIZE_STEP = Decimal("0.01")
NOT_SENT = "sell not sent"  # an exit whose order row the database refused
AfterCancel = Callable[[], Awaitable[object]]


def exit_preview(
    position: Position, book: Book | None, slippage: Decimal, *, question: str, outcome: str
) -> ExitPreview:
    """What selling `position` into `book` now would do, never below bid * (1 - slippage)."""
    size = position.size.quantize(SIZE_STEP, rounding=ROUND_DOWN)
    if book is None or book.best_bid is None:
        return ExitPreview(
            position.token_id,
            position.market,
            question,
            outcome,
            size,
            None,
            None,
            ZERO,
            ZERO,
            "no bids: nothing can be sold now",
        )
    floor = book.best_bid * (1 - slippage)
    floor = (floor / book.tick_size).to_integral_value(rounding=ROUND_CEILING) * book.tick_size
    floor = max(floor, book.tick_size)
    left, proceeds = size, ZERO
    for level in book.bids:
        if level.price < floor or left <= ZERO:
            break
        take = min(left, level.size)
        proceeds += take * level.price
        left -= take
    note = "" if left <= ZERO else f"{left} shares have no bid at or above {floor}"
    if size < book.min_order_size:
        note = f"{size} shares is below the market's minimum order size {book.min_order_size}"
    return ExitPreview(
        position.token_id,
        position.market,
        question,
        outcome,
        size,
        book.best_bid,
        floor,
        size - left,
        proceeds,
        note,
    )


class KillSwitch:
    def __init__(
        self,
        *,
        engine: ExecutionEngine,
        state: ControlState,
        trading: TradingStateMachine,
        events: EventSink,
        bus: Bus,
        clock: Clock,
        after_cancel: AfterCancel | None = None,
        fill_wait_s: float = 5.0,
    ) -> None:
        self._fill_wait_s = fill_wait_s
        self._engine = engine
        self._state = state
        self._trading = trading
        self._events = events
        self._bus = bus
        self._clock = clock
        self._after_cancel = after_cancel
        self._intents = FlattenIntentRepository(state)

    def _cap(self, slippage: Decimal | None) -> Decimal:
        cap = self._state.risk_limits.flatten_slippage if slippage is None else slippage
        if not ZERO <= cap < 1:
            raise ValueError(f"the slippage cap is a fraction in [0, 1), got {cap}")
        return cap

    async def preview(self, slippage: Decimal | None = None) -> KillPreview:
        cap = self._cap(slippage)
        exits = []
        for position in self._engine.portfolio.positions():
            exits.append(await self._preview_one(position, cap))
        total = sum((e.estimated_proceeds for e in exits), ZERO)
        open_orders = len(self._engine.portfolio.working_orders())
        return KillPreview(open_orders, cap, tuple(exits), total)

    async def _preview_one(self, position: Position, cap: Decimal) -> ExitPreview:
        board = self._engine.board
        view = await board.book_for(position.token_id)
        market = board.market(position.market)
        return exit_preview(
            position,
            view.book,
            cap,
            question=market.question if market else "",
            outcome=board.outcome_of(position.token_id),
        )

    async def kill(
        self, actor: Actor, *, flatten: bool, reason: str = "", slippage: Decimal | None = None
    ) -> KillReport:
        cap = self._cap(slippage)
        text = reason or f"killed by {actor}"
        corr = new_correlation_id()
        change = await self._trading.change(Transition.KILL, text, str(actor), correlation_id=corr)
        self._events.append(
            "kill",
            {
                "from": change.before.value,
                "reason": text,
                "flatten": flatten,
                "slippage": cap,
                "persisted": change.persisted,
            },
            correlation_id=corr,
            actor=actor,
        )
        async with self._engine.lock:  # any decision in flight finishes first
            pass
        saved = await self._record_flatten(actor, cap, text, corr) if flatten else True
        try:
            canceled, left = await self.cancel_everything(actor, text)
        except VenueError as error:  # still KILLED; the operator must know cancels failed
            canceled, left = 0, len(self._engine.portfolio.working_orders())
            self._events.append("kill_cancel_failed", {"error": str(error)}, correlation_id=corr)
        exits: tuple[ExitResult, ...] = ()
        unsent = 0
        if flatten:
            exits = await self._flatten(actor, cap, corr, self._engine.portfolio.positions())
            unsent = sum(1 for e in exits if e.message.startswith(NOT_SENT))
            if not unsent:  # else the record stays: the next start resumes (or reports) it
                await self._clear_flatten(actor)
        message = f"killed: {canceled} orders cancelled, {left} still open at the venue"
        if flatten:
            sold = sum((e.sold for e in exits), ZERO)
            message += f"; sold {sold} shares in {len(exits)} positions"
        if unsent:
            message += (
                f"; {unsent} sell(s) not sent (the database refused the order), "
                "resumed at the next start"
            )
        if not saved:
            message += "; the flatten was NOT recorded before it ran (see the log)"
        if not change.persisted:
            message += "; KILLED holds in memory but is NOT yet saved (retrying)"
        self._events.append(
            "killed",
            {"canceled": canceled, "left": left, "message": message},
            correlation_id=corr,
            actor=actor,
        )
        severity = Severity.CRITICAL
        self._bus.alerts.publish(
            Alert("kill", severity, f"Trading KILLED by {actor}", message, corr, "kill"), corr
        )
        return KillReport(TradingState.KILLED, canceled, left, flatten, exits, message)

    async def cancel_everything(self, actor: Actor | str, reason: str) -> tuple[int, int]:
        """Cancel all, then check the venue until it shows none (a few rounds).
        Returns (cancelled, still open)."""
        engine = self._engine
        canceled = set(await engine.cancel_all(reason=reason, actor=actor))
        remaining = list(await engine.venue.open_orders())
        for _ in range(CANCEL_ROUNDS):
            if not remaining:
                break
            canceled.update(
                await engine.cancel([o.order_id for o in remaining], reason=reason, actor=actor)
            )
            remaining = list(await engine.venue.open_orders())
        if self._after_cancel is not None:
            await self._after_cancel()
        return len(canceled), len(remaining)

    async def _clear_flatten(self, actor: Actor) -> None:
        try:
            await self._intents.clear(str(actor))
        except Exception as error:  # the next start finds it and resumes within the cap
            log.error("could not clear the finished flatten's record: %s", error)

    async def _record_flatten(self, actor: Actor, cap: Decimal, reason: str, corr: str) -> bool:
        """Commit what the flatten will sell before anything is cancelled or sold. False if
        the database refused: the flatten runs anyway (selling matters more than the record)."""
        intent = FlattenIntent(
            slippage=cap,
            requested_by=str(actor),
            requested_at=self._clock.now(),
            correlation_id=corr,
            reason=reason,
            sells=tuple(
                FlattenSell(p.token_id, p.market, p.size)
                for p in self._engine.portfolio.positions()
            ),
        )
        try:
            await self._intents.record(intent)
        except Exception as error:  # any storage failure: log it, flatten regardless
            log.error("could not record the flatten intent: %s", error)
            self._events.append("flatten_not_recorded", {"error": str(error)}, correlation_id=corr)
            return False
        self._events.append("flatten_recorded", intent.to_json(), correlation_id=corr, actor=actor)
        return True

    async def _flatten(
        self, actor: Actor, cap: Decimal, corr: str, positions: Iterable[Position]
    ) -> tuple[ExitResult, ...]:
        results = []
        for position in list(positions):
            preview = await self._preview_one(position, cap)
            results.append(await self._sell(actor, position, preview, corr))
        return tuple(results)

    async def _sell(
        self, actor: Actor, position: Position, preview: ExitPreview, corr: str
    ) -> ExitResult:
        floor = preview.floor_price
        if floor is None or preview.sellable <= ZERO or preview.size <= ZERO:
            return _unsold(position, preview, preview.note or "nothing sellable")
        intent = OrderIntent(
            market=position.market,
            token_id=position.token_id,
            side=Side.SELL,
            limit_price=floor,
            size=preview.size,
            strategy="kill",
            reason="flatten",
            correlation_id=corr,
            order_type=OrderType.FAK,
        )
        try:
            result = await self._engine.place_exit(intent, preview.size, actor)
            if result.order_id:
                await self._wait_for_fills(result.order_id)
        except VenueError as error:
            return _unsold(position, preview, f"sell failed: {error}")
        except Exception as error:  # the order row could not be written: never sent
            log.error("flatten sell of %s not sent: %s", position.token_id, error)
            return _unsold(
                position,
                preview,
                f"{NOT_SENT}: the order could not be recorded ({type(error).__name__})",
            )
        held = self._engine.portfolio.position(position.token_id)
        remaining = held.size if held else ZERO
        sold = max(result.filled, position.size - remaining)
        average = preview.estimated_proceeds / preview.sellable if preview.sellable else None
        return ExitResult(
            position.token_id,
            preview.size,
            sold,
            (average or ZERO) * sold,
            average,
            floor,
            remaining,
            result.message or result.outcome.value,
        )

    async def _wait_for_fills(self, order_id: str) -> None:
        """A venue may answer MATCHED before the fills arrive on the user channel: give
        them a moment, so the report says what was sold (reconciliation settles the rest)."""
        closed = self._engine.portfolio.closed(order_id)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._fill_wait_s):
                await closed.wait()

    async def finish_interrupted(self, *, resume: bool) -> Alert | None:
        """At start-up, after reconciliation: finish (`resume`) or report a flatten that a
        crash cut short, clear its record, and return the critical alert that says so (None
        when there was none). Only a KILLED state is resumed: selling is what KILLED asked."""
        pending = self._intents.pending()
        if pending is None:
            return None
        by = str(SYSTEM_ACTOR)
        if isinstance(pending, str):
            corr = new_correlation_id()
            self._events.append(
                "flatten_record_unreadable", {"raw": pending}, correlation_id=corr, actor=by
            )
            await self._intents.clear(by)
            body = f"An unfinished flatten was found but could not be read: {pending}"
            title = "Interrupted flatten: unreadable record"
            return Alert("kill", Severity.CRITICAL, title, body, corr, "flatten")
        intent, corr = pending, pending.correlation_id
        recorded = {sell.token_id for sell in intent.sells}
        held = [p for p in self._engine.portfolio.positions() if p.token_id in recorded]
        killed = self._trading.status.state is TradingState.KILLED
        asked = (
            f"kill with flatten by {intent.requested_by} at {intent.requested_at:%Y-%m-%d %H:%M}"
        )
        if resume and killed:
            exits = await self._flatten(SYSTEM_ACTOR, intent.slippage, corr, held)
            sold = sum((e.sold for e in exits), ZERO)
            left = [e for e in exits if e.remaining > ZERO]
            lines = [f"{asked} UTC was interrupted; resumed at start-up within the same cap"]
            lines.append(f"sold {sold} shares in {len(exits)} positions (cap {intent.slippage})")
            lines += [f"still held: {e.token_id} {e.remaining} ({e.message})" for e in left]
            event, title = "flatten_resumed", "Interrupted flatten resumed"
            payload: dict[str, object] = {"sold": sold, "still_held": len(left)}
        else:
            why = "resuming is off (KILL_RESUME_FLATTEN)" if killed else "trading is not KILLED"
            lines = [f"{asked} UTC was interrupted; not resumed: {why}"]
            lines += [f"still held: {p.token_id} {p.size} shares" for p in held] or ["none held"]
            event, title = "flatten_interrupted", "Interrupted flatten NOT finished"
            payload = {"held": {p.token_id: p.size for p in held}, "why": why}
        self._events.append(event, payload, correlation_id=corr, actor=by)
        await self._intents.clear(by)
        return Alert("kill", Severity.CRITICAL, title, "\n".join(lines), corr, "flatten")

    async def rearm(self, actor: Actor) -> StateChange:
        """Clear KILLED or HALTED back to RUNNING (the only way out of them); raises
        `TransitionRefused` from any other state."""
        corr = new_correlation_id()
        change = await self._trading.change(
            Transition.REARM, f"re-armed by {actor}", str(actor), correlation_id=corr
        )
        if not change.changed:
            return change
        self._events.append(
            "rearmed", {"from": change.before.value}, correlation_id=corr, actor=actor
        )
        self._bus.alerts.publish(
            Alert(
                "rearm",
                Severity.WARNING,
                f"Trading re-armed by {actor}",
                f"was {change.before.value}",
                corr,
            ),
            corr,
        )
        return change


def _unsold(position: Position, preview: ExitPreview, note: str) -> ExitResult:
    """A position the flatten did not sell: all of its previewed size left, and why."""
    return ExitResult(
        position.token_id,
        preview.size,
        ZERO,
        ZERO,
        None,
        preview.floor_price,
        preview.size,
        note,
    )

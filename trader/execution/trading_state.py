"""The trading-state machine: the one writer of RUNNING / PAUSED / KILLED / HALTED.

Every change goes through `TradingStateMachine.change`, which checks the transition table,
persists the new state to the control-state store and publishes it (event log line and
listeners), returning a `StateChange`. Nothing else writes the trading state (an
import-linter contract: only `trader.execution` may import this module).

Who may move where (`TRANSITIONS`):

    PAUSE   operator   RUNNING -> PAUSED
    RESUME  operator   PAUSED  -> RUNNING
    KILL    operator   any     -> KILLED
    HALT    automatic  RUNNING, PAUSED -> HALTED
    REARM   operator   KILLED, HALTED  -> RUNNING   (the only way out of either)

A transition to the state already held is no change (`changed=False`, nothing written); one
the table does not allow raises `TransitionRefused`.

Persisting, and what happens when the database write fails or is slow:

- Operator moves (pause, resume, re-arm) take the machine's lock, write first and change
  memory only once the write has landed. A failed write raises `StateNotSaved` and memory is
  unchanged. A safety move (kill, halt) that lands while such a write is in flight wins: the
  operator move is refused as superseded and the safety state is written after it, so a
  `/resume` in flight can never undo a kill or a halt.
- Safety moves (kill, halt) change memory at once, without waiting for the lock (so from
  that instant no intent passes risk), publish, and then persist under the lock. If the
  write fails they still hold in memory, the `StateChange` says `persisted=False`, and a
  background task retries writing until it lands.
- Every write stores the current in-memory state, and any failed write (operator ones too,
  whose outcome is unknown) marks the store dirty for the retry, so once the database
  answers again it always equals memory. `flush()` makes one attempt at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from trader.clock import Clock
from trader.control.types import ControlError, EventSink, StateChange, TradingStatus
from trader.domain import TradingState
from trader.state import TRADING_STATE_KEY, KeyValueStore

log = logging.getLogger(__name__)
RUNNING, PAUSED = TradingState.RUNNING, TradingState.PAUSED
KILLED, HALTED = TradingState.KILLED, TradingState.HALTED
ANY = frozenset(TradingState)
RETRY_FIRST_S = 0.5
RETRY_MAX_S = 30.0
Listener = Callable[[StateChange], object]


class Transition(StrEnum):
    PAUSE = "pause"
    RESUME = "resume"
    KILL = "kill"
    HALT = "halt"
    REARM = "rearm"


@dataclass(frozen=True, slots=True)
class Rule:
    sources: frozenset[TradingState]
    target: TradingState


TRANSITIONS: Mapping[Transition, Rule] = {
    Transition.PAUSE: Rule(frozenset({RUNNING}), PAUSED),
    Transition.RESUME: Rule(frozenset({PAUSED}), RUNNING),
    Transition.KILL: Rule(ANY, KILLED),
    Transition.HALT: Rule(frozenset({RUNNING, PAUSED}), HALTED),
    Transition.REARM: Rule(frozenset({KILLED, HALTED}), RUNNING),
}
SAFETY = frozenset({Transition.KILL, Transition.HALT})


def allowed(transition: Transition, before: TradingState, after: TradingState) -> bool:
    """Whether the table lets `transition` move `before` to `after` (a no-change included)."""
    rule = TRANSITIONS[transition]
    return after is rule.target and (before in rule.sources or before is after)


class TransitionRefused(ControlError):
    """The transition table does not allow this move from the current state."""


class StateNotSaved(ControlError):
    """The database did not take an operator's change: nothing changed."""


class TradingStateMachine:
    def __init__(
        self,
        store: KeyValueStore,
        clock: Clock,
        events: EventSink,
        *,
        initial: Mapping[str, Any] | None = None,
    ) -> None:
        """`initial` is the stored `trading_state` value (None on a first start: RUNNING)."""
        self._store = store
        self._clock = clock
        self._events = events
        self._status = TradingStatus.from_json(initial)
        self._generation = 0  # bumped by every change of memory
        self._lock = asyncio.Lock()
        self._dirty = False  # a write failed: the database may differ from memory
        self._retry: asyncio.Task[None] | None = None
        self._listeners: list[Listener] = []

    @property
    def status(self) -> TradingStatus:
        return self._status

    @property
    def state(self) -> TradingState:
        return self._status.state

    @property
    def dirty(self) -> bool:
        """True while a failed write has not yet been retried successfully."""
        return self._dirty

    def subscribe(self, listener: Listener) -> None:
        """Called with every `StateChange` that changed the state, at the moment it does."""
        self._listeners.append(listener)

    async def change(
        self, transition: Transition, reason: str, by: str, *, correlation_id: str | None = None
    ) -> StateChange:
        """Check, persist and publish one move (see the module's docstring)."""
        if transition in SAFETY:
            return await self._safety(transition, reason, by, correlation_id)
        async with self._lock:
            before = self._status
            target = self._check(transition, before.state)
            if target is before.state:
                return StateChange(before.state, target, before.reason, changed=False)
            after = TradingStatus(target, reason, by, self._clock.now())
            generation = self._generation
            try:
                await self._store.set(TRADING_STATE_KEY, after.to_json(), updated_by=by)
            except Exception as error:
                self._mark_dirty(error)
                raise StateNotSaved(
                    f"could not save the trading state ({type(error).__name__}); "
                    f"still {before.state.value}, nothing changed"
                ) from error
            if generation != self._generation:  # a kill or halt landed during the write
                now = self._status.state
                self._mark_dirty(None)  # the write just made stored what memory is not
                raise TransitionRefused(f"trading became {now.value} meanwhile: {transition} void")
            self._dirty = False
            return self._commit(transition, before, after, correlation_id, persisted=True)

    def _check(self, transition: Transition, current: TradingState) -> TradingState:
        rule = TRANSITIONS[transition]
        if current is rule.target or current in rule.sources:
            return rule.target
        if transition is Transition.REARM:
            raise TransitionRefused(f"trading is {current.value}: nothing to re-arm")
        if transition is Transition.HALT:
            raise TransitionRefused(f"trading is {current.value}: a halt does not override it")
        if transition is Transition.PAUSE:
            raise TransitionRefused(
                f"trading is {current.value}; re-arm it first, then pause or resume"
            )
        raise TransitionRefused(f"trading is {current.value}: only /rearm clears it")

    async def _safety(
        self, transition: Transition, reason: str, by: str, corr: str | None
    ) -> StateChange:
        before = self._status
        target = self._check(transition, before.state)  # no await before memory changes
        if target is before.state:
            return StateChange(before.state, target, before.reason, changed=False)
        after = TradingStatus(target, reason, by, self._clock.now())
        self._commit(transition, before, after, corr, persisted=False)
        persisted = await self._write_current(by)
        return StateChange(before.state, target, reason, changed=True, persisted=persisted)

    def _commit(
        self,
        transition: Transition,
        before: TradingStatus,
        after: TradingStatus,
        corr: str | None,
        *,
        persisted: bool,
    ) -> StateChange:
        self._status = after
        self._generation += 1
        change = StateChange(before.state, after.state, after.reason, True, persisted)
        self._events.append(
            "trading_state_changed",
            {
                "from": before.state.value,
                "to": after.state.value,
                "transition": transition.value,
                "reason": after.reason,
            },
            correlation_id=corr,
            actor=after.changed_by,
        )
        for listener in list(self._listeners):
            try:
                listener(change)
            except Exception:  # a listener's bug must not undo a kill
                log.exception("trading-state listener failed")
        return change

    async def _write_current(self, by: str) -> bool:
        """Under the lock, store what memory holds now; False (and a retry) if it failed."""
        async with self._lock:
            try:
                await self._store.set(TRADING_STATE_KEY, self._status.to_json(), updated_by=by)
            except Exception as error:
                self._mark_dirty(error)
                return False
            self._dirty = False
            return True

    def _mark_dirty(self, error: BaseException | None) -> None:
        self._dirty = True
        if error is not None:
            log.error("could not save the trading state: %s; retrying", error)
        if self._retry is None or self._retry.done():
            with contextlib.suppress(RuntimeError):  # no running loop: flush() catches up
                self._retry = asyncio.get_running_loop().create_task(self._retry_until_saved())

    async def _retry_until_saved(self) -> None:
        # A hand-written loop (no retry library in the dependencies): until the write lands,
        # doubling from 0.5 s to at most 30 s, on the injected clock.
        delay = RETRY_FIRST_S
        while self._dirty:
            await self._clock.sleep(delay)
            if not self._dirty or await self.flush():
                return
            delay = min(delay * 2, RETRY_MAX_S)

    async def flush(self) -> bool:
        """If a write failed, try once more now. True when the database equals memory."""
        if not self._dirty:
            return True
        async with self._lock:
            if not self._dirty:
                return True
            try:
                await self._store.set(
                    TRADING_STATE_KEY, self._status.to_json(), updated_by="system:retry"
                )
            except Exception as error:
                log.warning("trading state still not saved: %s", error)
                return False
            self._dirty = False
            return True

    async def close(self) -> None:
        """Stop retrying (one last attempt first)."""
        await self.flush()
        task, self._retry = self._retry, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

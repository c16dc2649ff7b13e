"""The trading-state machine: the transition table, races with slow and failing writes, and a
property over random interleavings (memory always ends equal to the database)."""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.waiting import eventually
from trader.clock import FakeClock
from trader.control.types import StateChange
from trader.domain import TradingState
from trader.execution.trading_state import (
    TRANSITIONS,
    StateNotSaved,
    TradingStateMachine,
    Transition,
    TransitionRefused,
    allowed,
)
from trader.state import TRADING_STATE_KEY

RUNNING, PAUSED = TradingState.RUNNING, TradingState.PAUSED
KILLED, HALTED = TradingState.KILLED, TradingState.HALTED
ALLOWED_PAIRS = {(before, rule.target) for rule in TRANSITIONS.values() for before in rule.sources}


@dataclass
class Write:
    delay: int = 0  # event-loop turns before it answers
    fail: bool = False


class ScriptedStore:
    """A control-state store whose writes follow a script: held until released, delayed by
    some loop turns, or failing. With the script spent, writes land at once."""

    def __init__(self, *script: Write) -> None:
        self.values: dict[str, Any] = {}
        self.script: deque[Write] = deque(script)
        self.gate: asyncio.Event | None = None
        self.waiting = 0

    def hold(self) -> None:
        self.gate = asyncio.Event()

    def release(self) -> None:
        assert self.gate is not None
        self.gate.set()

    async def get_all(self) -> dict[str, Any]:
        return dict(self.values)

    async def set(self, key: str, value: Any, *, updated_by: str) -> None:
        step = self.script.popleft() if self.script else Write()
        if self.gate is not None:
            self.waiting += 1
            await self.gate.wait()
        for _ in range(step.delay):
            await asyncio.sleep(0)
        if step.fail:
            raise OSError("database is locked")
        self.values[key] = value

    def stored(self) -> TradingState | None:
        raw = self.values.get(TRADING_STATE_KEY)
        return None if raw is None else TradingState(raw["state"])


@dataclass
class Events:
    rows: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def append(self, type: str, payload: Any = None, **_: Any) -> None:
        self.rows.append((type, dict(payload or {})))


def machine(store: ScriptedStore, start: TradingState = RUNNING) -> TradingStateMachine:
    return TradingStateMachine(
        store, FakeClock(), Events(), initial={"state": start.value, "reason": "", "by": ""}
    )


async def test_the_table_allows_only_the_issue_moves() -> None:
    assert {
        (RUNNING, PAUSED),
        (PAUSED, RUNNING),
        (RUNNING, KILLED),
        (PAUSED, KILLED),
        (HALTED, KILLED),
        (KILLED, KILLED),
        (RUNNING, HALTED),
        (PAUSED, HALTED),
        (KILLED, RUNNING),
        (HALTED, RUNNING),
    } == ALLOWED_PAIRS
    trading = machine(ScriptedStore(), KILLED)
    for move in (Transition.PAUSE, Transition.RESUME, Transition.HALT):
        with pytest.raises(TransitionRefused):
            await trading.change(move, "x", "test")
    assert trading.state is KILLED


async def test_a_resume_racing_a_halt_with_a_slow_write_never_leaves_running() -> None:
    store = ScriptedStore()
    trading = machine(store, PAUSED)
    store.hold()  # the resume's write is slow (a locked SQLite, say)
    resume = asyncio.create_task(trading.change(Transition.RESUME, "resumed", "telegram:1"))
    await eventually(lambda: store.waiting == 1)

    halt = asyncio.create_task(trading.change(Transition.HALT, "feed_down", "system:auto-halt"))
    await asyncio.sleep(0)
    assert trading.state is HALTED  # in memory at once, while the resume's write hangs
    store.release()
    halted = await halt

    with pytest.raises(TransitionRefused, match="HALTED"):
        await resume
    assert (halted.before, halted.after, halted.persisted) == (PAUSED, HALTED, True)
    assert trading.state is HALTED
    assert store.stored() is HALTED


async def test_a_pause_racing_a_kill_never_leaves_paused() -> None:
    store = ScriptedStore()
    trading = machine(store, RUNNING)
    store.hold()
    pause = asyncio.create_task(trading.change(Transition.PAUSE, "lunch", "telegram:1"))
    await eventually(lambda: store.waiting == 1)

    kill = asyncio.create_task(trading.change(Transition.KILL, "stop", "telegram:2"))
    await asyncio.sleep(0)
    assert trading.state is KILLED
    store.release()
    await kill

    with pytest.raises(TransitionRefused):
        await pause
    assert trading.state is KILLED
    assert store.stored() is KILLED


async def test_an_operator_change_the_database_refuses_changes_nothing() -> None:
    store = ScriptedStore(Write(fail=True))
    trading = machine(store, RUNNING)
    seen: list[StateChange] = []
    trading.subscribe(seen.append)

    with pytest.raises(StateNotSaved, match="still RUNNING"):
        await trading.change(Transition.PAUSE, "lunch", "telegram:1")

    assert trading.state is RUNNING
    assert seen == []
    await trading.close()
    assert store.stored() is RUNNING  # the retry wrote what memory holds


async def test_a_halt_the_database_refuses_holds_in_memory_and_is_retried() -> None:
    store = ScriptedStore(Write(fail=True), Write(fail=True), Write(fail=True))
    trading = machine(store, RUNNING)

    change = await trading.change(Transition.HALT, "venue_errors", "system:auto-halt")

    assert (change.after, change.changed, change.persisted) == (HALTED, True, False)
    assert trading.state is HALTED
    assert trading.dirty
    await eventually(lambda: not trading.dirty)  # the background retry, on the fake clock
    assert store.stored() is HALTED
    await trading.close()


async def test_a_kill_while_killed_writes_nothing() -> None:
    store = ScriptedStore()
    trading = machine(store, KILLED)

    change = await trading.change(Transition.KILL, "again", "telegram:1")

    assert change.changed is False
    assert store.values == {}


OPS = st.lists(
    st.tuples(
        st.sampled_from(list(Transition)),
        st.integers(min_value=0, max_value=3),  # loop turns before the op starts
    ),
    min_size=1,
    max_size=8,
)
WRITES = st.lists(
    st.builds(Write, st.integers(min_value=0, max_value=4), st.booleans()), max_size=10
)


@settings(max_examples=300, deadline=None)
@given(start=st.sampled_from(list(TradingState)), ops=OPS, writes=WRITES)
def test_any_interleaving_ends_in_an_allowed_state_with_memory_equal_to_the_database(
    start: TradingState, ops: list[tuple[Transition, int]], writes: list[Write]
) -> None:
    asyncio.run(_interleave(start, ops, writes))


async def _interleave(
    start: TradingState, ops: list[tuple[Transition, int]], writes: list[Write]
) -> None:
    store = ScriptedStore(*writes)
    trading = machine(store, start)
    published: list[StateChange] = []
    trading.subscribe(published.append)

    async def run(move: Transition, wait: int) -> StateChange:
        for _ in range(wait):
            await asyncio.sleep(0)
        return await trading.change(move, move.value, "test")

    results = await asyncio.gather(*(run(m, w) for m, w in ops), return_exceptions=True)
    store.script.clear()  # the database answers again
    await trading.close()

    for (move, _), result in zip(ops, results, strict=True):
        if isinstance(result, BaseException):
            assert isinstance(result, TransitionRefused | StateNotSaved), result
        else:
            assert allowed(move, result.before, result.after)
    state = start
    for change in published:  # the published history is a walk through the table
        assert change.before is state
        assert (change.before, change.after) in ALLOWED_PAIRS
        state = change.after
    assert trading.state is state
    assert not trading.dirty
    if store.values:  # memory equals the database
        assert store.stored() is trading.state
    else:  # nothing was ever written: nothing changed
        assert published == []

"""A kill with flatten cut short by a crash (issue #15 item 5): recorded before the first sell,
then resumed or reported by the next core built on the same database (paper venue)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tests.support.execution_rig import (
    CONDITION,
    YES,
    Rig,
    book,
    build_rig,
    buy,
    market,
    paper_rig,
)
from tests.support.paper import MemoryJournal
from trader.clock import FakeClock
from trader.domain import Actor, Alert, Severity, Side, TradingState
from trader.execution.flatten_intent import (
    PENDING_FLATTEN_KEY,
    FlattenIntent,
    FlattenIntentRepository,
    FlattenSell,
)
from trader.execution.runtime import ExecutionConfig
from trader.execution.store import OrderRecord, SqlExecutionStore
from trader.execution.trading_state import Transition
from trader.store.repositories import ControlStateRepository
from trader.venue.base import PreparedOrder, SubmitResult
from trader.venue.paper.feed import StaticMarketData
from trader.venue.paper.venue import PaperVenue

D = Decimal
OPERATOR = Actor("telegram", "42", "ops")


async def _interrupted_kill(rig: Rig, slippage: str, *, killed: bool = True) -> None:
    """What a SIGKILL between cancel-all and the sells leaves: KILLED saved, the intent saved."""
    await rig.runtime.handle(buy(size="20"))
    assert rig.runtime.position(YES) is not None
    if killed:
        await rig.runtime.trading.change(Transition.KILL, "killed by ops", str(OPERATOR))
    await FlattenIntentRepository(rig.state).record(
        FlattenIntent(
            slippage=D(slippage),
            requested_by=str(OPERATOR),
            requested_at=rig.clock.now(),
            correlation_id="corr-flatten",
            reason="killed by ops",
            sells=(FlattenSell(YES, CONDITION, D(20)),),
        )
    )
    await rig.runtime.flush()
    await rig.stop()  # the process dies; the venue (the outside world) stays


@asynccontextmanager
async def _restarted(
    rig: Rig,
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    *,
    resume: bool,
) -> AsyncIterator[tuple[Rig, list[Alert]]]:
    """The next core on the same database and venue, started; its start-up alerts. Stopped on
    the way out."""
    config = ExecutionConfig(book_feed=False, unknown_grace_s=0, resume_flatten=resume)
    again = await build_rig(
        engine, sessions, rig.venue, rig.clock, config=config, data=rig.data, start=False
    )
    again.run("execution.writer", "execution.fills")
    alerts = again.bus.alerts.subscribe()
    await again.runtime.start()
    again.runtime.announce_startup()
    received = []
    while (envelope := alerts.get_nowait()) is not None:
        received.append(envelope.payload)
    alerts.close()
    try:
        yield again, received
    finally:
        await again.stop()
        await again.events.close()


async def _stored(sessions: async_sessionmaker[AsyncSession], rig: Rig) -> Any:
    return await ControlStateRepository(sessions, rig.clock).get(PENDING_FLATTEN_KEY)


def _held(rig: Rig) -> Decimal | None:
    """The size of the YES position, None when there is none."""
    position = rig.runtime.position(YES)
    return None if position is None else position.size


async def test_an_interrupted_flatten_is_resumed_within_its_cap_and_cleared(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with paper_rig(engine, sessions) as rig:
        await _interrupted_kill(rig, slippage="0.01")
        assert rig.data is not None
        # the book thinned while we were down: 10 at 0.48, the rest below the 1% floor (0.48)
        rig.data.set_book(book(YES, [("0.48", "10"), ("0.47", "100")], [("0.52", "100")]))

        async with _restarted(rig, engine, sessions, resume=True) as (again, alerts):
            assert again.trading.state is TradingState.KILLED
            assert _held(again) == D(10)  # sold 10 at 0.48; 0.47 is below the recorded cap
            sells = [f for f in await rig.venue.trades(market=CONDITION) if f.side is Side.SELL]
            assert sum(f.size for f in sells) == D(10)
            assert all(f.price >= D("0.48") for f in sells)
            assert await _stored(sessions, again) is None
            (alert,) = alerts
            assert alert.severity is Severity.CRITICAL
            assert alert.title == "Interrupted flatten resumed"
            assert "sold 10 shares in 1 positions (cap 0.01)" in alert.body
            assert f"still held: {YES} 10" in alert.body
            assert "flatten_resumed" in await again.event_types("corr-flatten")


async def test_with_resume_off_the_positions_stay_and_a_critical_alert_lists_them(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with paper_rig(engine, sessions) as rig:
        await _interrupted_kill(rig, slippage="0.05")

        async with _restarted(rig, engine, sessions, resume=False) as (again, alerts):
            assert _held(again) == D(20)
            trades = await rig.venue.trades(market=CONDITION)
            assert [f for f in trades if f.side is Side.SELL] == []
            (alert,) = alerts
            assert alert.severity is Severity.CRITICAL
            assert alert.title == "Interrupted flatten NOT finished"
            assert f"still held: {YES} 20.00 shares" in alert.body
            assert "KILL_RESUME_FLATTEN" in alert.body
            assert await _stored(sessions, again) is None


async def test_a_record_without_killed_is_reported_not_resumed(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with paper_rig(engine, sessions) as rig:
        await _interrupted_kill(rig, slippage="0.05", killed=False)

        async with _restarted(rig, engine, sessions, resume=True) as (again, alerts):
            assert _held(again) == D(20)
            (alert,) = alerts
            assert alert.severity is Severity.CRITICAL
            assert "not resumed: trading is not KILLED" in alert.body
            assert await _stored(sessions, again) is None


async def test_an_unreadable_record_is_reported_and_cleared(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with paper_rig(engine, sessions) as rig:
        await rig.runtime.handle(buy(size="20"))
        await rig.state.put(PENDING_FLATTEN_KEY, {"slippage": "lots"}, "test")
        await rig.stop()

        async with _restarted(rig, engine, sessions, resume=True) as (again, alerts):
            (alert,) = alerts
            assert alert.severity is Severity.CRITICAL
            assert alert.title == "Interrupted flatten: unreadable record"
            assert "lots" in alert.body
            assert _held(again) == D(20)
            assert await _stored(sessions, again) is None


async def test_a_clean_start_sends_no_flatten_alert(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with paper_rig(engine, sessions) as rig:
        await rig.runtime.handle(buy(size="20"))
        await rig.stop()
        async with _restarted(rig, engine, sessions, resume=True) as (again, alerts):
            assert alerts == []
            assert _held(again) == D(20)


class _WatchedVenue(PaperVenue):
    """Reads the stored flatten record each time a sell is submitted."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sessions = sessions
        self.seen: list[Any] = []

    async def submit(self, order: PreparedOrder) -> SubmitResult:
        if order.request.side is Side.SELL:
            repository = ControlStateRepository(self.sessions, self._clock)
            self.seen.append(await repository.get(PENDING_FLATTEN_KEY))
        return await super().submit(order)


async def test_kill_commits_the_record_before_the_first_sell_and_clears_it_after(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    clock = FakeClock()
    data = StaticMarketData(clock, [market(clock=clock)])
    data.set_book(book(YES, [("0.48", "100")], [("0.52", "100"), ("0.53", "100")]))
    venue = _WatchedVenue(
        sessions, source=data, bankroll=D(1000), clock=clock, journal=MemoryJournal()
    )
    await venue.start()
    rig = await build_rig(engine, sessions, venue, clock, data=data)
    rig.run("execution.writer", "execution.fills")
    try:
        await rig.runtime.handle(buy(size="20"))

        report = await rig.runtime.kill_switch.kill(OPERATOR, flatten=True, slippage=D("0.05"))

        assert report.exits[0].sold == D(20)
        (record,) = venue.seen
        assert record["slippage"] == "0.05"
        assert record["requested_by"] == str(OPERATOR)
        assert record["sells"] == [{"token_id": YES, "market": CONDITION, "size": "20.00"}]
        assert await _stored(sessions, rig) is None
    finally:
        await rig.stop()
        await venue.close()
        data.close()
        await rig.events.close()


class LockedForExits(SqlExecutionStore):
    """The database refuses the flatten's order rows, as SQLite does to a writer that waited
    out its busy timeout behind another connection's lock."""

    async def insert_order(self, order: OrderRecord) -> None:
        if order.strategy == "kill":
            raise OperationalError("INSERT INTO orders", {}, Exception("database is locked"))
        await super().insert_order(order)


async def test_a_flatten_whose_sells_the_database_refuses_still_reports_and_stays_recorded(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """The chaos run's database lock during a kill with flatten: the sell's order row failed,
    the error escaped the kill, the operator's button got no answer and the other positions
    were not tried. Now each sell that could not be recorded is reported as not sent, the
    kill finishes (KILLED, the report), and the flatten stays recorded for the next start."""
    clock = FakeClock()
    data = StaticMarketData(clock, [market(clock=clock)])
    data.set_book(book(YES, [("0.48", "100")], [("0.52", "100"), ("0.53", "100")]))
    venue = PaperVenue(data, bankroll=D(1000), clock=clock, journal=MemoryJournal())
    await venue.start()
    rig = await build_rig(
        engine, sessions, venue, clock, data=data, store=LockedForExits(sessions, clock)
    )
    rig.run("execution.writer")
    try:
        bought = await rig.runtime.handle(buy())
        report = await rig.runtime.kill_switch.kill(OPERATOR, flatten=True, slippage=D("0.05"))
        pending = FlattenIntentRepository(rig.state).pending()
    finally:
        await rig.stop()
        await venue.close()
        data.close()
        await rig.events.close()

    assert bought.filled > 0
    assert report.state is TradingState.KILLED
    (exit_,) = report.exits
    assert exit_.sold == 0
    assert exit_.remaining == bought.filled
    assert "not sent" in exit_.message
    assert isinstance(pending, FlattenIntent)  # resumed (or reported) at the next start
    assert "not sent" in report.message

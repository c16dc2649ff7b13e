"""Fixtures for the execution tests: the execution core built by `build_execution` on a real
database (SQLite; PostgreSQL too with TEST_DATABASE_URL), a real event log, and a paper venue
over in-memory books."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from polysim.clob.app import SimServer, serve
from tests.support.chat_stack import chat_over
from tests.support.driver import SIM_KEY, venue_at
from tests.support.paper import MemoryJournal
from tests.support.sim import avoid_ca_bundle
from tests.support.telegram_server import FakeBotAPI
from trader.bus import Bus
from trader.clock import Clock, FakeClock, SystemClock
from trader.control.api import ControlAPI
from trader.control.types import TradingStatus
from trader.domain import (
    Book,
    BookLevel,
    MakerEntry,
    Market,
    OrderIntent,
    OutcomeToken,
    Side,
    TradingMode,
)
from trader.execution.accounts import ResolutionSource
from trader.execution.runtime import ExecutionConfig, ExecutionCore, build_execution
from trader.execution.store import ExecutionStore
from trader.state import ControlState, RiskLimits
from trader.store.eventlog import EventLog
from trader.store.repositories import ControlStateRepository
from trader.venue.base import Venue
from trader.venue.paper.feed import StaticMarketData
from trader.venue.paper.venue import PaperVenue
from trader.venue.polymarket.adapter import PolymarketVenue
from trader.venue.polymarket.market_data import PolymarketEndpoints

YES, NO = "tok-yes", "tok-no"
CONDITION = "0xcondition"
D = Decimal

TEST_LIMITS = RiskLimits(
    cooldown_s=D(0),
    max_orders_per_minute=1000,
    max_open_orders=50,
    min_edge=D("0.01"),
    min_time_to_end_s=D(0),
)


def market(end_in: timedelta = timedelta(days=30), clock: Clock | None = None) -> Market:
    start = (clock or FakeClock()).now()
    return Market(
        condition_id=CONDITION,
        question="Will it rain tomorrow?",
        tokens=(OutcomeToken(YES, "Yes"), OutcomeToken(NO, "No")),
        end_date=start + end_in,
    )


def book(token: str, bids: Sequence[tuple[str, str]], asks: Sequence[tuple[str, str]]) -> Book:
    return Book(
        token_id=token,
        bids=tuple(BookLevel(D(p), D(s)) for p, s in bids),
        asks=tuple(BookLevel(D(p), D(s)) for p, s in asks),
        timestamp=FakeClock().now(),
        market=CONDITION,
    )


def buy(price: str = "0.53", size: str = "20", model: str = "0.65", **kw: object) -> OrderIntent:
    return OrderIntent(
        market=CONDITION,
        token_id=str(kw.pop("token_id", YES)),
        side=Side.BUY,
        limit_price=D(price),
        size=D(size),
        model_probability=D(model),
        strategy="test",
        **kw,  # type: ignore[arg-type]
    )


def maker_buy(
    limit: str = "0.53",
    size: str = "20",
    *,
    ticks: int = 1,
    urgent: bool = False,
    expires_at: datetime | None = None,
    model: str = "0.65",
) -> OrderIntent:
    """A passive entry (post-only, repriced by the maker desk), as `passive_entry` makes one."""
    return dataclasses.replace(
        buy(limit, size, model),
        post_only=True,
        expires_at=expires_at,
        maker=MakerEntry(improve_ticks=ticks, urgent=urgent),
    )


def sell(price: str, size: str, token_id: str = YES) -> OrderIntent:
    return OrderIntent(CONDITION, token_id, Side.SELL, D(price), size=D(size), strategy="test")


@dataclass
class Rig:
    runtime: ExecutionCore
    state: ControlState
    events: EventLog
    bus: Bus
    clock: Clock
    venue: Venue
    data: StaticMarketData | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def trading(self) -> TradingStatus:
        return self.runtime.trading.status

    def run(self, *names: str) -> None:
        parts = {"execution.book_feed": self.runtime.follow_books, **self.runtime.components()}
        for name in names:
            self.tasks.append(asyncio.create_task(parts[name](), name=name))

    def control(self, mode: TradingMode = TradingMode.PAPER) -> ControlAPI:
        """The real Control API over this rig's execution core, as the app wires it."""
        return ControlAPI(
            state=self.state,
            events=self.events,
            event_reader=self.events,
            clock=self.clock,
            mode=mode,
            desk=self.runtime.desk,
        )

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.tasks.clear()
        await self.runtime.close()

    async def event_types(self, correlation_id: str) -> list[str]:
        return [e.type for e in await self.events.by_correlation(correlation_id)]


async def build_rig(
    database: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    venue: Venue,
    clock: Clock,
    *,
    limits: RiskLimits = TEST_LIMITS,
    config: ExecutionConfig | None = None,
    data: StaticMarketData | None = None,
    start: bool = True,
    resolutions: ResolutionSource | None = None,
    flush_interval: float = 0.01,
    store: ExecutionStore | None = None,
    durable: Callable[[EventLog], Callable[[], Awaitable[None]]] | None = None,
) -> Rig:
    events = EventLog(sessions, clock, flush_interval=flush_interval, batch_size=10_000)
    await events.start()
    state = ControlState(ControlStateRepository(sessions, clock), clock, risk_defaults=limits)
    await state.load()
    bus = Bus()
    runtime = build_execution(
        config=config or ExecutionConfig(book_feed=False, unknown_grace_s=0),
        sessions=sessions,
        events=events,
        bus=bus,
        venue=venue,
        clock=clock,
        state=state,
        resolutions=resolutions,
        durable=events.flush if durable is None else durable(events),  # as the app wires it
        store=store,
    )
    if start:
        await runtime.start()
    return Rig(runtime, state, events, bus, clock, venue, data)


@contextlib.asynccontextmanager
async def paper_rig(
    database: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    *,
    clock: FakeClock | None = None,
    limits: RiskLimits = TEST_LIMITS,
    journal: MemoryJournal | None = None,
    config: ExecutionConfig | None = None,
) -> AsyncIterator[Rig]:
    """A paper venue over two in-memory books; the writer and fill consumer running."""
    clock = clock or FakeClock()
    data = StaticMarketData(clock, [market(clock=clock)])
    data.set_book(book(YES, [("0.48", "100"), ("0.47", "100")], [("0.52", "100"), ("0.53", "100")]))
    data.set_book(book(NO, [("0.47", "100")], [("0.51", "100")]))
    venue = PaperVenue(data, bankroll=D(1000), clock=clock, journal=journal or MemoryJournal())
    await venue.start()
    rig = await build_rig(database, sessions, venue, clock, limits=limits, data=data, config=config)
    rig.run("execution.writer", "execution.fills")
    try:
        yield rig
    finally:
        await rig.stop()
        await venue.close()
        data.close()
        await rig.events.close()


@contextlib.asynccontextmanager
async def paper_chat(
    api: FakeBotAPI, database: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> AsyncIterator[Rig]:
    """`paper_rig` with the Telegram chat over its Control API (the real aiogram client against
    `api`); the chat is stopped before the rig."""
    async with paper_rig(database, sessions) as rig, chat_over(api, rig.control(), rig.clock):
        yield rig


# --- the live adapter against the CLOB simulator --------------------------------------------

SIM_SCENARIO: dict[str, Any] = {
    "seed": 5,
    "tick_interval_s": 0.1,
    "settlement_delay_s": 0.2,
    "initial_collateral": "1000",
    "markets": [
        {
            "question": "Will the kill switch work?",
            "fair_price": "0.60",
            "volatility": 0,
            "flow_rate": 0,
            "depth": 3,
            "level_size": "50",
        },
        {
            "question": "Will the other market matter?",
            "fair_price": "0.30",
            "volatility": 0,
            "flow_rate": 0,
        },
    ],
}


@pytest.fixture
async def sim(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> AsyncIterator[SimServer]:
    """The simulator with `SIM_SCENARIO` (seed 5), httpx kept off the CA bundle. A module that
    imports it has it in place of the conftest's `sim`."""
    avoid_ca_bundle(monkeypatch, tmp_path)
    server = await serve(scenario=SIM_SCENARIO, seed=5)
    try:
        yield server
    finally:
        await server.close()


def sim_endpoints(sim: SimServer) -> PolymarketEndpoints:
    return PolymarketEndpoints(
        clob_url=sim.url,
        gamma_url=sim.gamma_url,
        data_url=sim.data_url,
        market_ws_url=sim.market_ws_url,
        user_ws_url=sim.user_ws_url,
    )


def live_venue(sim: SimServer, clock: Clock, key: str = SIM_KEY, **wallet: Any) -> PolymarketVenue:
    """The live adapter against the simulator (see `tests.support.driver.venue_at`)."""
    return venue_at(sim_endpoints(sim), clock, key, **wallet)


@contextlib.asynccontextmanager
async def live_rig(
    database: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    sim: SimServer,
    *,
    limits: RiskLimits = TEST_LIMITS,
    config: ExecutionConfig | None = None,
    components: Sequence[str] = ("execution.writer", "execution.fills"),
    resolutions: ResolutionSource | None = None,
    durable: Callable[[EventLog], Callable[[], Awaitable[None]]] | None = None,
) -> AsyncIterator[Rig]:
    """The execution core over the live adapter (real SDK) against the simulator."""
    clock = SystemClock()
    venue = live_venue(sim, clock)
    await venue.start()
    try:
        rig = await build_rig(
            database,
            sessions,
            venue,
            clock,
            limits=limits,
            config=config,
            resolutions=resolutions,
            durable=durable,
        )
        rig.run(*components)
        try:
            yield rig
        finally:
            await rig.stop()
            await rig.events.close()
    finally:
        await venue.close()


def sim_market(rig: Rig, question: str = "Will the kill switch work?") -> Market:
    found = [m for m in rig.runtime.board.markets() if m.question == question]
    assert found, f"no market {question!r} on the board"
    return found[0]


def sim_intent(
    market_: Market,
    price: str,
    size: str,
    *,
    side: Side = Side.BUY,
    model: str = "0.75",
    outcome: int = 0,
) -> OrderIntent:
    return OrderIntent(
        market=market_.condition_id,
        token_id=market_.tokens[outcome].token_id,
        side=side,
        limit_price=D(price),
        size=D(size),
        model_probability=D(model) if side is Side.BUY else None,
        strategy="test",
    )

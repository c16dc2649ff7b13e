"""What the trader processes of the crash tests share (`crash_driver`, `redeem_driver`,
`flatten_driver`): the risk limits they trade under, the simulator's endpoints from its URL, the
live venue as the tests configure it, the store they open as the app does (the event log started,
the control state loaded), and the execution core's writer and fill tasks, started and stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from trader.clock import Clock, SystemClock
from trader.execution.runtime import ExecutionCore
from trader.state import ControlState, RiskLimits
from trader.store.db import create_engine, session_factory
from trader.store.eventlog import EventLog
from trader.store.repositories import ControlStateRepository
from trader.venue.polymarket.adapter import PolymarketVenue
from trader.venue.polymarket.market_data import PolymarketEndpoints

D = Decimal
LIMITS = RiskLimits(
    max_order_notional=D(1000),
    max_position=D(100_000),
    max_exposure=D(100_000),
    max_open_orders=500,
    max_orders_per_minute=100_000,
    daily_loss_limit=D(100_000),
    min_edge=D(0),
    cooldown_s=D(0),
    min_time_to_end_s=D(0),
    max_price_deviation=D("0.2"),
)
BACKGROUND = ("execution.writer", "execution.fills")
SIM_KEY = "0x" + "c3" * 32


def endpoints(url: str) -> PolymarketEndpoints:
    ws = "ws" + url.removeprefix("http")
    return PolymarketEndpoints(
        clob_url=url,
        gamma_url=url + "/gamma",
        data_url=url + "/data-api",
        market_ws_url=ws + "/ws/market",
        user_ws_url=ws + "/ws/user",
    )


def venue_at(
    endpoints: PolymarketEndpoints,
    clock: Clock,
    key: str = SIM_KEY,
    kind: type[PolymarketVenue] = PolymarketVenue,
    **wallet: Any,
) -> PolymarketVenue:
    """The live adapter against a simulator at `endpoints`, with short timeouts; `wallet`:
    signature type and relayer key (see `tests.support.sim.deposit_wallet_account`), an EOA by
    default. Here, not in `execution_rig`, so that a driver process does not import the
    simulator."""
    return kind(
        private_key=key,
        clock=clock,
        endpoints=endpoints,
        submit_timeout=2.0,
        fill_poll_interval=None,
        reconnect_base=0.05,
        snapshot_grace=0.3,
        **wallet,
    )


@dataclass(frozen=True, slots=True)
class Store:
    clock: SystemClock
    database: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    events: EventLog
    state: ControlState


async def open_store(url: str) -> Store:
    """The database at `url` as the app opens it: the event log started, the state loaded."""
    clock = SystemClock()
    database = create_engine(url)
    sessions = session_factory(database)
    events = EventLog(sessions, clock)
    await events.start()
    state = ControlState(ControlStateRepository(sessions, clock), clock, risk_defaults=LIMITS)
    await state.load()
    return Store(clock, database, sessions, events, state)


def run_background(runtime: ExecutionCore) -> list[asyncio.Task[None]]:
    parts = runtime.components()
    return [asyncio.create_task(parts[name]()) for name in BACKGROUND]


async def shut_down(
    tasks: list[asyncio.Task[None]], *closers: Callable[[], Awaitable[None]]
) -> None:
    """Cancel the tasks and wait for them, then close each of `closers` in order."""
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    for close in closers:
        await close()

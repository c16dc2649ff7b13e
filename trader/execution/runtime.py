"""`build_execution`: wires the execution core for the composition root.

It builds the engine, risk, portfolio, market board, kill switch, automatic halt, approval
queue, accounts, reconciler and desk, and returns them with the coroutines to supervise.
`ExecutionRuntime.start()` must be awaited before the components run: it restores the
portfolio, loads the markets and reconciles with the venue, so no new order is placed on a
stale picture of the world.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta, tzinfo
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from trader.bus import Bus, Subscription
from trader.clock import Clock
from trader.config import Settings
from trader.domain import Book, OrderIntent
from trader.execution.accounts import Accounts, ResolutionSource
from trader.execution.approvals import ApprovalQueue
from trader.execution.desk import ExecutionDesk
from trader.execution.engine import ExecutionEngine
from trader.execution.halt import AutoHalt, FeedLiveness
from trader.execution.kill import KillSwitch
from trader.execution.market_data import MarketBoard
from trader.execution.portfolio import Portfolio
from trader.execution.ports import EventSink
from trader.execution.reconciler import Reconciler
from trader.execution.risk import RiskEngine
from trader.execution.store import ExecutionStore, SqlExecutionStore, WriteBehind
from trader.execution.trading_state import TradingStateMachine
from trader.state import ControlState, RiskLimits
from trader.store.repositories import ApprovalRepository
from trader.venue.base import Venue, VenueError

log = logging.getLogger(__name__)
Component = Callable[[], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class ExecutionConfig:
    zone: tzinfo = field(default_factory=lambda: ZoneInfo("UTC"))
    approval_timeout_s: float = 600.0
    feed_check_s: float = 5.0
    unknown_grace_s: float = 30.0
    reconcile_lookback: timedelta = timedelta(days=7)
    book_feed: bool = True  # follow the books of held and working tokens


def execution_config(settings: Settings) -> ExecutionConfig:
    return ExecutionConfig(
        zone=settings.zone,
        approval_timeout_s=float(settings.approval_timeout_s),
    )


def risk_limits_from_settings(settings: Settings) -> RiskLimits:
    """The defaults persisted at first start (the chat changes them afterwards)."""
    return RiskLimits(
        max_order_notional=settings.max_order_notional_usd,
        max_position=settings.max_position_usd,
        max_exposure=settings.max_exposure_usd,
        max_open_orders=settings.max_open_orders,
        max_orders_per_minute=settings.max_orders_per_minute,
        daily_loss_limit=settings.daily_loss_limit_usd,
        min_edge=settings.min_edge,
        fee_rate_bps=settings.paper_fee_bps,
        stale_book_s=Decimal(str(settings.stale_book_s)),
    )


@dataclass
class ExecutionRuntime:
    config: ExecutionConfig
    engine: ExecutionEngine
    board: MarketBoard
    kill_switch: KillSwitch
    halt: AutoHalt
    approvals: ApprovalQueue
    accounts: Accounts
    reconciler: Reconciler
    desk: ExecutionDesk
    bus: Bus
    clock: Clock
    trading: TradingStateMachine
    resolutions: ResolutionSource | None = None
    _intents: Subscription[OrderIntent] | None = None
    _books: Subscription[Book] | None = None

    @property
    def portfolio(self) -> Portfolio:
        return self.engine.portfolio

    async def start(self) -> None:
        """Restore, load markets, reconcile: before any component runs."""
        self._intents = self.bus.intents.subscribe()
        self._books = self.bus.books.subscribe()
        await self.accounts.restore()
        await self._remember_recent_orders()
        try:
            await self.board.refresh_markets()
        except VenueError as error:
            log.warning("could not load markets at start: %s", error)
        await self.reconciler.run_once("start")
        for token_id in sorted(self.watched_tokens()):  # marks for equity and drawdown
            await self.board.book_for(token_id)

    async def _remember_recent_orders(self) -> None:
        """Orders sent shortly before a restart still count for the rate limit and cooldown."""
        engine = self.engine
        horizon = self.clock.now() - timedelta(seconds=float(engine.risk_horizon_s()))
        recent = [r for r in await engine.store.recent_orders(500) if r.created_at > horizon]
        for record in sorted(recent, key=lambda r: r.created_at):
            engine.risk.record_order(record.market, record.token_id, record.side, record.created_at)

    def components(self) -> dict[str, Component]:
        """What runs continuously, for the supervisor. The periodic work (reconciliation,
        equity snapshots, market refresh) is in `jobs()`, for the scheduler's one table."""
        cfg = self.config
        parts: dict[str, Component] = {
            "execution.writer": self.engine.writer.run,
            "execution.intents": self.consume_intents,
            "execution.fills": self.engine.consume_fills,
            "execution.books": self.consume_books,
            "execution.feed_watch": lambda: self.halt.watch_feed(cfg.feed_check_s),
            "execution.approval_expiry": self.expire_approvals,
        }
        if cfg.book_feed:
            parts["execution.book_feed"] = self.follow_books
        return parts

    async def consume_intents(self) -> None:
        subscription = self._intents or self.bus.intents.subscribe()
        self._intents = subscription
        while True:
            envelope = await subscription.get()
            await self.engine.handle(envelope.payload)

    async def consume_books(self) -> None:
        subscription = self._books or self.bus.books.subscribe()
        self._books = subscription
        while True:
            envelope = await subscription.get()
            self.board.put_book(envelope.payload)

    async def expire_approvals(self) -> None:
        while True:
            await self.approvals.expire_due()
            await self.clock.sleep(min(30.0, self.config.approval_timeout_s / 4))

    def jobs(self) -> dict[str, Component]:
        """One run of each periodic duty, keyed by the scheduler's job names."""

        async def reconcile() -> None:
            await self.reconciler.run_once("periodic")

        async def refresh_markets() -> None:
            await self.board.refresh_markets()

        return {
            "reconcile": reconcile,
            "equity_snapshot": self.accounts.snapshot,
            "market_refresh": refresh_markets,
        }

    def watched_tokens(self) -> frozenset[str]:
        held = {p.token_id for p in self.portfolio.positions()}
        working = {o.token_id for o in self.portfolio.working_orders()}
        return frozenset(held | working)

    async def follow_books(self, recheck_s: float = 5.0) -> None:
        """Publish the venue's book updates for the tokens we hold or work, on the bus.

        The subscription changes only when that set of tokens does; only then does the
        feed's silence start over, so a feed that stops is seen as down (automatic halt).
        The re-check polls on the loop's real time (plumbing, not a trading decision)."""
        tokens: frozenset[str] = frozenset()
        pump: asyncio.Task[None] | None = None
        try:
            while True:
                wanted = self.watched_tokens()
                if wanted != tokens or (pump is not None and pump.done()):
                    await _stop(pump)
                    pump = None
                    if wanted != tokens:
                        self.board.feed_started()
                    tokens = wanted
                    if tokens:
                        pump = asyncio.create_task(self._pump(sorted(tokens)), name="book-pump")
                await asyncio.sleep(recheck_s)
        finally:
            await _stop(pump)

    async def _pump(self, tokens: list[str]) -> None:
        updates = self.engine.venue.book_updates(tokens)
        try:
            async for book in updates:
                self.bus.books.publish(book)
        finally:
            await _close(updates)

    async def close(self) -> None:
        await self.engine.writer.drain_now()
        await self.halt.close()
        await self.trading.close()
        for subscription in (self._intents, self._books):
            if subscription is not None:
                subscription.close()


async def _stop(task: asyncio.Task[None] | None) -> None:
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task


async def _close(iterator: AsyncIterator[Book]) -> None:
    closer = getattr(iterator, "aclose", None)
    if closer is not None:
        await closer()


def build_execution(
    *,
    config: ExecutionConfig,
    sessions: async_sessionmaker[AsyncSession],
    events: EventSink,
    bus: Bus,
    venue: Venue,
    clock: Clock,
    state: ControlState,
    store: ExecutionStore | None = None,
    resolutions: ResolutionSource | None = None,
) -> ExecutionRuntime:
    """Build the execution core. `state` must be loaded; `store` defaults to the database.

    Without `resolutions`, the venue itself settles resolved markets when it can say which
    have resolved (`ResolutionSource`: both Polymarket venues and the paper venue can); the
    automatic halt asks the venue whether its market socket is alive when it can say so
    (`FeedLiveness`), and otherwise judges the feed by the books' silence."""
    trading = TradingStateMachine(state.store, clock, events, initial=state.stored_trading)
    board = MarketBoard(venue, clock)
    portfolio = Portfolio(clock, zone=config.zone)
    board.add_listener(portfolio.mark_book)
    engine = ExecutionEngine(
        venue=venue,
        risk=RiskEngine(),
        portfolio=portfolio,
        board=board,
        store=store or SqlExecutionStore(sessions, clock),
        writer=WriteBehind(),
        events=events,
        bus=bus,
        clock=clock,
        state=state,
        trading=trading,
    )
    accounts = Accounts(
        engine=engine, state=state, events=events, bus=bus, clock=clock, zone=config.zone
    )
    kill_switch = KillSwitch(engine=engine, state=state, trading=trading, events=events, bus=bus)
    halt = AutoHalt(
        kill_switch=kill_switch,
        state=state,
        trading=trading,
        board=board,
        events=events,
        bus=bus,
        clock=clock,
        watching=lambda: bool(portfolio.positions() or portfolio.working_orders()),
        feed=venue if isinstance(venue, FeedLiveness) else None,
    )
    engine.set_venue_error_hook(halt.record_venue_error)
    approvals = ApprovalQueue(
        repository=ApprovalRepository(sessions, clock),
        engine=engine,
        bus=bus,
        events=events,
        clock=clock,
        timeout_s=config.approval_timeout_s,
    )
    engine.set_approval_gate(approvals.request)
    source = resolutions
    if source is None and isinstance(venue, ResolutionSource):
        source = venue

    async def settle_first() -> None:
        if source is None:
            return
        try:
            await accounts.settle_resolved(source)
        except VenueError as error:  # Gamma down: reconcile anyway, settle on the next run
            log.warning("could not check for resolved markets: %s", error)

    reconciler = Reconciler(
        engine=engine,
        events=events,
        bus=bus,
        clock=clock,
        lookback=config.reconcile_lookback,
        unknown_grace_s=config.unknown_grace_s,
        on_mismatch=halt.on_reconcile_mismatch,
        before_run=settle_first,
    )
    desk = ExecutionDesk(
        engine=engine,
        kill_switch=kill_switch,
        approvals=approvals,
        accounts=accounts,
        state=state,
        trading=trading,
        bus=bus,
    )
    return ExecutionRuntime(
        config,
        engine,
        board,
        kill_switch,
        halt,
        approvals,
        accounts,
        reconciler,
        desk,
        bus,
        clock,
        trading,
        source,
    )

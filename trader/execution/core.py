"""The execution core: the one owner of the engine, the portfolio, the order store, the
write-behind queue and the decision lock.

Those parts are private here: nothing outside `trader.execution` reaches them. The rest of
the process gets narrow operations instead: the Control API's `desk`, `handle` and `cancel`
for intents and orders, `reconcile` (gathered from the venue outside the decision lock,
applied under it), the trading state (`trading_status`; the `trading` machine is the one
writer), snapshots (`position`, `positions`, `working_orders`, `summary`, `equity`,
`win_rate`, `mark_price`, `exit_value`, `maker_entries`), `maker_cycle` (the maker desk's
review of resting maker orders), `quiesced()` for a shutdown that must not cut a
decision in two, and the supervisor's `components()` and the scheduler's `jobs()`. `start()`
must be awaited before the components run: it restores the portfolio, loads the markets and
reconciles with the venue, so no new order is placed on a stale picture of the world; it
cancels the maker orders whose intents died with the last process; it then finishes (or
reports) a kill's flatten that a crash cut short, and `announce_startup()` publishes what it
found once the chat listens.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from decimal import Decimal
from zoneinfo import ZoneInfo

from trader.bus import Bus, Subscription
from trader.clock import Clock
from trader.control.types import ExecutionResult, TradingStatus
from trader.domain import Actor, Alert, Book, OrderIntent, Position, TradingMode
from trader.execution.accounts import Accounts, ResolutionSource
from trader.execution.approvals import ApprovalQueue
from trader.execution.desk import ExecutionDesk
from trader.execution.engine import ExecutionEngine
from trader.execution.halt import AutoHalt
from trader.execution.kill import KillSwitch
from trader.execution.ledger import Realization
from trader.execution.maker import MakerDesk
from trader.execution.maker_types import MakerCycle, MakerView
from trader.execution.market_data import MarketBoard
from trader.execution.portfolio import PortfolioSummary, WorkingOrder
from trader.execution.reconcile import ReconcileResult
from trader.execution.reconciler import Reconciler
from trader.execution.redemption import RedemptionService
from trader.execution.risk import ExposureSnapshot
from trader.execution.trading_state import TradingStateMachine
from trader.venue.base import VenueError

log = logging.getLogger(__name__)
Component = Callable[[], Awaitable[None]]
QUIESCE_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class ExecutionConfig:
    zone: tzinfo = field(default_factory=lambda: ZoneInfo("UTC"))
    approval_timeout_s: float = 600.0
    feed_check_s: float = 5.0
    unknown_grace_s: float = 30.0
    reconcile_lookback: timedelta = timedelta(days=7)
    book_feed: bool = True  # follow the books of held and working tokens
    resume_flatten: bool = True  # finish a kill's flatten cut short by a crash (else report it)
    mode: TradingMode = TradingMode.PAPER  # which strategy stages may trade (trader/stages.py)
    redeem_unsent_grace_s: float = 600.0  # a redemption sent without a tx id: settled after
    auto_merge: bool = True  # merge YES+NO pairs worth more merged than sold
    maker_reprice_s: float = 30.0  # the maker cycle: resting maker orders repriced or cancelled


class ExecutionCore:
    def __init__(
        self,
        *,
        config: ExecutionConfig,
        engine: ExecutionEngine,
        kill_switch: KillSwitch,
        halt: AutoHalt,
        approvals: ApprovalQueue,
        accounts: Accounts,
        reconciler: Reconciler,
        desk: ExecutionDesk,
        trading: TradingStateMachine,
        bus: Bus,
        clock: Clock,
        resolutions: ResolutionSource | None = None,
        redemption: RedemptionService | None = None,
        maker: MakerDesk | None = None,
    ) -> None:
        self.config = config
        self._engine = engine
        self._portfolio = engine.portfolio
        self.board: MarketBoard = engine.board  # the markets and books (read by reports)
        self.kill_switch = kill_switch
        self.halt = halt
        self.approvals = approvals
        self.accounts = accounts
        self._reconciler = reconciler
        self.desk = desk
        self.trading = trading
        self.bus = bus
        self.clock = clock
        self.resolutions = resolutions
        self.redemption = redemption  # redeems and merges (None: the venue has no ChainOps)
        self._maker = maker
        self._intents: Subscription[OrderIntent] | None = None
        self._books: Subscription[Book] | None = None
        self._startup_alerts: list[Alert] = []

    # narrow operations ---------------------------------------------------------------------

    def trading_status(self) -> TradingStatus:
        return self.trading.status

    async def handle(
        self, intent: OrderIntent, *, approved_by: str | None = None
    ) -> ExecutionResult:
        """One intent through risk, persistence and the venue (under the decision lock)."""
        return await self._engine.handle(intent, approved_by=approved_by)

    async def cancel(self, order_ids: list[str], *, reason: str, actor: Actor | str) -> list[str]:
        return await self._engine.cancel(order_ids, reason=reason, actor=actor)

    async def reconcile(self, reason: str = "periodic") -> ReconcileResult:
        return await self._reconciler.run_once(reason)

    @property
    def last_reconcile(self) -> ReconcileResult | None:
        return self._reconciler.last_result

    async def flush(self) -> None:
        """Write everything the write-behind queue holds now."""
        await self._engine.writer.drain_now()

    def position(self, token_id: str) -> Position | None:
        return self._portfolio.position(token_id)

    def positions(self) -> list[Position]:
        return list(self._portfolio.positions())

    def working_orders(self) -> list[WorkingOrder]:
        return list(self._portfolio.working_orders())

    def summary(self) -> PortfolioSummary:
        return self._portfolio.summary()

    def holdings(self) -> dict[str, Decimal]:
        """Shares per token held and being bought (see `Portfolio.holdings`): what sizing
        nets a new Kelly stake against."""
        return self._portfolio.holdings()

    def equity(self) -> Decimal:
        return self._portfolio.equity()

    def win_rate(self, since: datetime | None = None) -> tuple[int, int, Decimal | None]:
        return self._portfolio.win_rate(since)

    def mark_price(self, token_id: str) -> Decimal | None:
        return self._portfolio.mark_price(token_id)

    def exit_value(self, token_id: str) -> Decimal | None:
        return self._portfolio.exit_value(token_id)

    def realizations(self, since: datetime | None = None) -> list[Realization]:
        return self._portfolio.realizations(since)

    def exposure_for(self, market: str, token_id: str) -> ExposureSnapshot:
        return self._portfolio.exposure_for(market, token_id, self.board.event_markets(market))

    async def maker_cycle(self) -> MakerCycle:
        """One review of the resting maker orders: repriced, kept, cancelled (under the lock)."""
        return await self._maker.cycle() if self._maker is not None else MakerCycle()

    def maker_entries(self) -> list[MakerView]:
        return self._maker.entries() if self._maker is not None else []

    @contextlib.asynccontextmanager
    async def quiesced(self, timeout_s: float = QUIESCE_TIMEOUT_S) -> AsyncIterator[bool]:
        """Hold the decision lock (True), so no decision is cut in two and none starts; False
        if the decision in flight did not finish within `timeout_s` (the block runs anyway)."""
        lock = self._engine.lock
        try:
            await asyncio.wait_for(lock.acquire(), timeout=timeout_s)
        except TimeoutError:
            yield False
            return
        try:
            yield True
        finally:
            lock.release()

    # lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Restore, load markets, reconcile, then finish (or report) a flatten a crash cut
        short: before any component runs. Its alert waits for `announce_startup`."""
        self._intents = self.bus.intents.subscribe()
        self._books = self.bus.books.subscribe()
        try:  # first: working orders restored below reserve fees by their market's schedule
            await self.board.refresh_markets()
        except VenueError as error:
            log.warning("could not load markets at start: %s", error)
        await self.accounts.restore()
        await self._remember_recent_orders()
        await self._reconciler.run_once("start")
        if self._maker is not None:  # no maker intent survives a restart: nor do their orders
            try:
                await self._maker.cancel_orphans()
            except VenueError as error:
                log.warning("could not cancel the maker orders left from before: %s", error)
        for token_id in sorted(self.watched_tokens()):  # marks for equity and drawdown
            await self.board.book_for(token_id)
        alert = await self.kill_switch.finish_interrupted(resume=self.config.resume_flatten)
        if alert is not None:
            self._startup_alerts.append(alert)

    def announce_startup(self) -> None:
        """Publish what `start` found for the operator (an interrupted flatten), once: the
        composition root calls this after the chat has subscribed to the alerts."""
        alerts, self._startup_alerts = self._startup_alerts, []
        for alert in alerts:
            self.bus.alerts.publish(alert, alert.correlation_id)

    async def _remember_recent_orders(self) -> None:
        """Orders sent shortly before a restart still count for the rate limit and cooldown."""
        engine = self._engine
        horizon = self.clock.now() - timedelta(seconds=float(engine.risk_horizon_s()))
        recent = [r for r in await engine.store.recent_orders(500) if r.created_at > horizon]
        for record in sorted(recent, key=lambda r: r.created_at):
            engine.risk.record_order(record.market, record.token_id, record.side, record.created_at)

    def components(self) -> dict[str, Component]:
        """What runs continuously, for the supervisor. The periodic work (reconciliation,
        equity snapshots, market refresh) is in `jobs()`, for the scheduler's one table."""
        cfg = self.config
        parts: dict[str, Component] = {
            "execution.writer": self._engine.writer.run,
            "execution.intents": self.consume_intents,
            "execution.fills": self._engine.consume_fills,
            "execution.books": self.consume_books,
            "execution.feed_watch": lambda: self.halt.watch_feed(cfg.feed_check_s),
            "execution.approval_expiry": self.expire_approvals,
        }
        if cfg.book_feed:
            parts["execution.book_feed"] = self.follow_books
        if self._maker is not None:
            parts["execution.maker"] = self._maker.run
        return parts

    async def consume_intents(self) -> None:
        subscription = self._intents or self.bus.intents.subscribe()
        self._intents = subscription
        while True:
            envelope = await subscription.get()
            await self._engine.handle(envelope.payload)

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
            await self._reconciler.run_once("periodic")

        async def refresh_markets() -> None:
            await self.board.refresh_markets()

        jobs: dict[str, Component] = {
            "reconcile": reconcile,
            "equity_snapshot": self.accounts.snapshot,
            "market_refresh": refresh_markets,
        }
        if self.redemption is not None:
            redemption = self.redemption

            async def redeem() -> None:
                await redemption.run_once()

            jobs["redemption"] = redeem
        return jobs

    def watched_tokens(self) -> frozenset[str]:
        held = {p.token_id for p in self._portfolio.positions()}
        working = {o.token_id for o in self._portfolio.working_orders()}
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
        updates = self._engine.venue.book_updates(tokens)
        try:
            async for book in updates:
                self.bus.books.publish(book)
        finally:
            await _close(updates)

    async def close(self) -> None:
        await self._engine.writer.drain_now()
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

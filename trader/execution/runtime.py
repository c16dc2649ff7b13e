"""`build_execution`: wires the execution core for the composition root.

It builds the trading-state machine, engine, risk, portfolio, market board, kill switch,
automatic halt, approval queue, accounts, reconciler and desk, and returns them inside one
`ExecutionCore` (trader.execution.core), which keeps the engine and its parts private.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from trader.bus import Bus
from trader.clock import Clock
from trader.config import Settings
from trader.domain import NO_FEES, FeeSchedule
from trader.execution.accounts import Accounts, ResolutionSource
from trader.execution.approvals import ApprovalQueue
from trader.execution.chain_records import ChainOperationStore, SqlChainOperationStore
from trader.execution.core import ExecutionConfig, ExecutionCore
from trader.execution.desk import ExecutionDesk
from trader.execution.engine import ExecutionEngine
from trader.execution.halt import AutoHalt, FeedLiveness
from trader.execution.kill import KillSwitch
from trader.execution.maker import MakerDesk
from trader.execution.market_data import MarketBoard
from trader.execution.portfolio import Portfolio
from trader.execution.ports import EventSink
from trader.execution.reconciler import Reconciler
from trader.execution.redemption import RedemptionService
from trader.execution.risk import RiskEngine
from trader.execution.store import ExecutionStore, SqlExecutionStore, WriteBehind
from trader.execution.trading_state import TradingStateMachine
from trader.state import ControlState, RiskLimits
from trader.store.repositories import ApprovalRepository
from trader.venue.base import Venue, VenueError
from trader.venue.chain import ChainOps

log = logging.getLogger(__name__)
__all__ = ["ExecutionConfig", "ExecutionCore", "build_execution", "execution_config"]


def execution_config(settings: Settings) -> ExecutionConfig:
    return ExecutionConfig(
        zone=settings.zone,
        approval_timeout_s=float(settings.approval_timeout_s),
        resume_flatten=settings.kill_resume_flatten,
        mode=settings.trading_mode,
        redeem_unsent_grace_s=float(settings.redeem_unsent_grace_s),
        auto_merge=settings.auto_merge,
        maker_reprice_s=float(settings.maker_reprice_s),
    )


def risk_limits_from_settings(settings: Settings) -> RiskLimits:
    """The defaults persisted at first start (the chat changes them afterwards)."""
    return RiskLimits(
        max_order_notional=settings.max_order_notional_usd,
        max_position=settings.max_position_usd,
        max_exposure=settings.max_exposure_usd,
        max_event_exposure=settings.max_event_exposure_usd,
        max_open_orders=settings.max_open_orders,
        max_orders_per_minute=settings.max_orders_per_minute,
        daily_loss_limit=settings.daily_loss_limit_usd,
        min_edge=settings.min_edge,
        stale_book_s=Decimal(str(settings.stale_book_s)),
    )


def _fees_of(board: MarketBoard, market_id: str) -> FeeSchedule:
    """The market's taker fees, for valuing a position at what its sale would realise."""
    market = board.market(market_id)
    return market.fees if market is not None else NO_FEES


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
    durable: Callable[[], Awaitable[None]] | None = None,
    chain_store: ChainOperationStore | None = None,
) -> ExecutionCore:
    """Build the execution core. `state` must be loaded; `store` defaults to the database.

    Without `resolutions`, the venue itself settles resolved markets when it can say which
    have resolved (`ResolutionSource`: both Polymarket venues and the paper venue can); the
    automatic halt asks the venue whether its market socket is alive when it can say so
    (`FeedLiveness`), and otherwise judges the feed by the books' silence. `durable` makes
    the events appended so far durable (the event log's `flush`): the engine awaits it before
    the venue is called and after fills are applied, so a crash cannot lose the record of an
    order that reached the venue. A venue with `ChainOps` gets the redemption service
    (`trader.execution.redemption`), its records in `chain_store` (default: the database)."""
    trading = TradingStateMachine(state.store, clock, events, initial=state.stored_trading)
    board = MarketBoard(venue, clock)
    portfolio = Portfolio(clock, zone=config.zone, fees=lambda market: _fees_of(board, market))
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
        durable=durable,
        mode=config.mode,
    )
    accounts = Accounts(
        engine=engine,
        state=state,
        events=events,
        bus=bus,
        clock=clock,
        zone=config.zone,
        durable=durable,
    )
    kill_switch = KillSwitch(
        engine=engine, state=state, trading=trading, events=events, bus=bus, clock=clock
    )
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
    maker = MakerDesk(
        engine=engine, trading=trading, events=events, clock=clock, reprice_s=config.maker_reprice_s
    )
    engine.set_maker_gate(maker.enter)
    board.add_listener(maker.on_book)
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
        after_cash_moved=accounts.remember,
    )
    redemption = None
    if isinstance(venue, ChainOps):
        redemption = RedemptionService(
            engine=engine,
            accounts=accounts,
            chain=venue,
            store=chain_store or SqlChainOperationStore(sessions),
            resolutions=source,
            events=events,
            bus=bus,
            clock=clock,
            durable=durable,
            unsent_grace_s=config.redeem_unsent_grace_s,
            auto_merge=config.auto_merge,
        )
    desk = ExecutionDesk(
        engine=engine,
        kill_switch=kill_switch,
        approvals=approvals,
        accounts=accounts,
        state=state,
        trading=trading,
        bus=bus,
        redemption=redemption,
    )
    return ExecutionCore(
        config=config,
        engine=engine,
        kill_switch=kill_switch,
        halt=halt,
        approvals=approvals,
        accounts=accounts,
        reconciler=reconciler,
        desk=desk,
        trading=trading,
        bus=bus,
        clock=clock,
        resolutions=source,
        redemption=redemption,
        maker=maker,
    )

"""The execution core as the Control API sees it: a `TradingDesk` over the engine, the kill
switch, the approval queue and the accounts, returning the typed views of
`trader.control.types`. It also turns bus subscriptions into plain streams, so the chat
never touches the bus."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from decimal import Decimal
from typing import Generic, TypeVar, cast

from trader.bus import Bus, Subscription
from trader.control.types import (
    ApprovalDecision,
    ApprovalRequest,
    CashFlowRecorded,
    ChainOperationView,
    ChainOverview,
    ControlError,
    KillPreview,
    KillReport,
    MergeableView,
    OrderView,
    PnlPeriod,
    PnlReport,
    PortfolioView,
    PositionView,
    RedeemableView,
    StateChange,
    TradingStatus,
)
from trader.domain import Actor, Alert
from trader.execution.accounts import Accounts
from trader.execution.approvals import ApprovalQueue
from trader.execution.chain_records import ChainOperation
from trader.execution.engine import ExecutionEngine
from trader.execution.kill import KillSwitch
from trader.execution.redemption import RedemptionService
from trader.execution.risk import drawdown_mode
from trader.execution.trading_state import TradingStateMachine, Transition
from trader.state import ControlState

T = TypeVar("T")


class BusStream(Generic[T]):
    """A bus subscription seen as a stream of payloads."""

    def __init__(self, subscription: Subscription[T]) -> None:
        self._subscription = subscription

    async def _payloads(self) -> AsyncIterator[T]:
        async for envelope in self._subscription:
            yield envelope.payload

    def __aiter__(self) -> AsyncIterator[T]:
        return self._payloads()

    def close(self) -> None:
        self._subscription.close()


class ExecutionDesk:
    def __init__(
        self,
        *,
        engine: ExecutionEngine,
        kill_switch: KillSwitch,
        approvals: ApprovalQueue,
        accounts: Accounts,
        state: ControlState,
        trading: TradingStateMachine,
        bus: Bus,
        redemption: RedemptionService | None = None,
    ) -> None:
        self._redemption = redemption
        self._trading = trading
        self._engine = engine
        self._kill = kill_switch
        self._approvals = approvals
        self._accounts = accounts
        self._state = state
        self._bus = bus

    def portfolio_view(self) -> PortfolioView:
        s = self._engine.portfolio.summary()
        return PortfolioView(
            cash=s.cash,
            reserved=s.reserved,
            redeemable=s.redeemable,
            equity=s.equity,
            exposure=s.exposure,
            unrealized=s.unrealized,
            realized=s.realized,
            day_pnl=s.day_pnl,
            peak_equity=s.peak_equity,
            drawdown=s.drawdown,
            drawdown_mode=drawdown_mode(s.drawdown, self._state.risk_limits),
            open_positions=s.open_positions,
            open_orders=s.open_orders,
        )

    async def positions(self) -> list[PositionView]:
        portfolio, board = self._engine.portfolio, self._engine.board
        views = []
        for p in portfolio.positions():
            mark = portfolio.mark_price(p.token_id)
            market = board.market(p.market)
            value = portfolio.exit_value(p.token_id)
            value = p.size * p.average_price if value is None else value
            views.append(
                PositionView(
                    token_id=p.token_id,
                    market=p.market,
                    question=market.question if market else "",
                    outcome=p.outcome or board.outcome_of(p.token_id),
                    size=p.size,
                    average_price=p.average_price,
                    mark=mark,
                    value=value,
                    unrealized=value - p.size * p.average_price,
                    realized=p.realized_pnl,
                )
            )
        return views

    async def open_orders(self) -> list[OrderView]:
        engine, board = self._engine, self._engine.board
        await engine.writer.drain_now()
        views = []
        for r in await engine.store.open_orders():
            working = engine.portfolio.order(r.order_id)
            market = board.market(r.market)
            views.append(
                OrderView(
                    order_id=r.order_id,
                    client_order_id=r.client_order_id,
                    market=r.market,
                    question=market.question if market else "",
                    token_id=r.token_id,
                    outcome=board.outcome_of(r.token_id),
                    side=r.side,
                    price=r.price,
                    size=r.size,
                    filled=working.matched if working else r.size_matched,
                    status=r.status,
                    created_at=r.created_at,
                    strategy=r.strategy,
                    correlation_id=r.correlation_id,
                )
            )
        return views

    async def pnl(self, period: PnlPeriod) -> PnlReport:
        return await self._accounts.pnl(period)

    async def record_cash_flow(
        self, actor: Actor, amount: Decimal, reason: str
    ) -> CashFlowRecorded:
        return await self._accounts.record_cash_flow(str(actor), amount, reason)

    async def preview_kill(self, slippage: Decimal | None) -> KillPreview:
        return await self._kill.preview(slippage)

    async def kill(
        self, actor: Actor, *, flatten: bool, reason: str, slippage: Decimal | None
    ) -> KillReport:
        return await self._kill.kill(actor, flatten=flatten, reason=reason, slippage=slippage)

    def trading_status(self) -> TradingStatus:
        return self._trading.status

    async def pause(self, actor: Actor, reason: str) -> StateChange:
        text = reason or f"paused by {actor}"
        return await self._trading.change(Transition.PAUSE, text, str(actor))

    async def resume(self, actor: Actor) -> StateChange:
        return await self._trading.change(Transition.RESUME, f"resumed by {actor}", str(actor))

    async def rearm(self, actor: Actor) -> StateChange:
        return await self._kill.rearm(actor)

    async def cancel_order(self, actor: Actor, order_id: str) -> bool:
        working = self._engine.portfolio.order(order_id)
        if working is None:
            return False
        canceled = await self._engine.cancel([order_id], reason="operator", actor=actor)
        return order_id in canceled

    async def pending_approvals(self) -> list[ApprovalRequest]:
        return await self._approvals.pending()

    async def approve(self, actor: Actor, key: str, size: Decimal | None) -> ApprovalDecision:
        return await self._approvals.approve(actor, key, size)

    async def reject(self, actor: Actor, key: str) -> ApprovalDecision:
        return await self._approvals.reject(actor, key)

    def feed_age(self) -> float | None:
        return self._engine.board.feed_age()

    # redemption and merge ----------------------------------------------------------------

    async def chain_overview(self) -> ChainOverview:
        service = self._redemption
        if service is None:
            return ChainOverview(available=False)
        redeemable = tuple(
            RedeemableView(
                item.market,
                item.question,
                item.payout,
                self._shares(item.amounts),
                self._operation_view(item.operation) if item.operation else None,
            )
            for item in await service.redeemable()
        )
        mergeable = tuple(
            MergeableView(p.market, p.question, p.pairs, p.sale) for p in service.mergeable()
        )
        recent = tuple(self._operation_view(op) for op in await service.recent(10))
        return ChainOverview(redeemable, mergeable, recent)

    async def redeem(self, actor: Actor, market: str) -> ChainOperationView:
        return self._operation_view(await self._chain().redeem(market, str(actor)))

    async def merge(self, actor: Actor, market: str, pairs: Decimal | None) -> ChainOperationView:
        return self._operation_view(await self._chain().merge(market, str(actor), pairs))

    def _chain(self) -> RedemptionService:
        if self._redemption is None:
            raise ControlError("this venue cannot redeem or merge")
        return self._redemption

    def _shares(self, amounts: Mapping[str, Decimal]) -> tuple[tuple[str, Decimal], ...]:
        board = self._engine.board
        return tuple((board.outcome_of(t) or t[:12], size) for t, size in amounts.items())

    def _operation_view(self, op: ChainOperation) -> ChainOperationView:
        found = self._engine.board.market(op.market)
        return ChainOperationView(
            operation_id=op.id,
            kind=op.kind.value,
            market=op.market,
            question=found.question if found else op.market,
            state=op.state.value,
            payout=op.payout,
            shares=self._shares(op.amounts),
            created_at=op.created_at,
            requested_by=op.requested_by,
            tx_id=op.tx_id,
            message=op.message,
        )

    def subscribe_alerts(self) -> BusStream[Alert]:
        return BusStream(self._bus.alerts.subscribe())

    def subscribe_approvals(self) -> BusStream[ApprovalRequest]:
        # The approvals topic carries ApprovalRequest (this core is its only publisher).
        return BusStream(cast(Subscription[ApprovalRequest], self._bus.approvals.subscribe()))

"""The execution engine's decisions: `ExecutionEngine` takes an intent under the decision lock
through risk (a function call), the approval and maker gates, the capital reserved, the order
prepared (rounded, signed, its id known) and its row written before the venue is called; the
kill switch's exits and the maker desk's orders take the same path. What follows the submit
(the venue's answer, fills, cancels) is `EngineAnswers` (`answers`).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from decimal import Decimal

from trader.bus import Bus
from trader.clock import Clock
from trader.domain import (
    NO_FEES,
    SYSTEM_ACTOR,
    Actor,
    FeeSchedule,
    OrderIntent,
    OrderRequest,
    OrderStatus,
    OrderType,
    TradingMode,
)
from trader.events import IntentDenied, OrderRefusedByVenue
from trader.execution.engine.answers import EngineAnswers, VenueErrorHook
from trader.execution.market_data import MarketBoard
from trader.execution.portfolio import Portfolio, WorkingOrder
from trader.execution.ports import (
    EventSink,
    ExecutionResult,
    Outcome,
    intent_payload,
    record_payload,
)
from trader.execution.risk import (
    RiskApproval,
    RiskContext,
    RiskDenial,
    RiskEngine,
    checked_rules,
    spends_amount,
)
from trader.execution.store import ExecutionStore, OrderRecord, WriteBehind
from trader.execution.trading_state import TradingStateMachine
from trader.state import ControlState
from trader.venue.base import OrderRefused, Venue, VenueError

ApprovalGate = Callable[[OrderIntent, RiskApproval], Awaitable[str]]
# where an approved maker intent goes (trader/execution/maker.py), under the decision lock
MakerGate = Callable[[OrderIntent, RiskApproval], Awaitable[ExecutionResult]]


class ExecutionEngine(EngineAnswers):
    def __init__(
        self,
        *,
        venue: Venue,
        risk: RiskEngine,
        portfolio: Portfolio,
        board: MarketBoard,
        store: ExecutionStore,
        writer: WriteBehind,
        events: EventSink,
        bus: Bus,
        clock: Clock,
        state: ControlState,
        trading: TradingStateMachine,
        durable: Callable[[], Awaitable[None]] | None = None,
        mode: TradingMode = TradingMode.PAPER,
    ) -> None:
        self.venue = venue
        self._mode = mode
        self._durable = durable
        self.risk = risk
        self.portfolio = portfolio
        self.board = board
        self.store = store
        self.writer = writer
        self._events = events
        self._bus = bus
        self._clock = clock
        self._state = state
        self._trading = trading
        self.lock = asyncio.Lock()
        self.in_flight: set[str] = set()
        self._approval_gate: ApprovalGate | None = None
        self._maker_gate: MakerGate | None = None
        self._on_venue_error: VenueErrorHook | None = None

    def set_approval_gate(self, gate: ApprovalGate | None) -> None:
        self._approval_gate = gate

    def set_maker_gate(self, gate: MakerGate | None) -> None:
        self._maker_gate = gate

    def set_venue_error_hook(self, hook: VenueErrorHook | None) -> None:
        self._on_venue_error = hook

    def risk_horizon_s(self) -> Decimal:
        """How far back sent orders still matter to risk (the rate minute, the cooldown)."""
        return max(Decimal(60), self._state.risk_limits.cooldown_s)

    # the hot path ------------------------------------------------------------------------

    async def handle(
        self, intent: OrderIntent, *, approved_by: str | None = None
    ) -> ExecutionResult:
        """Check, reserve, persist, submit. With approval mode on, an intent that passes risk
        becomes an approval request instead (unless it is the approved one)."""
        corr = intent.correlation_id
        async with self.lock:
            self._events.append(
                "intent_received",
                intent_payload(intent, approved_by),
                correlation_id=corr,
                actor=approved_by or SYSTEM_ACTOR,
            )
            decision = await self._check(intent)
            if isinstance(decision, RiskDenial):
                self._events.record(
                    IntentDenied(
                        decision.rule.value, decision.message, intent.market, intent.side.value
                    ),
                    correlation_id=corr,
                )
                return ExecutionResult(Outcome.DENIED, corr, decision.message, decision.rule.value)
            self._events.append("risk_passed", _passed_payload(decision), correlation_id=corr)
            if approved_by is None and self._state.approval_mode and self._approval_gate:
                key = await self._approval_gate(intent, decision)
                return ExecutionResult(
                    Outcome.AWAITING_APPROVAL,
                    corr,
                    "awaiting approval",
                    size=decision.size,
                    approval_key=key,
                )
            if intent.maker is not None and self._maker_gate is not None:
                return await self._maker_gate(intent, decision)
            return await self._place(intent, decision.size, _amount(intent, decision))

    def _expiration(self, intent: OrderIntent) -> datetime | None:
        """A GTD order's expiry at the venue: the intent's, plus its market's match delay."""
        market = self.board.market(intent.market)
        if intent.order_type is not OrderType.GTD or market is None:
            return intent.expires_at
        return market.order_expiration(intent.expires_at)

    def _fees_of(self, market_id: str) -> FeeSchedule:
        market = self.board.market(market_id)
        return market.fees if market is not None else NO_FEES

    async def recheck(self, intent: OrderIntent) -> RiskApproval | RiskDenial:
        """The rule book again for an intent under way (a maker entry about to post what is
        left of it, the decision lock held; the cooldown skipped: its own orders are no
        repeat), on the record as the first check was (`risk_passed` or `intent_denied`)."""
        if not self.lock.locked():
            raise RuntimeError("recheck needs the decision lock held")
        corr = intent.correlation_id
        decision = await self._check(intent, continuing=True)
        if isinstance(decision, RiskDenial):
            self._events.record(
                IntentDenied(
                    decision.rule.value, decision.message, intent.market, intent.side.value
                ),
                correlation_id=corr,
            )
        else:
            self._events.append("risk_passed", _passed_payload(decision), correlation_id=corr)
        return decision

    async def _check(
        self, intent: OrderIntent, *, continuing: bool = False
    ) -> RiskApproval | RiskDenial:
        market = self.board.market(intent.market)
        view = await self.board.book_for(intent.token_id)
        ctx = RiskContext(
            now=self._clock.now(),
            trading_state=self._trading.state,
            limits=self._state.risk_limits,
            exposure=self.portfolio.exposure_for(
                intent.market, intent.token_id, self.board.event_markets(intent.market)
            ),
            market=market,
            book=view.book,
            book_age_s=view.age_s,
            mode=self._mode,
            stages=self._state.stages,
            continuing=continuing,
        )
        return self.risk.check(intent, ctx)

    async def place_exit(self, intent: OrderIntent, size: Decimal, actor: Actor) -> ExecutionResult:
        """The kill switch's flatten: sells bypass the trading-state gate (we are killed) but
        take the same lock and the same persist-before-submit path."""
        async with self.lock:
            self._events.append(
                "exit_requested",
                intent_payload(intent, str(actor)),
                correlation_id=intent.correlation_id,
                actor=actor,
            )
            return await self._place(intent, size)

    async def place_locked(
        self, intent: OrderIntent, size: Decimal, *, replaces: str | None = None
    ) -> ExecutionResult:
        """The maker desk's orders (a post-only entry, its reprice, an urgent taker fallback):
        the same persist-before-submit path, with the decision lock already held. `replaces`:
        the order of the same intent this one follows (cancelled first), on the record."""
        if not self.lock.locked():
            raise RuntimeError("place_locked needs the decision lock held")
        return await self._place(intent, size, replaces=replaces)

    async def _place(
        self,
        intent: OrderIntent,
        size: Decimal,
        amount: Decimal | None = None,
        *,
        replaces: str | None = None,
    ) -> ExecutionResult:
        corr = intent.correlation_id
        request = OrderRequest(
            token_id=intent.token_id,
            side=intent.side,
            price=intent.limit_price,
            size=size,
            client_order_id=f"po-{uuid.uuid4().hex}",
            order_type=intent.order_type,
            post_only=intent.post_only,
            expiration=self._expiration(intent),
            market=intent.market,
            # a marketable buy of an amount spends what risk approved, as sizing planned it
            amount=amount,
        )
        try:
            prepared = await self.venue.prepare(request)
        except OrderRefused as error:
            self._events.record(OrderRefusedByVenue(error.code, str(error)), correlation_id=corr)
            return ExecutionResult(Outcome.REFUSED, corr, str(error), error.code)
        except VenueError as error:
            return self._venue_failed(error, corr, "prepare")
        rounded = prepared.request
        record = OrderRecord(
            client_order_id=rounded.client_order_id,
            order_id=prepared.order_id,
            token_id=rounded.token_id,
            market=intent.market,
            side=rounded.side,
            price=rounded.price,
            size=rounded.size,
            status=OrderStatus.SUBMITTED,
            created_at=self._clock.now(),
            order_type=rounded.order_type,
            post_only=rounded.post_only,
            expires_at=rounded.expiration,
            strategy=intent.strategy,
            correlation_id=corr,
            signed_payload=prepared.payload,
        )
        working = WorkingOrder(
            record.client_order_id,
            record.order_id,
            record.token_id,
            record.market,
            record.side,
            record.price,
            record.size,
            fees=self._fees_of(record.market),
            correlation_id=corr,
        )
        self.portfolio.add_order(working)  # capital reserved before anything is sent
        self.risk.record(intent, record.created_at)
        # The event first: on SQLite the order row and the events buffered so far (the intent,
        # this one) commit in one transaction (trader/store/direct.py).
        created = record_payload(record)
        if replaces is not None:
            created["replaces"] = replaces
        self._events.append("order_created", created, correlation_id=corr)
        try:
            await self.store.insert_order(record)
        except Exception as error:
            self.portfolio.close_order(record.order_id)
            self._events.append(
                "order_not_recorded",
                {"order_id": record.order_id, "error": type(error).__name__},
                correlation_id=corr,
            )
            raise
        try:  # the intent and the order are on record before the venue hears of them
            await self._make_durable()
        except Exception:
            self.portfolio.close_order(record.order_id)
            self._persist_status(
                record.client_order_id, OrderStatus.REJECTED, error="event log not writable"
            )
            raise
        return await self._submit(record, prepared)


def _amount(intent: OrderIntent, decision: RiskApproval) -> Decimal | None:
    """The collateral a marketable buy of an amount spends: what risk approved."""
    return decision.notional if spends_amount(intent) else None


def _passed_payload(decision: RiskApproval) -> dict[str, object]:
    """What risk approved, and the rules it passed (the `risk_passed` event)."""
    return {
        "size": decision.size,
        "notional": decision.notional,
        "fee": decision.fee,
        "drawdown_mode": decision.drawdown_mode.value,
        "checks": list(checked_rules(decision.reduces)),
    }

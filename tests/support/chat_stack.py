"""The chat side of Polyops over the fake Bot API server, for the Telegram tests and the bench.

A real `ControlAPI` with a real `ControlState`, over fakes of our own code at unit boundaries:
an in-memory key-value store and event log, and `FakeDesk`, a `TradingDesk` (the execution
core's side of the Control API) with positions, orders, a kill switch and an approval queue
held in memory. The desk object outlives a chat restart, as the database would.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from decimal import Decimal
from typing import Any, Generic, TypeVar

from pydantic import SecretStr

from bot.commands.core import CommandCore
from bot.notifier import Notifier, NotifierConfig
from bot.relay import ControlRelay
from bot.telegram import PollingConfig, TelegramTransport, build_telegram
from tests.support.memory import MemoryEvents, MemoryStore
from tests.support.telegram_server import OPERATOR_ID, VIEWER_ID, FakeBotAPI, Sent
from tests.support.waiting import eventually
from trader.clock import FakeClock
from trader.control.api import (
    ApprovalDecision,
    ApprovalRequest,
    BacktestRunner,
    ControlAPI,
    ExecutionResult,
    KillPreview,
    KillReport,
    OrderView,
    Outcome,
    PnlPeriod,
    PnlReport,
    PortfolioView,
    PositionView,
    ReportSource,
    SignalSource,
)
from trader.control.types import (
    CashFlowRecorded,
    ExitPreview,
    ExitResult,
    StateChange,
    TradingStatus,
)
from trader.domain import (
    Actor,
    Alert,
    DrawdownMode,
    OrderStatus,
    Side,
    TradingMode,
    TradingState,
)
from trader.execution.trading_state import TradingStateMachine, Transition
from trader.state import ControlState

T = TypeVar("T")


class QueueStream(Generic[T]):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[T] = asyncio.Queue()
        self.closed = False

    async def _items(self) -> AsyncIterator[T]:
        while True:
            yield await self.queue.get()

    def __aiter__(self) -> AsyncIterator[T]:
        return self._items()

    def close(self) -> None:
        self.closed = True


def position(question: str, size: str, avg: str, bid: str, *, token: str = "") -> PositionView:
    token = token or f"tok-{abs(hash(question)) % 10**8}"
    value = Decimal(size) * Decimal(bid)
    return PositionView(
        token,
        f"mkt-{token}",
        question,
        "Yes",
        Decimal(size),
        Decimal(avg),
        Decimal(bid),
        value,
        value - Decimal(size) * Decimal(avg),
        Decimal(0),
    )


@dataclass
class FakeDesk:
    """The execution core's side of the Control API, in memory. `calls` records what acted."""

    state: ControlState
    clock: Any
    positions_: list[PositionView] = field(default_factory=list)
    orders_: list[OrderView] = field(default_factory=list)
    approvals: dict[str, ApprovalRequest] = field(default_factory=dict)
    edge_gone: set[str] = field(default_factory=set)
    calls: list[tuple[str, str, Any]] = field(default_factory=list)
    slippage: Decimal = Decimal("0.05")

    def __post_init__(self) -> None:
        self.alert_streams: list[QueueStream[Alert]] = []
        self.approval_streams: list[QueueStream[ApprovalRequest]] = []
        self.attach(self.state, MemoryEvents(self.clock))

    def attach(self, state: ControlState, events: Any) -> None:
        """Take the (re)loaded control state: the real trading-state machine over its store."""
        self.state = state
        self.trading = TradingStateMachine(
            state.store, self.clock, events, initial=state.stored_trading
        )

    # test helpers ---------------------------------------------------------------------

    def request_approval(
        self,
        question: str = "Will it rain in Paris on 1 May?",
        *,
        key: str = "ap-0123456789ab",
        price: str = "0.41",
        size: str = "100",
        model: str = "0.55",
        minutes: int = 10,
        market_probability: str | None = "0.43",
        sources: tuple[str, ...] = ("Météo-France bulletin", "https://news.example/rain?a=1&b=<2>"),
        resolves_in: timedelta | None = timedelta(days=6, hours=3),
    ) -> ApprovalRequest:
        now = self.clock.now()
        request = ApprovalRequest(
            key=key,
            market="mkt-1",
            question=question,
            token_id="tok-1",
            outcome="Yes",
            side=Side.BUY,
            limit_price=Decimal(price),
            size=Decimal(size),
            notional=Decimal(price) * Decimal(size),
            strategy="llm",
            reason="Forecasts agree on rain; the market lags.",
            model_probability=Decimal(model),
            created_at=now,
            expires_at=now + timedelta(minutes=minutes),
            correlation_id="c" * 32,
            sources=sources,
            end_date=None if resolves_in is None else now + resolves_in,
            market_probability=None if market_probability is None else Decimal(market_probability),
        )
        self.approvals[key] = request
        for stream in self.approval_streams:
            stream.queue.put_nowait(request)
        return request

    def publish_alert(self, alert: Alert) -> None:
        for stream in self.alert_streams:
            stream.queue.put_nowait(alert)

    def acted(self) -> list[tuple[str, str, Any]]:
        return list(self.calls)

    # TradingDesk ----------------------------------------------------------------------

    def portfolio_view(self) -> PortfolioView:
        value = sum((p.value for p in self.positions_), Decimal(0))
        return PortfolioView(
            Decimal(500),
            Decimal(0),
            Decimal(0),
            Decimal(500) + value,
            value,
            Decimal(0),
            Decimal(0),
            Decimal("-3.5"),
            Decimal(600),
            Decimal("0.02"),
            DrawdownMode.FULL,
            len(self.positions_),
            len(self.orders_),
        )

    async def positions(self) -> list[PositionView]:
        return list(self.positions_)

    async def open_orders(self) -> list[OrderView]:
        return list(self.orders_)

    async def pnl(self, period: PnlPeriod) -> PnlReport:
        now = self.clock.now()
        return PnlReport(
            period,
            now - timedelta(days=1),
            now,
            Decimal(600),
            Decimal(612),
            Decimal(12),
            Decimal(5),
            4,
            3,
            1,
            Decimal("0.75"),
        )

    async def record_cash_flow(
        self, actor: Actor, amount: Decimal, reason: str
    ) -> CashFlowRecorded:
        self.calls.append(("cash_flow", str(actor), (amount, reason)))
        return CashFlowRecorded(amount, reason, Decimal(500) + amount, Decimal(500) + amount, "c")

    async def preview_kill(self, slippage: Decimal | None) -> KillPreview:
        cap = slippage if slippage is not None else self.slippage
        exits = tuple(
            ExitPreview(
                p.token_id,
                p.market,
                p.question,
                p.outcome,
                p.size,
                p.mark,
                (p.mark or Decimal(0)) * (1 - cap),
                p.size,
                p.value,
            )
            for p in self.positions_
        )
        return KillPreview(
            len(self.orders_), cap, exits, sum((e.estimated_proceeds for e in exits), Decimal(0))
        )

    async def kill(
        self, actor: Actor, *, flatten: bool, reason: str, slippage: Decimal | None
    ) -> KillReport:
        self.calls.append(("kill", str(actor), {"flatten": flatten, "slippage": slippage}))
        canceled = len(self.orders_)
        self.orders_.clear()
        exits: tuple[ExitResult, ...] = ()
        if flatten:
            exits = tuple(
                ExitResult(p.token_id, p.size, p.size, p.value, p.mark, p.mark, Decimal(0))
                for p in self.positions_
            )
            self.positions_.clear()
        await self.trading.change(Transition.KILL, reason or "kill", str(actor))
        return KillReport(TradingState.KILLED, canceled, 0, flatten, exits, "")

    def trading_status(self) -> TradingStatus:
        return self.trading.status

    async def pause(self, actor: Actor, reason: str) -> StateChange:
        return await self.trading.change(Transition.PAUSE, reason or "paused", str(actor))

    async def resume(self, actor: Actor) -> StateChange:
        return await self.trading.change(Transition.RESUME, "resumed", str(actor))

    async def rearm(self, actor: Actor) -> StateChange:
        self.calls.append(("rearm", str(actor), None))
        return await self.trading.change(Transition.REARM, "re-armed", str(actor))

    async def cancel_order(self, actor: Actor, order_id: str) -> bool:
        found = [o for o in self.orders_ if o.order_id == order_id]
        if found:
            self.calls.append(("cancel", str(actor), order_id))
            self.orders_.remove(found[0])
        return bool(found)

    async def pending_approvals(self) -> list[ApprovalRequest]:
        now = self.clock.now()
        return [r for r in self.approvals.values() if r.status == "pending" and r.expires_at > now]

    async def approve(self, actor: Actor, key: str, size: Decimal | None) -> ApprovalDecision:
        request = self.approvals.get(key)
        if request is None:
            return ApprovalDecision(key, "unknown", False, f"no approval request {key}")
        if request.status == "pending" and request.expires_at <= self.clock.now():
            self.approvals[key] = replace(request, status="expired")
            return ApprovalDecision(key, "expired", False, "the request has expired")
        if request.status != "pending":
            return ApprovalDecision(key, request.status, False, f"already {request.status}")
        self.approvals[key] = replace(request, status="approved")
        await asyncio.sleep(0)  # a second tap gets in here if nothing guards it
        self.calls.append(("approve", str(actor), {"key": key, "size": size}))
        if key in self.edge_gone:
            result = ExecutionResult(
                Outcome.DENIED,
                request.correlation_id,
                "edge gone: model 55.0% vs price now 0.56 (edge -1.0 pts, minimum 3.0)",
                rule="min_edge",
            )
        else:
            result = ExecutionResult(
                Outcome.PLACED,
                request.correlation_id,
                "placed",
                order_id="0xorder1",
                status=OrderStatus.LIVE,
                size=size or request.size,
            )
        return ApprovalDecision(key, "approved", True, result.message, result)

    async def reject(self, actor: Actor, key: str) -> ApprovalDecision:
        request = self.approvals.get(key)
        if request is None or request.status != "pending":
            status = request.status if request else "unknown"
            return ApprovalDecision(key, status, False, f"already {status}")
        self.approvals[key] = replace(request, status="rejected")
        self.calls.append(("reject", str(actor), {"key": key}))
        return ApprovalDecision(key, "rejected", True, "rejected")

    def feed_age(self) -> float | None:
        return 1.5

    def subscribe_alerts(self) -> QueueStream[Alert]:
        stream: QueueStream[Alert] = QueueStream()
        self.alert_streams.append(stream)
        return stream

    def subscribe_approvals(self) -> QueueStream[ApprovalRequest]:
        stream: QueueStream[ApprovalRequest] = QueueStream()
        self.approval_streams.append(stream)
        return stream


@dataclass(frozen=True)
class FakeTelegramSettings:
    token: SecretStr
    api_base: str
    operator_ids: frozenset[int]
    viewer_ids: frozenset[int]


@dataclass
class ChatStack:
    api: FakeBotAPI
    clock: FakeClock
    store: MemoryStore
    events: MemoryEvents
    state: ControlState
    desk: FakeDesk
    control: ControlAPI
    core: CommandCore
    notifier: Notifier
    relay: ControlRelay
    transport: TelegramTransport
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def trading(self) -> TradingStatus:
        return self.desk.trading.status

    async def stop(self) -> None:
        """As the app does: cancel the supervised parts, then stop the transport."""
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.tasks.clear()
        await self.transport.stop()


@dataclass
class MemoryControl:
    """A Control API over in-memory parts (store, event sink, FakeDesk), unstarted: the
    command core's and the access gate's tests need nothing more."""

    control: ControlAPI
    state: ControlState
    desk: FakeDesk
    events: MemoryEvents


async def memory_control(
    clock: FakeClock,
    *,
    store: MemoryStore | None = None,
    mode: TradingMode = TradingMode.PAPER,
    name: str = "main",
    desk: FakeDesk | None = None,
    reports: ReportSource | None = None,
    signals: SignalSource | None = None,
    backtests: BacktestRunner | None = None,
) -> MemoryControl:
    """`desk` (a fresh one by default) is attached to the new state and event sink, as after a
    restart."""
    events = MemoryEvents(clock)
    state = ControlState(store or MemoryStore(), clock)
    await state.load()
    desk = FakeDesk(state, clock) if desk is None else desk
    desk.attach(state, events)
    control = ControlAPI(
        state=state,
        events=events,
        event_reader=events,
        clock=clock,
        mode=mode,
        desk=desk,
        reports=reports,
        signals=signals,
        backtests=backtests,
        name=name,
    )
    return MemoryControl(control, state, desk, events)


async def start_chat_stack(
    api: FakeBotAPI,
    *,
    operators: tuple[int, ...] = (OPERATOR_ID,),
    viewers: tuple[int, ...] = (VIEWER_ID,),
    clock: FakeClock | None = None,
    store: MemoryStore | None = None,
    desk: FakeDesk | bool = True,
    notifier_config: NotifierConfig | None = None,
    reports: ReportSource | None = None,
    signals: SignalSource | None = None,
    backtests: BacktestRunner | None = None,
) -> ChatStack:
    """The chat side of Polyops over `api`, started (polling, relay running).

    `desk=True` makes a fresh `FakeDesk`; pass one to keep it across a restart (the Control
    API always has a desk). `reports` and `signals` back /report, /chart and
    /signals (without them those commands say they are not configured). Stop the stack
    before the server.
    """
    clock = clock or FakeClock()
    store = store or MemoryStore()
    memory = await memory_control(
        clock,
        store=store,
        desk=desk if isinstance(desk, FakeDesk) else None,
        reports=reports,
        signals=signals,
        backtests=backtests,
    )
    control, events, state, the_desk = memory.control, memory.events, memory.state, memory.desk
    chat = await start_chat(
        api, control, clock, operators=operators, viewers=viewers, notifier_config=notifier_config
    )
    stack = ChatStack(
        api,
        clock,
        store,
        events,
        state,
        the_desk,
        control,
        chat.core,
        chat.notifier,
        chat.relay,
        chat.transport,
        chat.tasks,
    )
    if the_desk is not None:
        await eventually(lambda: bool(the_desk.approval_streams and the_desk.alert_streams))
    return stack


@dataclass
class Chat:
    """The chat parts as the app wires them, over any Control API."""

    core: CommandCore
    notifier: Notifier
    relay: ControlRelay
    transport: TelegramTransport
    tasks: list[asyncio.Task[None]]

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.transport.stop()


async def start_chat(
    api: FakeBotAPI,
    control: ControlAPI,
    clock: Any,
    *,
    operators: tuple[int, ...] = (OPERATOR_ID,),
    viewers: tuple[int, ...] = (VIEWER_ID,),
    notifier_config: NotifierConfig | None = None,
) -> Chat:
    notifier = Notifier(clock, config=notifier_config)
    core = CommandCore(control, clock=clock, notifier=notifier)
    api.clock = clock  # users' messages are dated by the chat's clock
    relay = ControlRelay(control, notifier, clock)
    relay.subscribe()
    settings = FakeTelegramSettings(
        SecretStr(api.token), api.base_url, frozenset(operators), frozenset(viewers)
    )
    transport = build_telegram(
        settings, core, notifier, clock, polling=PollingConfig(timeout=1, conflict_retry=0.05)
    )
    await transport.start()
    tasks = [asyncio.create_task(transport.run()), asyncio.create_task(relay.run())]
    return Chat(core, notifier, relay, transport, tasks)


@contextlib.asynccontextmanager
async def chat_over(api: FakeBotAPI, control: ControlAPI, clock: Any) -> AsyncIterator[Chat]:
    """`start_chat` as a context: the chat is stopped on the way out, whatever happened."""
    started = await start_chat(api, control, clock)
    try:
        yield started
    finally:
        await started.stop()


async def ask(api: FakeBotAPI, user: int, text: str, *, chat: int | None = None) -> Sent:
    """Send `text` as `user` and return the first message the bot sends back to that chat."""
    where = chat if chat is not None else user
    before = len(api.to(where))
    api.send_text(user, text, chat_id=where)
    await eventually(lambda: len(api.to(where)) > before)
    return api.to(where)[before]


async def tap(api: FakeBotAPI, user: int, message: Sent, label: str) -> dict[str, Any]:
    """Tap the button whose label contains `label`; return Telegram's callback answer."""
    data = next(d for text, d in message.buttons if label in text)
    return await tap_data(api, user, message, data)


async def tap_data(api: FakeBotAPI, user: int, message: Sent | None, data: str) -> dict[str, Any]:
    query = api.press(user, message, data)
    await eventually(lambda: api.answer_for(query) is not None)
    answer = api.answer_for(query)
    assert answer is not None
    return answer

"""The execution engine on a real database and event log, with a paper venue."""

from __future__ import annotations

import asyncio
import dataclasses
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tests.support.execution_rig import (
    TEST_LIMITS,
    YES,
    MemoryJournal,
    book,
    build_rig,
    buy,
    paper_rig,
    sell,
)
from tests.support.waiting import eventually
from trader.clock import FakeClock
from trader.control.types import ApprovalRequest, Outcome
from trader.domain import Actor, OrderStatus
from trader.execution.trading_state import Transition
from trader.store.trading import FillRepository, OrderRepository, PositionRepository
from trader.venue.base import PreparedOrder, SubmitResult, UnknownOutcome
from trader.venue.paper.feed import StaticMarketData
from trader.venue.paper.venue import PaperVenue

D = Decimal
OPERATOR = Actor("telegram", "42", "ops")


async def test_an_intent_fills_and_the_position_changes_at_once(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with paper_rig(engine, sessions) as rig:
        intent = buy()

        result = await rig.runtime.handle(intent)

        assert result.outcome is Outcome.PLACED
        assert result.status is OrderStatus.MATCHED
        assert result.filled == D(20)
        position = rig.runtime.position(YES)
        assert position is not None
        assert (position.size, position.average_price) == (D(20), D("0.52"))
        await rig.runtime.flush()
        row = await OrderRepository(sessions, rig.clock).get_by_venue_id(result.order_id or "")
        assert row is not None
        assert (row.status, row.size_matched) == ("MATCHED", D(20))
        stored = await PositionRepository(sessions, rig.clock).get(YES)
        assert stored is not None
        assert stored.size == D(20)
        fills = await FillRepository(sessions, rig.clock).for_order(result.order_id or "")
        assert [f.size for f in fills] == [D(20)]
        types = await rig.event_types(intent.correlation_id)
        assert types[:3] == ["intent_received", "risk_passed", "order_created"]
        assert "order_submitted" in types
        assert "fill" in types


class CheckingVenue(PaperVenue):
    """Paper, but it records whether the order row existed when submit was called."""

    def __init__(self, *args: object, orders: OrderRepository, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.orders = orders
        self.row_before_submit: list[bool] = []
        self.prepared = 0
        self.lose_answer = False
        self.drop_request = False

    async def prepare(self, request):  # type: ignore[no-untyped-def]
        self.prepared += 1
        return await super().prepare(request)

    async def submit(self, order: PreparedOrder) -> SubmitResult:
        row = await self.orders.get_by_venue_id(order.order_id)
        self.row_before_submit.append(
            row is not None and (row.signed_payload or "") == order.payload
        )
        if self.drop_request:
            raise UnknownOutcome("connection reset before sending", order_id=order.order_id)
        result = await super().submit(order)
        if self.lose_answer:
            raise UnknownOutcome("timed out waiting for the answer", order_id=order.order_id)
        return result


async def checking_rig(  # type: ignore[no-untyped-def]
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], *, fills: bool = True
):
    clock = FakeClock()
    data = StaticMarketData(clock, [])
    from tests.support.execution_rig import market

    data.add_market(market(clock=clock))
    data.set_book(book(YES, [("0.48", "100")], [("0.52", "100"), ("0.53", "100")]))
    venue = CheckingVenue(
        data,
        bankroll=D(1000),
        clock=clock,
        journal=MemoryJournal(),
        orders=OrderRepository(sessions, clock),
    )
    await venue.start()
    rig = await build_rig(engine, sessions, venue, clock, data=data)
    rig.run("execution.writer", *(["execution.fills"] if fills else []))
    return rig, venue, data


async def close_rig(rig, venue, data) -> None:  # type: ignore[no-untyped-def]
    await rig.stop()
    await venue.close()
    data.close()
    await rig.events.close()


async def test_the_signed_order_row_is_written_before_the_venue_is_called(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    rig, venue, data = await checking_rig(engine, sessions)
    try:
        await rig.runtime.handle(buy())
        await rig.runtime.handle(buy(price="0.50"))
    finally:
        await close_rig(rig, venue, data)

    assert venue.row_before_submit == [True, True]


async def test_a_lost_answer_stays_submitted_and_is_resolved_by_id_never_resent(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    rig, venue, data = await checking_rig(engine, sessions, fills=False)  # the answer is lost
    try:
        venue.lose_answer = True
        result = await rig.runtime.handle(buy())
        await rig.runtime.flush()
        row = await OrderRepository(sessions, rig.clock).get_by_venue_id(result.order_id or "")

        assert result.outcome is Outcome.UNKNOWN
        assert row is not None
        assert row.status == "SUBMITTED"
        assert rig.runtime.exposure_for("x", YES).open_orders == 1

        outcome = await rig.runtime.reconcile("test")

        row = await OrderRepository(sessions, rig.clock).get_by_venue_id(result.order_id or "")
        assert row is not None
        assert row.status == "MATCHED"
        assert {c.kind for c in outcome.corrections} >= {"update_order", "record_fill"}
        position = rig.runtime.position(YES)
        assert position is not None
        assert position.size == D(20)
        assert rig.runtime.working_orders() == []
        assert venue.prepared == 1  # never re-signed
    finally:
        await close_rig(rig, venue, data)


async def test_a_submit_that_never_reached_the_venue_is_rejected_and_releases_capital(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    rig, venue, data = await checking_rig(engine, sessions)
    try:
        venue.drop_request = True
        result = await rig.runtime.handle(buy())
        assert result.outcome is Outcome.UNKNOWN

        await rig.runtime.reconcile("test")

        row = await OrderRepository(sessions, rig.clock).get_by_venue_id(result.order_id or "")
        assert row is not None
        assert row.status == "REJECTED"
        assert rig.runtime.working_orders() == []
        assert rig.runtime.position(YES) is None
        assert venue.prepared == 1
    finally:
        await close_rig(rig, venue, data)


async def test_a_denial_names_its_rule_and_nothing_reaches_the_venue(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with paper_rig(engine, sessions) as rig:
        await rig.runtime.trading.change(Transition.PAUSE, "lunch", "test")
        intent = buy()

        result = await rig.runtime.handle(intent)

        assert (result.outcome, result.rule) == (Outcome.DENIED, "paused")
        assert await rig.event_types(intent.correlation_id) == ["intent_received", "intent_denied"]
        assert list(await rig.venue.open_orders()) == []


async def test_a_resting_order_reserves_capital_until_cancelled(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with paper_rig(engine, sessions) as rig:
        result = await rig.runtime.handle(buy(price="0.50"))
        assert result.status is OrderStatus.LIVE
        assert rig.runtime.summary().reserved == D(10)

        canceled = await rig.runtime.cancel([result.order_id or ""], reason="t", actor=OPERATOR)

        assert canceled == [result.order_id]
        assert rig.runtime.summary().reserved == 0
        await rig.runtime.flush()
        row = await OrderRepository(sessions, rig.clock).get_by_venue_id(result.order_id or "")
        assert row is not None
        assert row.status == "CANCELED"


async def test_a_resting_order_filled_later_arrives_through_the_fill_stream(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with paper_rig(engine, sessions) as rig:
        assert rig.data is not None
        result = await rig.runtime.handle(buy(price="0.50"))
        assert result.status is OrderStatus.LIVE

        rig.data.set_book(book(YES, [("0.45", "100")], [("0.49", "100")]))

        await eventually(lambda: rig.runtime.position(YES) is not None)
        position = rig.runtime.position(YES)
        assert position is not None
        assert (position.size, position.average_price) == (D(20), D("0.50"))
        assert rig.runtime.working_orders() == []


async def test_selling_realizes_pnl(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with paper_rig(engine, sessions) as rig:
        await rig.runtime.handle(buy())
        result = await rig.runtime.handle(sell("0.47", "20"))

        assert result.filled == D(20)
        assert rig.runtime.position(YES) is None
        assert rig.runtime.win_rate() == (0, 1, D(0))
        assert rig.runtime.summary().realized == D("-0.80")


async def test_approval_mode_waits_and_a_double_approve_acts_once(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with paper_rig(engine, sessions) as rig:
        requests = rig.bus.approvals.subscribe()
        await rig.state.set_approval_mode(True, "test")

        waiting = await rig.runtime.handle(buy(size="10"))

        assert waiting.outcome is Outcome.AWAITING_APPROVAL
        envelope = requests.get_nowait()
        assert envelope is not None
        request = envelope.payload
        assert isinstance(request, ApprovalRequest)
        assert (request.question, request.outcome, request.size) == (
            "Will it rain tomorrow?",
            "Yes",
            D(10),
        )
        first, second = await asyncio.gather(
            rig.runtime.approvals.approve(OPERATOR, request.key, None),
            rig.runtime.approvals.approve(OPERATOR, request.key, None),
        )
        assert sorted([first.acted, second.acted]) == [False, True]
        acted = first if first.acted else second
        assert acted.result is not None
        assert acted.result.outcome is Outcome.PLACED
        position = rig.runtime.position(YES)
        assert position is not None
        assert position.size == D(10)
        assert await rig.runtime.approvals.pending() == []
        requests.close()


async def test_approve_at_a_different_size_reject_and_expiry(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with paper_rig(engine, sessions) as rig:
        approvals = rig.runtime.approvals
        await rig.state.set_approval_mode(True, "test")

        # one request per market at a time: a newer one would supersede the pending one
        async def request() -> str:
            return (await rig.runtime.handle(buy(size="10"))).approval_key or ""

        resized = await approvals.approve(OPERATOR, await request(), D(6))
        second = await request()
        rejected = await approvals.reject(OPERATOR, second)
        assert isinstance(rig.clock, FakeClock)
        third = await request()
        rig.clock.advance(601)
        expired = await approvals.approve(OPERATOR, third, None)
        again = await approvals.reject(OPERATOR, second)

        assert resized.result is not None
        assert resized.result.filled == D(6)
        assert (rejected.status, rejected.acted) == ("rejected", True)
        assert (expired.status, expired.acted) == ("expired", False)
        assert (again.status, again.acted) == ("rejected", False)


async def test_after_a_restart_the_portfolio_is_restored_and_reconciles_clean(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    journal = MemoryJournal()
    clock = FakeClock()
    async with paper_rig(engine, sessions, clock=clock, journal=journal) as rig:
        await rig.runtime.handle(buy())
        await rig.runtime.accounts.snapshot()
        before = rig.runtime.summary()

    async with paper_rig(engine, sessions, clock=clock, journal=journal) as again:
        after = again.runtime.summary()
        assert again.runtime.last_reconcile is not None
        assert again.runtime.last_reconcile.clean
        assert (after.cash, after.equity, after.open_positions) == (
            before.cash,
            before.equity,
            before.open_positions,
        )


async def test_snapshots_alert_once_on_a_drawdown_mode_change_and_the_daily_loss_limit(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    limits = dataclasses.replace(
        TEST_LIMITS, reduced_drawdown=D("0.005"), daily_loss_limit=D(5), max_price_deviation=D(1)
    )
    async with paper_rig(engine, sessions, limits=limits) as rig:
        assert rig.data is not None
        alerts = rig.bus.alerts.subscribe()
        await rig.runtime.accounts.snapshot()
        await rig.runtime.handle(buy())
        fallen = rig.data.set_book(book(YES, [("0.10", "100")], [("0.12", "100")]))
        rig.runtime.board.put_book(fallen)  # as the book feed does: the mark falls to 0.11

        await rig.runtime.accounts.snapshot()
        await rig.runtime.accounts.snapshot()

        kinds = []
        while (envelope := alerts.get_nowait()) is not None:
            kinds.append((envelope.payload.kind, envelope.payload.title))
        assert kinds == [
            ("drawdown_mode", "Drawdown mode FULL -> REDUCED"),
            ("daily_loss", "Daily loss limit reached"),
        ]
        denied = await rig.runtime.handle(buy(price="0.12", model="0.5"))
        assert denied.rule == "daily_loss"
        alerts.close()

"""The Control API over the real execution core (paper venue, real database and event log)."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tests.support.execution_rig import YES, buy, paper_rig
from trader.control.api import Outcome, PnlPeriod
from trader.domain import Actor, Alert, DrawdownMode, OrderStatus, Severity

D = Decimal
OPERATOR = Actor("telegram", "42", "ops")


async def test_status_positions_orders_and_pnl(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with paper_rig(engine, sessions) as rig:
        control = rig.control()
        await rig.runtime.accounts.snapshot()  # the day starts at 1000
        await rig.runtime.handle(buy())
        resting = await rig.runtime.handle(buy(price="0.50", size="10"))

        status = await control.status(OPERATOR)
        (position,) = await control.positions(OPERATOR)
        (order,) = await control.open_orders(OPERATOR)
        day = await control.pnl(OPERATOR, "day")

        assert status.portfolio is not None
        assert status.portfolio.open_positions == 1
        assert status.portfolio.open_orders == 1
        assert status.portfolio.drawdown_mode is DrawdownMode.FULL
        assert status.portfolio.exposure == D("10.40") + D("5.00")
        assert (position.question, position.outcome, position.size) == (
            "Will it rain tomorrow?",
            "Yes",
            D(20),
        )
        assert position.mark == D("0.50")  # the mid, for display
        assert position.value == D("9.60")  # realisable: the 20 sold into the 0.48 bid
        assert position.unrealized == D("-0.80")  # 20 x (0.48 - 0.52 paid)
        assert status.portfolio.equity == D(1000) - D("10.40") + D("9.60")
        assert (order.order_id, order.status, order.filled) == (
            resting.order_id,
            OrderStatus.LIVE,
            D(0),
        )
        assert day.period is PnlPeriod.DAY
        assert day.start_equity == D(1000)
        assert day.pnl == D("-0.80")  # at the realisable mark, not the mid's -0.40


async def test_kill_preview_then_kill_with_flatten_through_the_control_api(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with paper_rig(engine, sessions) as rig:
        control = rig.control()
        stream = control.subscribe_alerts(OPERATOR)
        received: list[Alert] = []

        async def collect() -> None:
            async for alert in stream:
                received.append(alert)

        reader = asyncio.create_task(collect())
        await rig.runtime.handle(buy())
        await rig.runtime.handle(buy(price="0.50", size="10"))

        preview = await control.preview_kill(OPERATOR)
        report = await control.kill(OPERATOR, flatten=True, reason="test")

        (exit_,) = preview.exits
        assert (exit_.best_bid, exit_.floor_price) == (D("0.48"), D("0.46"))  # 0.456 rounded up
        assert preview.estimated_proceeds == D("9.60")
        assert (report.canceled, report.open_orders_left) == (1, 0)
        assert report.exits[0].sold == D(20)
        assert rig.runtime.position(YES) is None
        assert (await control.rearm(OPERATOR)).changed
        stream.close()
        await reader
        assert [a.kind for a in received] == ["kill", "rearm"]
        assert received[0].severity is Severity.CRITICAL


async def test_approvals_through_the_control_api_act_once(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with paper_rig(engine, sessions) as rig:
        control = rig.control()
        await control.set_approval_mode(OPERATOR, True)
        waiting = await rig.runtime.handle(buy(size="10"))
        (pending,) = await control.pending_approvals(OPERATOR)

        first = await control.approve(OPERATOR, pending.key, "8")
        second = await control.approve(OPERATOR, pending.key)

        assert waiting.outcome is Outcome.AWAITING_APPROVAL
        assert pending.key == waiting.approval_key
        assert first.acted
        assert first.result is not None
        assert first.result.filled == D(8)
        assert (second.acted, second.status) == (False, "approved")
        assert await control.pending_approvals(OPERATOR) == []

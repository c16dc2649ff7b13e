"""Control over Telegram with the real aiogram client: the kill flow with flatten, re-arm,
limits, cancel, alert settings; forged and replayed buttons do nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from bot.access import REFUSAL
from bot.alerts import AlertMode
from tests.support.chat_stack import ChatStack, ask, position, start_chat_stack, tap, tap_data
from tests.support.telegram_server import OPERATOR_ID, STRANGER_ID, VIEWER_ID, FakeBotAPI
from tests.support.waiting import eventually
from trader.control.api import OrderView
from trader.domain import OrderStatus, Side, TradingState

SECOND_OPERATOR = 1002
TITLE = "Will <Trump> & <Harris> debate? a<b>c"


def order(order_id: str = "0xabc123") -> OrderView:
    return OrderView(
        order_id,
        "cid-1",
        "mkt-1",
        TITLE,
        "tok-1",
        "Yes",
        Side.BUY,
        Decimal("0.40"),
        Decimal(50),
        Decimal(0),
        OrderStatus.LIVE,
        datetime(2026, 1, 1, tzinfo=UTC),
        "llm",
        "corr",
    )


@pytest.fixture
async def stack(api: FakeBotAPI) -> AsyncIterator[ChatStack]:
    chat = await start_chat_stack(api, operators=(OPERATOR_ID, SECOND_OPERATOR))
    assert chat.desk is not None
    chat.desk.positions_ = [position(TITLE, "100", "0.40", "0.45")]
    chat.desk.orders_ = [order()]
    try:
        yield chat
    finally:
        await chat.stop()


def kill_calls(stack: ChatStack) -> list[tuple[str, str, object]]:
    assert stack.desk is not None
    return [call for call in stack.desk.calls if call[0] == "kill"]


async def test_kill_with_flatten_previews_exits_then_confirms(
    stack: ChatStack, api: FakeBotAPI
) -> None:
    prompt = await ask(api, OPERATOR_ID, "/kill news shock")
    assert prompt.plain.startswith("⚠️ Kill switch: choose")
    assert "Open orders: 1" in prompt.plain
    assert [label for label, _ in prompt.buttons] == [
        "🛑 Cancel orders and halt",
        "🔻 Cancel, flatten and halt",
        "Abort",
    ]

    stranger = await tap(api, STRANGER_ID, prompt, "flatten")
    viewer = await tap(api, VIEWER_ID, prompt, "flatten")
    other = await tap(api, SECOND_OPERATOR, prompt, "flatten")
    assert stranger["text"] == REFUSAL.title
    assert "operator" in viewer["text"]
    assert other["text"] == "Only the person who asked can confirm this."
    assert kill_calls(stack) == []

    flatten_data = next(d for label, d in prompt.buttons if "flatten" in label)
    await tap(api, OPERATOR_ID, prompt, "flatten")
    await eventually(lambda: prompt.plain.startswith("⚠️ Flatten preview"))
    assert TITLE in prompt.plain
    assert "sell 100 · bid 0.45 · floor 0.4275" in prompt.plain
    replay = await tap_data(api, OPERATOR_ID, prompt, flatten_data)
    assert "no longer valid" in replay["text"]
    assert kill_calls(stack) == []

    await tap(api, OPERATOR_ID, prompt, "Confirm")
    await eventually(lambda: prompt.plain.startswith("🛑 Trading KILLED"))
    assert kill_calls(stack) == [
        ("kill", f"telegram:{OPERATOR_ID}", {"flatten": True, "slippage": Decimal("0.05")})
    ]
    assert "Cancelled 1 order(s)" in prompt.plain
    assert stack.trading.state is TradingState.KILLED
    assert prompt.buttons == []


async def test_kill_cancel_only_and_a_replayed_confirmation_does_nothing(
    stack: ChatStack, api: FakeBotAPI
) -> None:
    prompt = await ask(api, OPERATOR_ID, "/kill")
    cancel = next(d for label, d in prompt.buttons if "Cancel orders" in label)

    await tap(api, OPERATOR_ID, prompt, "Cancel orders")
    await eventually(lambda: prompt.plain.startswith("🛑 Trading KILLED"))
    again = await tap_data(api, OPERATOR_ID, prompt, cancel)

    assert "no longer valid" in again["text"]
    assert kill_calls(stack) == [
        ("kill", f"telegram:{OPERATOR_ID}", {"flatten": False, "slippage": None})
    ]


async def test_kill_abort_and_expiry_do_nothing(stack: ChatStack, api: FakeBotAPI) -> None:
    first = await ask(api, OPERATOR_ID, "/kill")
    await tap(api, OPERATOR_ID, first, "Abort")
    await eventually(lambda: first.plain == "Cancelled: nothing was done.")

    second = await ask(api, OPERATOR_ID, "/kill")
    stack.clock.advance(5 * 60)
    late = await tap(api, OPERATOR_ID, second, "Cancel orders")

    assert "expired" in late["text"]
    assert kill_calls(stack) == []
    assert stack.trading.state is TradingState.RUNNING


async def test_a_forged_confirmation_does_nothing(stack: ChatStack, api: FakeBotAPI) -> None:
    answers = [
        await tap_data(api, OPERATOR_ID, None, "cf:000000000000:cancel"),
        await tap_data(api, STRANGER_ID, None, "cf:000000000000:flatten"),
        await tap_data(api, OPERATOR_ID, None, "cf:not-a-token"),
    ]

    assert "no longer valid" in answers[0]["text"]
    assert answers[1]["text"] == REFUSAL.title
    assert answers[2]["text"] == "This button is not valid any more."
    assert stack.desk is not None
    assert stack.desk.calls == []


async def test_rearm_confirms_first(stack: ChatStack, api: FakeBotAPI) -> None:
    nothing = await ask(api, OPERATOR_ID, "/rearm")
    assert nothing.plain == "Nothing to re-arm: trading is RUNNING."
    prompt = await ask(api, OPERATOR_ID, "/kill")
    await tap(api, OPERATOR_ID, prompt, "Cancel orders")
    await eventually(lambda: stack.trading.state is TradingState.KILLED)

    rearm = await ask(api, OPERATOR_ID, "/rearm")
    assert rearm.plain.startswith("Re-arm trading? It is KILLED.")
    assert stack.trading.state is TradingState.KILLED
    await tap(api, OPERATOR_ID, rearm, "Re-arm")

    await eventually(lambda: rearm.plain.startswith("Re-armed: trading RUNNING"))
    assert stack.trading.state is TradingState.RUNNING


async def test_set_a_risk_limit_after_confirming(stack: ChatStack, api: FakeBotAPI) -> None:
    bad = await ask(api, OPERATOR_ID, "/set max_open_orders 2.5")
    unknown = await ask(api, OPERATOR_ID, "/set bogus 1")
    prompt = await ask(api, OPERATOR_ID, "/set max_order_notional 75")
    assert "whole number" in bad.plain
    assert "unknown limit 'bogus'" in unknown.plain
    assert "50 → 75" in prompt.plain
    assert stack.state.risk_limits.max_order_notional == Decimal(50)

    await tap(api, OPERATOR_ID, prompt, "Set max_order_notional")

    await eventually(lambda: prompt.plain == "Set max_order_notional: 50 → 75")
    assert stack.state.risk_limits.max_order_notional == Decimal(75)
    limits = await ask(api, VIEWER_ID, "/limits")
    assert "max_order_notional" in limits.plain
    assert "75" in limits.plain


async def test_positions_orders_pnl_and_cancel(stack: ChatStack, api: FakeBotAPI) -> None:
    positions = await ask(api, VIEWER_ID, "/positions")
    orders = await ask(api, VIEWER_ID, "/orders")
    pnl = await ask(api, VIEWER_ID, "/pnl week")
    bad = await ask(api, VIEWER_ID, "/pnl year")
    cancelled = await ask(api, OPERATOR_ID, "/cancel 0xabc123")
    missing = await ask(api, OPERATOR_ID, "/cancel 0xabc123")

    assert positions.plain.startswith("1 open position(s)")
    assert TITLE in positions.plain
    assert "0xabc123" in orders.plain
    assert pnl.plain.startswith("PnL this week")
    assert "+$12.00" in pnl.plain
    assert "day, week, month" in bad.plain
    assert cancelled.plain == "Cancelled order 0xabc123."
    assert missing.plain.startswith("Refused: no open order 0xabc123")


async def test_alert_settings_and_quiet_hours_are_kept(stack: ChatStack, api: FakeBotAPI) -> None:
    viewer_change = await ask(api, VIEWER_ID, "/alerts order_filled off")
    off = await ask(api, OPERATOR_ID, "/alerts order_filled off")
    quiet = await ask(api, OPERATOR_ID, "/quiet 22:00-07:00")
    bad = await ask(api, OPERATOR_ID, "/quiet 25:00-07:00")
    silent = await ask(api, OPERATOR_ID, "/alerts venue_errors silent")

    assert "needs the operator role" in viewer_change.plain
    assert "order_filled" in stack.state.alert_settings.muted_kinds
    assert stack.notifier.policy.mode_for("order_filled") is AlertMode.OFF
    assert ["order_filled", "off"] in [line.split() for line in off.plain.splitlines()]
    assert stack.state.alert_settings.quiet_start == "22:00"
    assert stack.state.alert_settings.quiet_end == "07:00"
    assert str(stack.notifier.policy.quiet_hours) == "22:00-07:00"
    assert quiet.plain.startswith("Quiet hours 22:00-07:00")
    assert "HH:MM-HH:MM" in bad.plain
    assert stack.state.alert_settings.silent_kinds == ("venue_errors",)
    assert stack.notifier.policy.mode_for("venue_errors") is AlertMode.SILENT
    assert ["venue_errors", "silent"] in [line.split() for line in silent.plain.splitlines()]


async def test_status_shows_money_and_a_refresh_button(stack: ChatStack, api: FakeBotAPI) -> None:
    status = await ask(api, OPERATOR_ID, "/status")
    cycle = await ask(api, OPERATOR_ID, "/cycle")

    assert "Equity $545.00 (positions at their bids)" in status.plain
    assert status.buttons == [("🔄 Refresh", "cm:status:")]
    assert cycle.plain.startswith("Refused: no signal cycle")
    await tap(api, OPERATOR_ID, status, "Refresh")
    await eventually(lambda: len(api.to(OPERATOR_ID)) == 3)
    assert api.to(OPERATOR_ID)[2].plain.startswith("Polyops status")

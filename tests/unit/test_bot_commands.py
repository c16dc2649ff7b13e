"""The command core without a transport: roles, usage messages, the kill switch without an
execution core, hidden button commands."""

from __future__ import annotations

import pytest

from bot.commands.core import REFUSAL, CommandCore
from bot.notifier import Notifier
from bot.reply import Reply, Role
from tests.support.chat_stack import FakeDesk, memory_control
from tests.support.memory import MemoryEvents
from trader.clock import FakeClock
from trader.domain import Actor, TradingState

ADA = Actor("console", "ada")


async def make() -> tuple[CommandCore, FakeDesk, MemoryEvents]:
    clock = FakeClock()
    memory = await memory_control(clock)
    core = CommandCore(memory.control, clock=clock, notifier=Notifier(clock))
    return core, memory.desk, memory.events


def button(reply: Reply, label: str) -> str:
    return next(b.data for row in reply.buttons for b in row if label in b.label)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/events x", "Expected one whole number for the number of events"),
        ("/events 500", "between 1 and 100"),
        ("/events ²", "Expected one whole number for the number of events"),  # isdigit, not int
        ("/backtest llm_edge -3", "days, between 1 and 90; got '-3'"),
        ("/backtest llm_edge abc", "days, between 1 and 90; got 'abc'"),
        ("/backtest llm_edge 100000", "between 1 and 90"),
        ("/backtest llm_edge ٣", "days, between 1 and 90; got '٣'"),  # not 0-9
        ("/pnl year", "The period is one of day, week, month"),
        ("/cancel", "Give exactly one order id."),
        ("/cancel a;b", "Not a valid order id"),
        ("/approve maybe", "The approval mode is one of on, off"),
        ("/quiet", "Give one window like 22:00-07:00, or off."),
        ("/alerts nonsense on", "Unknown alert kind 'nonsense'"),
        ("/set max_order_notional", "Give a limit name and a value."),
        ("/set max_order_notional -5", "max_order_notional cannot be negative"),
        ("/set cooldown_s 1e20", "cooldown_s is a plain decimal number of seconds"),
        ("/chart", "Say which chart: dashboard | equity"),
        ("/chart pie", "The chart is one of dashboard, equity, pnl"),
    ],
)
async def test_bad_arguments_get_a_useful_reply(text: str, expected: str) -> None:
    core, _, _ = await make()

    reply = await core.handle(text, ADA, Role.OPERATOR)

    assert expected in reply.text
    assert reply.lines[-1].startswith("Usage: /") or "Usage" not in reply.text


async def test_hidden_button_commands_are_not_in_help_and_need_an_operator() -> None:
    core, _, events = await make()

    help_text = (await core.handle("/help", ADA, Role.OPERATOR)).text
    viewer = await core.handle("decide ap-1 approve", ADA, Role.VIEWER)
    stranger = await core.handle("confirm 0123 cancel", ADA, Role.STRANGER)

    assert "/decide" not in help_text
    assert "/confirm" not in help_text
    assert "/kill" in help_text
    assert viewer.notice
    assert stranger == REFUSAL
    assert events.commands() == []


async def test_a_stranger_learns_nothing_but_their_id() -> None:
    core, _, events = await make()

    replies = [
        await core.handle(text, ADA, Role.STRANGER)
        for text in ("/status", "/help", "/nonsense", "", "/kill")
    ]
    whoami = await core.handle("/whoami", ADA, Role.STRANGER)

    assert all(reply == REFUSAL for reply in replies)
    assert whoami.text == "Your console id is ada"
    assert events.commands() == []


async def test_a_new_kill_request_voids_the_earlier_confirmation() -> None:
    core, desk, _ = await make()
    first = await core.handle("/kill", ADA, Role.OPERATOR)
    second = await core.handle("/kill", ADA, Role.OPERATOR)

    stale = await core.handle(button(first, "Cancel orders"), ADA, Role.OPERATOR)
    fresh = await core.handle(button(second, "Cancel orders"), ADA, Role.OPERATOR)

    assert stale.notice
    assert fresh.title == "🛑 Trading KILLED"
    assert desk.trading.state is TradingState.KILLED


async def test_a_withdrawal_is_confirmed_then_entered_as_a_cash_flow() -> None:
    core, desk, events = await make()

    asked = await core.handle("/withdraw 300 paid the rent", ADA, Role.OPERATOR)
    assert desk.acted() == []  # nothing before the confirmation
    done = await core.handle(button(asked, "Withdraw $300.00"), ADA, Role.OPERATOR)

    assert asked.title == "Withdraw $300.00?"
    assert "not PnL" in asked.lines[0]
    assert desk.acted() == [("cash_flow", str(ADA), (-300, "paid the rent"))]
    assert done.title == "Withdrawal of $300.00 recorded (not PnL)"
    audited = [e.payload for e in events.of_type("command") if e.payload["command"] == "withdraw"]
    assert audited == [{"command": "withdraw", "amount": "300", "reason": "paid the rent"}]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/deposit", "Give the amount to deposit"),
        ("/deposit -5", "the amount cannot be negative"),
        ("/withdraw 1e3", "the amount is a plain decimal number of USD"),
    ],
)
async def test_a_cash_flow_needs_a_plain_positive_amount(text: str, expected: str) -> None:
    core, desk, _ = await make()

    reply = await core.handle(text, ADA, Role.OPERATOR)

    assert expected in reply.title
    assert desk.acted() == []

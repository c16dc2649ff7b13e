"""The access gate without a transport: roles from rosters, the stranger throttle, the
stale-command rule at its boundary, and the setting that sets the age."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.access import REFUSAL, AccessGate, Outcome, Request, Roster
from bot.commands.core import CommandCore
from bot.notifier import Notifier
from bot.reply import Role
from tests.support.chat_stack import FakeDesk, memory_control
from trader.clock import FakeClock
from trader.config import ConfigError, load_settings
from trader.domain import Actor, TradingState

OPERATOR = Actor(channel="telegram", user_id="1001")
VIEWER = Actor(channel="telegram", user_id="2002")
STRANGER = Actor(channel="telegram", user_id="3003")


async def make(clock: FakeClock) -> tuple[AccessGate, FakeDesk]:
    parts = await memory_control(clock)
    core = CommandCore(parts.control, clock=clock, notifier=Notifier(clock))
    core.access.set_roster("telegram", Roster.of([1001], [2002]))
    desk = parts.desk
    return core.access, desk


def test_roles_come_from_the_channel_s_roster_and_an_unknown_channel_has_nobody() -> None:
    roster = Roster.of([" 1001 ", ""], [2002])

    assert roster.role_of("1001") is Role.OPERATOR
    assert roster.role_of("2002") is Role.VIEWER
    assert roster.role_of("3003") is Role.STRANGER
    assert roster.recipients(Role.OPERATOR) == ["1001"]
    assert roster.recipients(Role.VIEWER) == ["1001", "2002"]
    assert Roster.of([], []).role_of("1001") is Role.STRANGER


async def test_an_unknown_channel_makes_everyone_a_stranger() -> None:
    gate, state = await make(FakeClock())

    verdict = await gate.handle(Request(Actor(channel="signal", user_id="1001"), "/pause"))

    assert (verdict.role, verdict.outcome, verdict.reply) == (
        Role.STRANGER,
        Outcome.REFUSED,
        REFUSAL,
    )
    assert state.trading_status().state is TradingState.RUNNING


async def test_a_stranger_is_told_once_an_hour_and_whoami_always() -> None:
    clock = FakeClock()
    gate, _ = await make(clock)

    first = await gate.handle(Request(STRANGER, "/status"))
    again = await gate.handle(Request(STRANGER, "/pause", tapped=True))
    whoami = await gate.handle(Request(STRANGER, "/whoami"))
    clock.advance(3600)
    later = await gate.handle(Request(STRANGER, "hello"))

    assert [v.deliver for v in (first, again, whoami, later)] == [True, False, True, True]
    assert [v.outcome for v in (first, again, later)] == [Outcome.REFUSED] * 3
    assert whoami.reply.title == "Your telegram id is 3003"


@pytest.mark.parametrize(
    ("age", "outcome", "state"),
    [
        (timedelta(seconds=300), Outcome.ANSWERED, TradingState.PAUSED),
        (timedelta(seconds=301), Outcome.STALE, TradingState.RUNNING),
        (timedelta(hours=-1), Outcome.ANSWERED, TradingState.PAUSED),  # a clock ahead of ours
    ],
)
async def test_the_stale_rule_starts_just_past_the_age(
    age: timedelta, outcome: Outcome, state: TradingState
) -> None:
    clock = FakeClock()
    gate, control_state = await make(clock)

    verdict = await gate.handle(Request(OPERATOR, "/pause", sent_at=clock.now() - age))

    assert verdict.outcome is outcome
    assert control_state.trading_status().state is state


async def test_old_reads_and_old_self_expiring_buttons_pass_and_viewers_are_refused_by_role() -> (
    None
):
    clock = FakeClock()
    gate, state = await make(clock)
    old = clock.now() - timedelta(hours=6)

    status = await gate.handle(Request(OPERATOR, "/status", sent_at=old))
    approve_query = await gate.handle(Request(OPERATOR, "/approve", sent_at=old))
    approve_off = await gate.handle(Request(OPERATOR, "/approve off", sent_at=old))
    confirm = await gate.handle(Request(OPERATOR, "confirm ab12 cancel", sent_at=old, tapped=True))
    viewer = await gate.handle(Request(VIEWER, "/pause", sent_at=old))

    assert status.outcome is approve_query.outcome is Outcome.ANSWERED
    assert approve_off.outcome is Outcome.STALE  # with an argument it changes something
    assert approve_off.reply.title == "Not done: /approve was sent 6 h ago."
    assert confirm.outcome is Outcome.ANSWERED  # the token's own expiry answers it
    assert "no longer valid" in confirm.reply.title
    assert viewer.outcome is Outcome.ANSWERED
    assert viewer.reply.title == "/pause needs the operator role; you are a viewer."
    assert state.trading_status().state is TradingState.RUNNING


async def test_the_age_is_the_core_s_setting() -> None:
    clock = FakeClock()
    control = (await memory_control(clock)).control
    core = CommandCore(control, clock=clock, command_max_age=timedelta(seconds=60))
    core.access.set_roster("telegram", Roster.of([1001], []))

    verdict = await core.access.handle(
        Request(OPERATOR, "/pause", sent_at=clock.now() - timedelta(seconds=61))
    )

    assert verdict.outcome is Outcome.STALE
    assert "older than 60 s" in verdict.reply.lines[0]


@pytest.mark.parametrize("bad", ["5", "86401", "five minutes"])
def test_the_setting_defaults_to_five_minutes_and_refuses_silly_values(
    monkeypatch: pytest.MonkeyPatch, bad: str
) -> None:
    monkeypatch.delenv("CHAT_COMMAND_MAX_AGE_S", raising=False)
    default = load_settings(None).chat_command_max_age_s
    monkeypatch.setenv("CHAT_COMMAND_MAX_AGE_S", bad)

    with pytest.raises(ConfigError, match=r"(?i)chat_command_max_age_s"):
        load_settings(None)
    assert default == 300

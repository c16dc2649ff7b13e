"""Alerts over Telegram: quiet hours, critical repeats, the Acknowledge button."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.access import REFUSAL
from bot.alerts import AlertMode
from bot.timing import QuietHours
from tests.support.chat_stack import ChatStack, ask, start_chat_stack
from tests.support.memory import MemoryStore
from tests.support.telegram_server import (
    OPERATOR_ID,
    STRANGER_ID,
    VIEWER_ID,
    FakeBotAPI,
)
from tests.support.waiting import eventually
from trader.clock import FakeClock
from trader.domain import Alert, Severity


@pytest.fixture
async def stack(api: FakeBotAPI) -> AsyncIterator[ChatStack]:
    clock = FakeClock(datetime(2026, 3, 2, 3, 0, tzinfo=UTC))
    store = MemoryStore()  # quiet hours kept from an earlier run
    store.values["alert_settings"] = {"quiet_start": "22:00", "quiet_end": "07:00"}
    chat = await start_chat_stack(api, clock=clock, store=store)
    await eventually(lambda: chat.notifier.policy.quiet_hours == QuietHours.parse("22:00-07:00"))
    try:
        yield chat
    finally:
        await chat.stop()


async def test_at_three_a_warning_is_silent_and_a_critical_rings_until_acknowledged(
    stack: ChatStack, api: FakeBotAPI
) -> None:
    await stack.notifier.notify(Alert("feed_stale", Severity.WARNING, "Feed stale"))
    await stack.notifier.notify(Alert("watchdog", Severity.CRITICAL, "Heartbeat stopped"))
    await eventually(lambda: len(api.to(OPERATOR_ID)) == 2)
    warning, critical = api.to(OPERATOR_ID)
    assert warning.silent
    assert not critical.silent
    assert critical.buttons[0][0] == "Acknowledge"

    stack.clock.advance(5 * 60)
    await stack.notifier.tick()
    await eventually(lambda: len(api.to(OPERATOR_ID)) == 3)
    repeat = api.to(OPERATOR_ID)[2]
    assert "repeat 1" in repeat.plain
    assert not repeat.silent

    ack = critical.buttons[0][1]
    stranger_tap = api.press(STRANGER_ID, critical, ack)
    viewer_tap = api.press(VIEWER_ID, critical, ack)
    await eventually(lambda: api.answer_for(viewer_tap) is not None)
    await eventually(lambda: api.answer_for(stranger_tap) is not None)
    assert stack.notifier.unacknowledged != []

    operator_tap = api.press(OPERATOR_ID, repeat, ack)
    await eventually(lambda: api.answer_for(operator_tap) is not None)
    await eventually(lambda: not api.to(OPERATOR_ID)[1].buttons)
    await eventually(lambda: not api.to(VIEWER_ID)[1].buttons)
    await eventually(lambda: not repeat.buttons)

    assert stack.notifier.unacknowledged == []
    assert "Acknowledged by" in api.to(OPERATOR_ID)[1].plain
    assert api.answer_for(stranger_tap)["text"] == REFUSAL.title
    assert "operator" in api.answer_for(viewer_tap)["text"]
    stack.clock.advance(60 * 60)
    await stack.notifier.tick()
    await stack.transport.outbox.drain()
    assert len(api.to(OPERATOR_ID)) == 3
    second_tap = api.press(OPERATOR_ID, repeat, ack)
    await eventually(lambda: api.answer_for(second_tap) is not None)
    assert "Already acknowledged" in api.answer_for(second_tap)["text"]


async def test_alerts_from_the_control_api_stream_reach_the_chat(
    stack: ChatStack, api: FakeBotAPI
) -> None:
    assert stack.desk is not None

    stack.desk.publish_alert(Alert("order_filled", Severity.INFO, "Filled 10 @ 0.41 <Yes>"))

    await eventually(lambda: len(api.to(VIEWER_ID)) == 1)
    message = api.to(VIEWER_ID)[0]
    assert message.plain.startswith("ℹ️ Filled 10 @ 0.41 <Yes>")
    assert message.silent  # 03:00 is inside the quiet hours


async def test_a_silent_kind_arrives_without_sound_and_stays_silent_after_a_restart(
    api: FakeBotAPI,
) -> None:
    clock = FakeClock(datetime(2026, 3, 2, 12, 0, tzinfo=UTC))  # midday: no quiet hours
    store = MemoryStore()
    first = await start_chat_stack(api, clock=clock, store=store)
    try:
        reply = await ask(api, OPERATOR_ID, "/alerts venue_errors silent")
        assert ["venue_errors", "silent"] in [line.split() for line in reply.plain.splitlines()]
    finally:
        await first.stop()

    second = await start_chat_stack(api, clock=clock, store=store)  # rebuilt from the store
    try:
        await eventually(
            lambda: second.notifier.policy.mode_for("venue_errors") is AlertMode.SILENT
        )
        assert second.desk is not None
        before = len(api.to(VIEWER_ID))
        second.desk.publish_alert(Alert("venue_errors", Severity.WARNING, "5 venue errors"))
        second.desk.publish_alert(Alert("feed_stale", Severity.WARNING, "Feed stale"))
        await eventually(lambda: len(api.to(VIEWER_ID)) == before + 2)
    finally:
        await second.stop()

    silent, ringing = api.to(VIEWER_ID)[before:]
    assert silent.plain.startswith("⚠️ 5 venue errors")
    assert silent.silent
    assert ringing.plain.startswith("⚠️ Feed stale")
    assert not ringing.silent
    assert store.values["alert_settings"]["silent_kinds"] == ["venue_errors"]


async def test_the_daily_report_alert_arrives_with_its_dashboard(
    stack: ChatStack, api: FakeBotAPI, tmp_path: Path
) -> None:
    assert stack.desk is not None
    image = tmp_path / "report-2026-03-01.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n-dashboard-")

    stack.desk.publish_alert(
        Alert(
            "daily_report", Severity.INFO, "Daily report", "Equity $500.00", attachment=str(image)
        )
    )

    await eventually(lambda: any(m.method == "sendPhoto" for m in api.to(OPERATOR_ID)))
    photo = next(m for m in api.to(OPERATOR_ID) if m.method == "sendPhoto")
    assert photo.photo == image.read_bytes()
    assert photo.plain.startswith("ℹ️ Daily report\nEquity $500.00")
    assert "daily report" in photo.plain

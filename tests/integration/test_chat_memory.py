"""What the chat remembers across a restart, on both databases: critical alerts awaiting an
acknowledgement keep repeating, and WhatsApp service windows stay open. A restart is a new
notifier (or a new WhatsApp stack) over the same database."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.notifier import Notifier, NotifierConfig
from bot.reply import Reply, Role
from tests.support.graph_server import OPERATOR, FakeGraphAPI, api, start_whatsapp_stack
from tests.support.waiting import eventually
from trader.clock import FakeClock
from trader.domain import Actor, Alert, Severity
from trader.store.chat_memory import ChatMemoryRepository

__all__ = ["api"]  # fixtures used by name below

HALT = Alert("auto_halt", Severity.CRITICAL, "Trading halted", "venue errors")
PAT = Actor("telegram", "42", "Pat")


class Recording:
    def __init__(self) -> None:
        self.published: list[tuple[Reply, str | None]] = []
        self.updates: list[str] = []

    async def publish(self, reply: Reply, *, audience: Role, key: str | None = None) -> None:
        self.published.append((reply, key))

    async def update(self, key: str, reply: Reply) -> None:
        self.updates.append(key)


def notifier_over(memory: ChatMemoryRepository, clock: FakeClock) -> tuple[Notifier, Recording]:
    notifier = Notifier(
        clock, config=NotifierConfig(repeat_every=timedelta(minutes=5)), memory=memory
    )
    channel = Recording()
    notifier.add_channel(channel)
    return notifier, channel


async def test_an_unacknowledged_critical_keeps_repeating_after_a_restart(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    clock = FakeClock()
    memory = ChatMemoryRepository(sessions, clock)
    before, first_channel = notifier_over(memory, clock)
    await before.notify(HALT)
    ((_, sent_key),) = first_channel.published
    assert sent_key is not None

    after, channel = notifier_over(memory, clock)  # the restart
    restored = await after.restore()
    clock.advance(301)
    await after.tick()

    assert restored == 1
    assert [a.title for a in after.unacknowledged] == ["Trading halted"]
    ((repeat, key),) = channel.published
    assert key == sent_key  # the old message's Acknowledge button still works
    assert repeat.title.startswith("🚨 Trading halted")
    assert "repeat 1" in " ".join((repeat.title, *repeat.lines)).lower()
    ack_id = sent_key.removeprefix("ak:")
    assert await after.acknowledge(ack_id, PAT) is not None
    again, _ = notifier_over(memory, clock)  # another restart: acknowledged, so quiet
    assert await again.restore() == 0


async def test_windows_and_criticals_round_trip_and_age_out(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    clock = FakeClock()
    memory = ChatMemoryRepository(sessions, clock)
    opened = clock.now() - timedelta(hours=2)

    await memory.record_inbound("whatsapp", "447700900123", opened)
    await memory.record_inbound("whatsapp", "447700900123", opened + timedelta(minutes=1))
    await memory.record_inbound("whatsapp", "15550001111", opened)
    await memory.forget_inbound("whatsapp", "15550001111")
    await memory.record_inbound("telegram", "42", opened)
    await memory.remember_critical("a1b2c3", HALT, clock.now())
    kept = await memory.last_inbound("whatsapp")
    pending = await memory.unacknowledged_criticals()
    clock.advance(timedelta(days=8).total_seconds())

    assert kept == {"447700900123": opened + timedelta(minutes=1)}
    assert [(p.ack_id, p.alert.title, p.alert.severity, p.alert.body) for p in pending] == [
        ("a1b2c3", "Trading halted", Severity.CRITICAL, "venue errors")
    ]
    assert await memory.last_inbound("whatsapp") == {}
    assert await memory.unacknowledged_criticals() == []


async def test_a_whatsapp_window_opened_before_a_restart_is_still_known_after_it(
    sessions: async_sessionmaker[AsyncSession], api: FakeGraphAPI
) -> None:
    memory = ChatMemoryRepository(sessions, FakeClock())
    first = await start_whatsapp_stack(api, memory=memory)
    try:
        await first.say(OPERATOR, "status")  # opens the operator's 24-hour window
    finally:
        await first.stop()
    clock = FakeClock(first.clock.now() + timedelta(hours=1))

    second = await start_whatsapp_stack(api, memory=memory, clock=clock)  # the restart
    try:
        before = len(api.to(OPERATOR))
        await second.notifier.notify(Alert("order_filled", Severity.INFO, "Filled 5 @ 0.50"))
        await eventually(lambda: len(api.to(OPERATOR)) > before)
        await second.transport.idle()
        (alert,) = api.to(OPERATOR)[before:]

        assert second.transport.window.is_open(OPERATOR)
        assert alert.kind == "text"  # free-form inside the window, not the template
        assert alert.text.startswith("*ℹ️ Filled 5 @ 0.50*")
    finally:
        await second.stop()

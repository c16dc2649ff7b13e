"""The terminal chat: commands from a pipe, replies and alerts on standard output."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

from bot.commands.core import CommandCore
from bot.console import ConsoleChannel, ConsoleChat, format_plain
from bot.notifier import Notifier
from bot.reply import Button, Reply, Role
from tests.support.chat_stack import memory_control
from tests.support.waiting import eventually
from trader.clock import FakeClock
from trader.domain import Alert, Severity


async def make_core(clock: FakeClock, notifier: Notifier) -> CommandCore:
    control = (await memory_control(clock)).control
    return CommandCore(control, clock=clock, notifier=notifier)


def test_format_plain_shows_buttons_as_commands_and_images() -> None:
    reply = Reply(
        "Kill?",
        ("2 orders",),
        buttons=((Button("Cancel and halt", "confirm ab12 cancel"),),),
        images=(Path("charts/equity.png"), b"\x89PNG"),
    )

    text = format_plain(reply)

    assert "[Cancel and halt: /confirm ab12 cancel]" in text
    assert "image: charts/equity.png" in text
    assert "image: 4 bytes" in text


async def test_console_runs_piped_commands_and_prints_alerts() -> None:
    clock = FakeClock()
    notifier = Notifier(clock)
    core = await make_core(clock, notifier)
    out = io.StringIO()
    chat = ConsoleChat(core, stdin=io.StringIO("/pause lunch\n\n/status\n"), stdout=out, user="ops")
    notifier.add_channel(ConsoleChannel(chat))
    task = asyncio.create_task(chat.run())
    try:
        await eventually(chat.input_closed.is_set)
        await notifier.notify(Alert("feed_stale", Severity.WARNING, "Feed stale"))
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    text = out.getvalue()
    assert "> /pause lunch" in text
    assert "Paused: no new entries." in text
    assert "Trading: PAUSED (lunch)" in text
    assert "⚠️ Feed stale" in text


async def test_core_gives_the_console_operator_every_command() -> None:
    core = await make_core(FakeClock(), Notifier(FakeClock()))

    names = {c.name for c in core.commands_for(Role.OPERATOR)}

    assert {"status", "pause", "resume", "events", "help"} <= names
    assert "confirm" not in names

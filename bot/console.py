"""The terminal chat: the default transport when no chat token is set.

Reads one command per line from standard input (a terminal or a pipe) and prints replies
and alerts on standard output. The person at the server's terminal is the operator (their
login name is the roster's only operator id, unless a roster is given). Each line goes
through the core's access gate like a Telegram or WhatsApp message; typed just now, it is
never stale. When the input ends (a pipe runs dry) the chat stays up; the app keeps running
until it is interrupted or its `--duration` passes.
"""

from __future__ import annotations

import asyncio
import getpass
import sys
import threading
from collections.abc import AsyncIterator, Callable
from typing import TextIO

from bot.access import Request, Roster
from bot.commands.core import CommandCore
from bot.reply import Reply, Role
from trader.domain import Actor


def format_plain(reply: Reply) -> str:
    text = reply.text
    for row in reply.buttons:
        text += "\n  " + "   ".join(f"[{b.label}: /{b.data}]" for b in row)
    for image in reply.images:
        shown = f"{len(image)} bytes" if isinstance(image, bytes) else str(image)
        text += f"\n  image: {shown}"
    return text


class ConsoleChat:
    def __init__(
        self,
        core: CommandCore,
        *,
        stdin: TextIO | None = None,
        stdout: TextIO | None = None,
        user: str | None = None,
        roster: Roster | None = None,
    ) -> None:
        self._core = core
        self._stdin = stdin or sys.stdin
        self._stdout = stdout or sys.stdout
        self.actor = Actor(channel="console", user_id=user or getpass.getuser())
        core.access.set_roster("console", roster or Roster.of([self.actor.user_id], []))
        self.input_closed = asyncio.Event()
        self._lines: asyncio.Queue[str | None] = asyncio.Queue()
        self._following: set[asyncio.Task[None]] = set()

    def write(self, text: str) -> None:
        self._stdout.write(text + "\n")
        self._stdout.flush()

    def show(self, reply: Reply) -> None:
        self.write(format_plain(reply))

    def _reader(self, loop: asyncio.AbstractEventLoop, put: Callable[[str | None], None]) -> None:
        # A daemon thread: a blocking read of a terminal never holds up shutdown.
        try:
            for line in self._stdin:
                loop.call_soon_threadsafe(put, line)
        except (OSError, ValueError):
            pass
        loop.call_soon_threadsafe(put, None)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        threading.Thread(
            target=self._reader, args=(loop, self._lines.put_nowait), daemon=True, name="stdin"
        ).start()
        while True:
            line = await self._lines.get()
            if line is None:
                self.input_closed.set()
                await asyncio.Event().wait()  # stay up for alerts until cancelled
                return
            if not line.strip():
                continue
            self.write(f"> {line.strip()}")
            reply = await self.answer(line)
            if reply is not None:
                self.show(reply)
                if reply.follow is not None:  # printed as it comes; the prompt stays free
                    self._follow(reply.follow)

    def _follow(self, follow: Callable[[], AsyncIterator[Reply]]) -> None:
        async def show_all() -> None:
            async for update in follow():
                self.show(update)

        task = asyncio.create_task(show_all(), name="console-follow")
        self._following.add(task)
        task.add_done_callback(self._following.discard)

    async def answer(self, line: str) -> Reply | None:
        """One typed line through the access gate; None when the gate says to stay silent."""
        verdict = await self._core.access.handle(Request(self.actor, line.strip()))
        return verdict.reply if verdict.deliver else None


class ConsoleChannel:
    """The notifier's view of the terminal: alerts and approval requests are printed, and
    their buttons shown as commands to type. The terminal user is the operator."""

    def __init__(self, chat: ConsoleChat) -> None:
        self._chat = chat

    async def publish(self, reply: Reply, *, audience: Role, key: str | None = None) -> None:
        self._chat.show(reply)

    async def update(self, key: str, reply: Reply) -> None:
        self._chat.write("(update) " + format_plain(reply))

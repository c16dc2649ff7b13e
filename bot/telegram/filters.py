"""The command routers' root filter: is this message one of these commands, for this bot?

aiogram's `Command(..., ignore_case=True)` answers the same question, but every router a
message passes builds a `CommandObject` for it (split, partition, a dataclass, a loop over
the names and a `replace`), so a command met the last of several feature routers was
tokenised once per router. `CommandNames` matches exactly what that filter matched, with a
set lookup: the text (or a photo's caption) whose first word is `/name` or `/name@mention`,
the name compared case-insensitively, and a mention accepted only if it is this bot's
username (a command addressed to another bot in a group is not ours). It hands the handler
no `command` object: the handlers read the text themselves (`bot.access`).
"""

from __future__ import annotations

from collections.abc import Iterable

from aiogram import Bot
from aiogram.filters import Filter
from aiogram.types import Message

PREFIX = "/"


class CommandNames(Filter):
    __slots__ = ("names",)

    def __init__(self, names: Iterable[str]) -> None:
        self.names = frozenset(name.casefold() for name in names)
        if not self.names:
            raise ValueError("at least one command name")

    def __str__(self) -> str:
        return f"CommandNames({', '.join(sorted(self.names))})"

    # async: aiogram awaits a Filter's call (a plain function would not be awaitable)
    async def __call__(self, message: Message, bot: Bot) -> bool:
        text = message.text or message.caption
        if not text:
            return False
        words = text.split(maxsplit=1)
        if not words:
            return False
        head = words[0]
        if head[0] != PREFIX:
            return False
        name, _, mention = head[1:].partition("@")
        if name.casefold() not in self.names:
            return False
        if not mention:
            return True
        me = await bot.me()  # fetched once, then kept by the client
        return not me.username or mention.lower() == me.username.lower()

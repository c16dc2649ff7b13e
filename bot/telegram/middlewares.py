"""Who is asking: the audit and authorisation middlewares of the Telegram transport.

`AuditMiddleware` logs every message and button tap (user id, role, command name; never the
token, never free text from strangers). `AuthMiddleware` resolves the sender's role from the
configured ids and hands `actor` and `role` to the handlers. In a group the sender's id
decides, not the group. A stranger gets one short refusal (repeated at most once an hour)
and nothing else; only `/whoami` reaches the command core for them. A stranger's button tap
is answered "Not authorised" and goes no further.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import CallbackQuery, Message, TelegramObject, User

from bot.commands.core import REFUSAL, parse
from bot.reply import Role
from bot.telegram.outbox import Outbox
from trader.control.api import Clock
from trader.domain import Actor

log = logging.getLogger(__name__)
Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]

_REFUSE_AGAIN_AFTER = timedelta(hours=1)
_MAX_STRANGERS = 4096


@dataclass(frozen=True, slots=True)
class Access:
    """Operator ids control; viewer ids read; an empty operator list means nobody controls."""

    operators: frozenset[int]
    viewers: frozenset[int]

    def role_of(self, user_id: int) -> Role:
        if user_id in self.operators:
            return Role.OPERATOR
        if user_id in self.viewers:
            return Role.VIEWER
        return Role.STRANGER

    def recipients(self, audience: Role) -> list[int]:
        """Private chats of everyone with at least `audience` (alerts, approval requests)."""
        ids = set(self.operators)
        if audience <= Role.VIEWER:
            ids |= self.viewers
        return sorted(ids)


def actor_for(user: User) -> Actor:
    return Actor(channel="telegram", user_id=str(user.id), name=user.full_name[:64])


class AuditMiddleware(BaseMiddleware):
    def __init__(self, access: Access) -> None:
        self._access = access

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        role = self._access.role_of(user.id) if user else Role.STRANGER
        if isinstance(event, Message):
            name = parse(event.text or "")[0] if (event.text or "").startswith("/") else "-"
            log.info(
                "telegram message",
                extra={"user": user.id if user else None, "role": role.name, "command": name[:32]},
            )
        elif isinstance(event, CallbackQuery):
            prefix = (event.data or "")[:3]
            log.info(
                "telegram button",
                extra={"user": user.id if user else None, "role": role.name, "button": prefix},
            )
        return await handler(event, data)


class AuthMiddleware(BaseMiddleware):
    def __init__(self, access: Access, outbox: Outbox, clock: Clock) -> None:
        self._access = access
        self._outbox = outbox
        self._clock = clock
        self._refused: OrderedDict[int, datetime] = OrderedDict()

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        if user is None or user.is_bot:
            return None  # channel posts, other bots: nobody to answer
        role = self._access.role_of(user.id)
        data["role"] = role
        data["actor"] = actor_for(user)
        if role is not Role.STRANGER:
            return await handler(event, data)
        if isinstance(event, CallbackQuery):
            await event.answer("Not authorised.", show_alert=False)
            return None
        if isinstance(event, Message):
            text = event.text or ""
            if event.chat.type != "private" and not text.startswith("/"):
                return None  # group chatter is not addressed to the bot
            if parse(text)[0] == "whoami":
                return await handler(event, data)
            if self._should_refuse(user.id):
                self._outbox.send(event.chat.id, REFUSAL)
        return None

    def _should_refuse(self, user_id: int) -> bool:
        now = self._clock.now()
        last = self._refused.get(user_id)
        if last is not None and now - last < _REFUSE_AGAIN_AFTER:
            return False
        self._refused[user_id] = now
        self._refused.move_to_end(user_id)
        while len(self._refused) > _MAX_STRANGERS:
            self._refused.popitem(last=False)
        return True

"""Who is asking, in Telegram's terms: the one middleware of the Telegram transport.

`ActorMiddleware` maps the sender of a message or button tap to an `Actor` (channel
"telegram", the numeric user id) and hands it to the handlers; updates with nobody to answer
(channel posts, other bots) stop here. In a group the sender's id decides, not the group.
Nothing here decides who may do what: that is the access gate (`bot/access.py`), which the
handlers call with the actor, the same way as every other transport.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, User

from bot.access import Roster
from trader.domain import Actor

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


def roster_of(operator_ids: Iterable[int], viewer_ids: Iterable[int]) -> Roster:
    """Telegram's id lists (numeric user ids) as the gate's roster."""
    return Roster.of(operator_ids, viewer_ids)


def actor_for(user: User) -> Actor:
    return Actor(channel="telegram", user_id=str(user.id), name=user.full_name[:64])


class ActorMiddleware(BaseMiddleware):
    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        if user is None or user.is_bot:
            return None  # channel posts, other bots: nobody to answer
        data["actor"] = actor_for(user)
        return await handler(event, data)

"""Who is asking, in Telegram's terms: the one update middleware of the Telegram transport;
and the client's one request middleware, which keeps aiogram's answer models built.

`ActorMiddleware` maps the sender of a message or button tap to an `Actor` (channel
"telegram", the numeric user id) and hands it to the handlers; updates with nobody to answer
(channel posts, other bots) stop here. In a group the sender's id decides, not the group.
Nothing here decides who may do what: that is the access gate (`bot/access.py`), which the
handlers call with the actor, the same way as every other transport.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from aiogram import BaseMiddleware, Bot
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.methods import Response, TelegramMethod
from aiogram.types import TelegramObject, User

from bot.access import Roster
from trader.domain import Actor

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]
T = TypeVar("T")


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


class KeepAnswerModels(BaseRequestMiddleware):
    """aiogram reads every answer as `Response[T]`, a pydantic generic it parametrizes on
    each call; pydantic keeps parametrized classes only weakly, so once a garbage collection
    took one the next call builds it again (a few milliseconds: a schema for `Message` and all
    it holds). Holding each method's answer class keeps it built: the first call of a method
    builds it, later calls find it."""

    def __init__(self) -> None:
        self.kept: dict[type[Any], type[Any]] = {}

    async def __call__(
        self, make_request: NextRequestMiddlewareType[T], bot: Bot, method: TelegramMethod[T]
    ) -> Response[T]:
        kind = type(method)
        if kind not in self.kept:
            self.kept[kind] = Response[method.__returning__]  # type: ignore[name-defined]
        return await make_request(bot, method)

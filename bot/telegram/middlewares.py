"""Who is asking, in Telegram's terms: the one update middleware of the Telegram transport;
and the answer models the client's session keeps built.

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
from aiogram.methods import (
    AnswerCallbackQuery,
    DeleteWebhook,
    EditMessageText,
    GetMe,
    GetUpdates,
    Response,
    SendMessage,
    SendPhoto,
    SetMyCommands,
    SetWebhook,
    TelegramMethod,
)
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


# Every method the transport calls (tests/integration/test_telegram_delivery.py checks the
# list against what a session of commands, buttons, photos and edits sends).
USED_METHODS: tuple[type[TelegramMethod[Any]], ...] = (
    AnswerCallbackQuery,
    DeleteWebhook,
    EditMessageText,
    GetMe,
    GetUpdates,
    SendMessage,
    SendPhoto,
    SetMyCommands,
    SetWebhook,
)


def answer_models() -> tuple[type[Any], ...]:
    """aiogram reads every answer as `Response[T]`, a pydantic generic it parametrizes on
    each call; pydantic keeps parametrized classes only weakly, so once a garbage collection
    took one the next call builds it again (a few milliseconds: a schema for `Message` and all
    it holds). The transport holds what this returns, built once at start (about 8 ms); a
    request middleware doing the same cost every request a few microseconds of aiogram's
    middleware chain."""
    return tuple(Response[method.__returning__] for method in USED_METHODS)  # type: ignore[name-defined]

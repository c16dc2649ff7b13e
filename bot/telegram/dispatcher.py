"""`create_dispatcher()`: the aiogram Dispatcher with its middlewares, routers and services.

Services reach handlers by name through the dispatcher's workflow data: `core` (the command
core, whose access gate decides who may do what), `outbox` (rate-aware delivery). `actor`
comes from the actor middleware.
"""

from __future__ import annotations

import logging

from aiogram import Bot, Dispatcher
from aiogram.exceptions import TelegramAPIError
from aiogram.types import (
    BotCommand,
    BotCommandScopeChat,
    BotCommandScopeDefault,
)

from bot.access import Roster
from bot.commands.core import CommandCore
from bot.reply import Role
from bot.telegram.middlewares import ActorMiddleware
from bot.telegram.outbox import Outbox
from bot.telegram.routers import button_routers, fallback_router, include_commands

log = logging.getLogger(__name__)


def create_dispatcher(core: CommandCore, outbox: Outbox) -> Dispatcher:
    dispatcher = Dispatcher(name="polyops", disable_fsm=True)
    dispatcher["core"] = core
    dispatcher["outbox"] = outbox
    actors = ActorMiddleware()
    for observer in (dispatcher.message, dispatcher.callback_query):
        observer.outer_middleware(actors)
    include_commands(dispatcher, core)
    dispatcher.include_routers(*button_routers(), fallback_router())
    return dispatcher


def bot_commands(core: CommandCore, role: Role) -> list[BotCommand]:
    return [
        BotCommand(command=c.name, description=c.summary[:256]) for c in core.commands_for(role)
    ]


async def register_commands(bot: Bot, core: CommandCore, roster: Roster) -> None:
    """The command menu: strangers see only /whoami; each viewer and operator their own list.

    A user who never opened a chat with the bot cannot get a per-chat menu yet; that is
    logged and skipped (they get it at the next start).
    """
    whoami = [BotCommand(command="whoami", description="your id, for the operator to add")]
    await bot.set_my_commands(whoami, scope=BotCommandScopeDefault())
    for user_id in roster.recipients(Role.VIEWER):
        role = roster.role_of(user_id)
        try:
            await bot.set_my_commands(
                bot_commands(core, role), scope=BotCommandScopeChat(chat_id=int(user_id))
            )
        except TelegramAPIError as error:
            log.warning("telegram command menu for %s not set: %s", user_id, error.message)

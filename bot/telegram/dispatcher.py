"""`create_dispatcher()`: the aiogram Dispatcher with its middlewares, routers and services.

Services reach handlers by name through the dispatcher's workflow data: `core` (the command
core), `outbox` (rate-aware delivery). `actor` and `role` come from the auth middleware.
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

from bot.commands.core import CommandCore
from bot.reply import Role
from bot.telegram.middlewares import Access, AuditMiddleware, AuthMiddleware
from bot.telegram.outbox import Outbox
from bot.telegram.routers import button_routers, command_routers, fallback_router
from trader.control.api import Clock

log = logging.getLogger(__name__)


def create_dispatcher(
    core: CommandCore, outbox: Outbox, access: Access, clock: Clock
) -> Dispatcher:
    dispatcher = Dispatcher(name="polyops")
    dispatcher["core"] = core
    dispatcher["outbox"] = outbox
    audit = AuditMiddleware(access)
    auth = AuthMiddleware(access, outbox, clock)
    for observer in (dispatcher.message, dispatcher.callback_query):
        observer.outer_middleware(audit)
        observer.outer_middleware(auth)
    dispatcher.include_routers(*command_routers(core), *button_routers(), fallback_router())
    return dispatcher


def bot_commands(core: CommandCore, role: Role) -> list[BotCommand]:
    return [
        BotCommand(command=c.name, description=c.summary[:256]) for c in core.commands_for(role)
    ]


async def register_commands(bot: Bot, core: CommandCore, access: Access) -> None:
    """The command menu: strangers see only /whoami; each viewer and operator their own list.

    A user who never opened a chat with the bot cannot get a per-chat menu yet; that is
    logged and skipped (they get it at the next start).
    """
    whoami = [BotCommand(command="whoami", description="your id, for the operator to add")]
    await bot.set_my_commands(whoami, scope=BotCommandScopeDefault())
    for user_id in access.recipients(Role.VIEWER):
        role = access.role_of(user_id)
        try:
            await bot.set_my_commands(
                bot_commands(core, role), scope=BotCommandScopeChat(chat_id=user_id)
            )
        except TelegramAPIError as error:
            log.warning("telegram command menu for %s not set: %s", user_id, error.message)

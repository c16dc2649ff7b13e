"""One aiogram Router per feature. Handlers are thin: text in, `CommandCore.handle`, reply out.

The command routers are built from the core's registry (each command names its feature), so
Telegram never offers a command the core does not know. Button routers unpack their own
callback-data factory and hand the command line to the same core, with the tapping user's
role: a button is authorised exactly like the command it stands for.
"""

from __future__ import annotations

from collections import defaultdict

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message

from bot.commands.core import CommandCore
from bot.reply import Reply, Role
from bot.telegram.callbacks import (
    AckCallback,
    AnyCallback,
    ApprovalCallback,
    CommandCallback,
    ConfirmCallback,
)
from bot.telegram.outbox import Outbox
from trader.domain import Actor


async def run_command(
    message: Message, core: CommandCore, outbox: Outbox, actor: Actor, role: Role
) -> None:
    reply = await core.handle(message.text or "", actor, role)
    await outbox.send(message.chat.id, reply)


def command_routers(core: CommandCore) -> list[Router]:
    by_feature: defaultdict[str, list[str]] = defaultdict(list)
    for command in core.all_commands():
        by_feature[command.feature].append(command.name)
    routers = []
    for feature, names in by_feature.items():
        router = Router(name=f"commands.{feature}")
        router.message.register(run_command, Command(*names, ignore_case=True))
        routers.append(router)
    return routers


def fallback_router() -> Router:
    """Unknown commands get help; plain text in a private chat is read as a command."""
    router = Router(name="commands.fallback")

    @router.message(F.text)
    async def other_text(
        message: Message, bot: Bot, core: CommandCore, outbox: Outbox, actor: Actor, role: Role
    ) -> None:
        text = message.text or ""
        if not text.startswith("/"):
            if message.chat.type != "private":
                return
        elif not await _addressed_to_us(text, bot):
            return
        await outbox.send(message.chat.id, await core.handle(text, actor, role))

    return router


async def _addressed_to_us(text: str, bot: Bot) -> bool:
    head = text.split(maxsplit=1)[0]
    if "@" not in head:
        return True
    me = await bot.me()
    return head.split("@", 1)[1].casefold() == (me.username or "").casefold()


async def answer_button(query: CallbackQuery, reply: Reply, outbox: Outbox, *, edit: bool) -> None:
    """A notice is a toast on the button; otherwise the tapped message is edited (or, for
    shortcut buttons, a new message is sent)."""
    if reply.notice:
        await query.answer(reply.title[:190], show_alert=True)
        return
    await query.answer()
    message = query.message
    if edit and isinstance(message, Message):
        await outbox.edit(message.chat.id, message.message_id, reply)
        return
    chat_id = message.chat.id if message is not None else query.from_user.id
    await outbox.send(chat_id, reply)


def _button_router(name: str, factory: type[AnyCallback], *, edit: bool) -> Router:
    router = Router(name=f"buttons.{name}")

    async def tapped(
        query: CallbackQuery,
        callback_data: AnyCallback,
        core: CommandCore,
        outbox: Outbox,
        actor: Actor,
        role: Role,
    ) -> None:
        reply = await core.handle(callback_data.as_command(), actor, role)
        await answer_button(query, reply, outbox, edit=edit)

    router.callback_query.register(tapped, factory.filter())
    return router


def button_routers() -> list[Router]:
    stale = Router(name="buttons.unknown")

    @stale.callback_query()
    async def unknown(query: CallbackQuery) -> None:
        await query.answer("This button is not valid any more.", show_alert=False)

    return [
        _button_router("confirmations", ConfirmCallback, edit=True),
        _button_router("approvals", ApprovalCallback, edit=True),
        _button_router("alerts", AckCallback, edit=True),
        _button_router("shortcuts", CommandCallback, edit=False),
        stale,
    ]

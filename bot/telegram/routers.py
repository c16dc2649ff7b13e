"""One aiogram Router per feature. Handlers are thin: text in, the access gate, reply out.

The command routers are built from the core's registry (each command names its feature), so
Telegram never offers a command the core does not know. Every handler hands the sender, the
command line and the message's date to the core's access gate (`bot/access.py`), which
decides; button routers unpack their own callback-data factory first. A button is authorised
exactly like the command it stands for.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

from aiogram import Bot, F, Router
from aiogram.types import CallbackQuery, Message

from bot.access import Request, Verdict
from bot.commands.core import CommandCore
from bot.telegram.callbacks import (
    AckCallback,
    AnyCallback,
    ApprovalCallback,
    AtAckCallback,
    AtApprovalCallback,
    AtCommandCallback,
    AtConfirmCallback,
    CommandCallback,
    ConfirmCallback,
)
from bot.telegram.filters import CommandNames
from bot.telegram.outbox import Outbox
from trader.domain import Actor


async def answer_message(message: Message, core: CommandCore, outbox: Outbox, actor: Actor) -> None:
    # a photo's caption is read as its text, as the root filter reads it (aiogram's Command did)
    request = Request(actor, message.text or message.caption or "", sent_at=message.date)
    verdict = await core.access.handle(request)
    if verdict.deliver:
        await outbox.answer(message.chat.id, verdict.reply)


# Answered by the dispatcher itself, whose own handlers are tried before any router: the
# order changes no match (a command name is in one feature only), only how many routers a
# command passes before its own, each a few microseconds of aiogram's propagation. /status,
# the command operators send most, passes none.
TRIED_FIRST = ("status",)


def include_commands(dispatcher: Router, core: CommandCore) -> None:
    """The command handlers: `TRIED_FIRST` features on `dispatcher` itself, one router per
    other feature, each with a root filter on its command names."""
    by_feature: defaultdict[str, list[str]] = defaultdict(list)
    for command in core.all_commands():
        by_feature[command.feature].append(command.name)
    for feature, names in by_feature.items():
        if feature in TRIED_FIRST:
            dispatcher.message.register(answer_message, CommandNames(names))
            continue
        router = Router(name=f"commands.{feature}")
        # a root filter: an update for another feature's command leaves this router at once,
        # before aiogram wraps the handlers' middlewares for it (the costly part of a miss);
        # a set lookup, not aiogram's Command (which tokenises the text in every router)
        router.message.filter(CommandNames(names))
        router.message.register(answer_message)
        dispatcher.include_router(router)


def fallback_router() -> Router:
    """Unknown commands get help; plain text in a private chat is read as a command."""
    router = Router(name="commands.fallback")

    @router.message(F.text)
    async def other_text(
        message: Message, bot: Bot, core: CommandCore, outbox: Outbox, actor: Actor
    ) -> None:
        text = message.text or ""
        if not text.startswith("/"):
            if message.chat.type != "private":
                return  # group chatter is not addressed to the bot
        elif not await _addressed_to_us(text, bot):
            return
        await answer_message(message, core, outbox, actor)

    return router


async def _addressed_to_us(text: str, bot: Bot) -> bool:
    head = text.split(maxsplit=1)[0]
    if "@" not in head:
        return True
    me = await bot.me()
    return head.split("@", 1)[1].casefold() == (me.username or "").casefold()


def pressed_at(query: CallbackQuery) -> datetime | None:
    """A button press carries no time of its own: the date of the message it is on bounds
    its age (a message too old for the bot to see has date 0, so counts as stale)."""
    message = query.message
    if message is None:
        return None  # a button on an inline message: no date at all
    if isinstance(message, Message):
        return message.date
    return datetime.fromtimestamp(message.date, UTC)


async def answer_button(
    query: CallbackQuery, verdict: Verdict, outbox: Outbox, *, edit: bool
) -> None:
    """A notice is a toast on the button (a refused stranger gets it too: a toast is not a
    message); otherwise the tapped message is edited (or, for shortcut buttons, a new
    message is sent)."""
    reply = verdict.reply
    if reply.notice or not verdict.deliver:
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
    ) -> None:
        request = Request(actor, callback_data.as_command(), sent_at=pressed_at(query), tapped=True)
        verdict = await core.access.handle(request)
        await answer_button(query, verdict, outbox, edit=edit)

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
        _button_router("hub.confirmations", AtConfirmCallback, edit=True),
        _button_router("hub.approvals", AtApprovalCallback, edit=True),
        _button_router("hub.alerts", AtAckCallback, edit=True),
        _button_router("hub.shortcuts", AtCommandCallback, edit=False),
        stale,
    ]

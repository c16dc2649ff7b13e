"""The transport-agnostic command core: parse -> authorize -> Control API -> reply model.

Telegram, WhatsApp and the terminal chat are thin transports over the core's access gate
(`core.access`, see `bot/access.py`): the gate resolves the sender's role, turns strangers
away and refuses stale commands, then calls `handle` with the role, which checks each
command's own role requirement: a viewer may read; an operator may also control. Buttons
come back as hidden commands (`confirm`, `decide`, `ack`) through the same gate and
`handle`, so they are authorised exactly like typed commands. The reply is a plain model
(title, lines, buttons, images); each transport formats and escapes it.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from zoneinfo import ZoneInfo

from bot.access import DEFAULT_MAX_AGE, REFUSAL, AccessGate
from bot.commands import backtest as commands_backtest
from bot.commands import chain as commands_chain
from bot.commands import control as commands_control
from bot.commands import read as commands_read
from bot.commands import settings as commands_settings
from bot.commands import strategies as commands_strategies
from bot.commands.base import (
    ChatNotifier,
    Command,
    CommandLine,
    ConfirmHandler,
    Context,
    UsageError,
    notice,
    parse,
    parse_read,
)
from bot.confirm import Confirmations, Refused
from bot.reply import Reply, Role
from trader.control.api import Clock, ControlError, ControlPort, NotConfiguredError, SystemClock
from trader.domain import Actor

__all__ = ["REFUSAL", "Command", "CommandCore", "UsageError", "parse"]

log = logging.getLogger(__name__)


class CommandCore:
    def __init__(
        self,
        control: ControlPort,
        *,
        clock: Clock | None = None,
        notifier: ChatNotifier | None = None,
        zone: ZoneInfo | None = None,
        command_max_age: timedelta = DEFAULT_MAX_AGE,
    ) -> None:
        self._control = control
        the_clock: Clock = clock or SystemClock()
        self.context = Context(
            control=control,
            clock=the_clock,
            confirmations=Confirmations(the_clock),
            notifier=notifier,
            zone=zone or ZoneInfo("UTC"),
        )
        self.access = AccessGate(self, the_clock, max_age=command_max_age)
        self._commands: dict[str, Command] = {}
        self._confirm_handlers: dict[str, ConfirmHandler] = {}
        self.register(
            Command(
                "help", Role.VIEWER, "what you can do here", "/help", self._help, feature="general"
            )
        )
        self.register(
            Command(
                "whoami",
                Role.STRANGER,
                "your id, to add to the settings",
                "",
                self._whoami,
                feature="general",
            )
        )
        self.register(
            Command(
                "confirm",
                Role.OPERATOR,
                "answer a confirmation",
                "",
                self._confirm,
                feature="control",
                hidden=True,
                late_ok=True,  # tokens expire in minutes and die with a restart
            )
        )
        for module in (
            commands_read,
            commands_control,
            commands_settings,
            commands_strategies,
            commands_chain,
            commands_backtest,
        ):
            module.install(self)

    @property
    def control(self) -> ControlPort:
        return self._control

    def register(self, command: Command) -> None:
        self._commands[command.name] = command

    def on_confirm(self, action: str, handler: ConfirmHandler) -> None:
        self._confirm_handlers[action] = handler

    def all_commands(self) -> list[Command]:
        return list(self._commands.values())

    def changes_state(self, name: str, args: list[str]) -> bool:
        """Whether this command line would change something (it needs the operator role) and
        so must not be acted on when it arrives late (see `bot/access.py`)."""
        command = self._commands.get(name)
        if command is None or command.handler is None or command.late_ok:
            return False
        return command.required_role(args) >= Role.OPERATOR

    def commands_for(self, role: Role) -> list[Command]:
        return [c for c in self._commands.values() if c.role <= role and not c.hidden]

    async def handle(
        self, text: str, actor: Actor, role: Role, *, parsed: CommandLine | None = None
    ) -> Reply:
        """Answer one command line with `role` (already resolved by the access gate, which
        hands its `parse(text)` as `parsed`, so the line is not parsed again)."""
        name, args = parse_read(text, parsed)
        command = self._commands.get(name)
        if command is None or command.handler is None:
            if role is Role.STRANGER:
                return REFUSAL
            return await self._help(actor, [], unknown=name or text[:32], role=role)
        if role < command.required_role(args):
            if role is Role.STRANGER:
                return REFUSAL
            what = f"/{name}" + (" with arguments" if role >= command.role else "")
            return notice(f"{what} needs the operator role; you are a viewer.")
        try:
            if command.name == "help":
                return await self._help(actor, args, role=role)
            return await command.handler(actor, args)
        except UsageError as error:
            return Reply(f"{error}", (f"Usage: {command.usage or '/' + command.name}",))
        except NotConfiguredError as error:
            return Reply(_sentence(str(error)))
        except ControlError as error:
            return Reply(f"Refused: {error}")

    # handlers ---------------------------------------------------------------------------

    async def _help(
        self, actor: Actor, args: list[str], *, unknown: str | None = None, role: Role = Role.VIEWER
    ) -> Reply:
        lines = [f"/{c.name} - {c.summary}" for c in self.commands_for(role)]
        if role is Role.VIEWER:
            lines.append("(You are a viewer: you can read, not control.)")
        title = f"Unknown command {unknown!r}. Commands:" if unknown else "Commands:"
        return Reply(title, tuple(lines))

    async def _whoami(self, actor: Actor, args: list[str]) -> Reply:
        return Reply(f"Your {actor.channel} id is {actor.user_id}")

    async def _confirm(self, actor: Actor, args: list[str]) -> Reply:
        if len(args) != 2:
            return notice("This confirmation is not valid.")
        token, choice = args
        try:
            pending = self.context.confirmations.take(token, choice, actor)
        except Refused as refused:
            return notice(str(refused))
        if choice == "abort":
            return Reply("Cancelled: nothing was done.")
        handler = self._confirm_handlers.get(pending.action)
        if handler is None:
            log.error("no handler for confirmed action %s", pending.action)
            return notice("This confirmation is not valid.")
        try:
            return await handler(pending, choice, actor)
        except ControlError as error:
            return Reply(f"Refused: {error}")


def _sentence(text: str) -> str:
    return (text[:1].upper() + text[1:]).rstrip(".") + "."

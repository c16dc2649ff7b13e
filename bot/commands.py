"""The transport-agnostic command core: parse -> authorize -> Control API -> reply model.

Telegram, WhatsApp and the terminal chat are thin transports over `CommandCore.handle`.
A stranger learns nothing but their own id (`/whoami`); a viewer may read; an operator may
also control. The reply is a plain model (title, lines, buttons, images); each transport
formats and escapes it for its medium.
"""

from __future__ import annotations

import shlex
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from bot import render
from bot.reply import Reply, Role
from trader.control import ControlAPI, ControlError
from trader.domain import Actor

REFUSAL = Reply("Not authorised. Send /whoami to get your id for the operator to add.")

Handler = Callable[[Actor, list[str]], Awaitable[Reply]]


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    role: Role
    summary: str
    usage: str = ""
    handler: Handler | None = field(default=None, compare=False)


class UsageError(Exception):
    """Bad arguments: the message says what was expected."""


class CommandCore:
    def __init__(self, control: ControlAPI) -> None:
        self._control = control
        self._commands: dict[str, Command] = {}
        for command in (
            Command("help", Role.VIEWER, "what you can do here", "/help", self._help),
            Command("whoami", Role.STRANGER, "your id, to add to the settings", "", self._whoami),
            Command("status", Role.VIEWER, "trading state, mode and health", "", self._status),
            Command("events", Role.VIEWER, "the last events", "/events [n]", self._events),
            Command("pause", Role.OPERATOR, "stop new entries", "/pause [reason]", self._pause),
            Command("resume", Role.OPERATOR, "allow new entries again", "", self._resume),
        ):
            self.register(command)

    def register(self, command: Command) -> None:
        self._commands[command.name] = command

    def commands_for(self, role: Role) -> list[Command]:
        return [c for c in self._commands.values() if c.role <= role and c.role > Role.STRANGER]

    async def handle(self, text: str, actor: Actor, role: Role) -> Reply:
        name, args = parse(text)
        command = self._commands.get(name)
        if command is None or command.handler is None:
            if role is Role.STRANGER:
                return REFUSAL
            return await self._help(actor, [], unknown=name, role=role)
        if role < command.role:
            if role is Role.STRANGER:
                return REFUSAL
            return Reply(f"/{name} needs the operator role; you are a viewer.")
        try:
            if command.name == "help":
                return await self._help(actor, args, role=role)
            return await command.handler(actor, args)
        except UsageError as error:
            return Reply(f"{error}", (f"Usage: {command.usage or '/' + command.name}",))
        except ControlError as error:
            return Reply(f"Refused: {error}")

    # handlers ---------------------------------------------------------------------------

    async def _help(
        self, actor: Actor, args: list[str], *, unknown: str | None = None, role: Role = Role.VIEWER
    ) -> Reply:
        lines = [f"/{c.name} - {c.summary}" for c in self.commands_for(role)]
        title = f"Unknown command /{unknown}. Commands:" if unknown else "Commands:"
        return Reply(title, tuple(lines))

    async def _whoami(self, actor: Actor, args: list[str]) -> Reply:
        return Reply(f"Your {actor.channel} id is {actor.user_id}")

    async def _status(self, actor: Actor, args: list[str]) -> Reply:
        snapshot = await self._control.status(actor)
        return render.status(snapshot)

    async def _events(self, actor: Actor, args: list[str]) -> Reply:
        n = _int_arg(args, default=10, low=1, high=100, what="number of events")
        return render.events(await self._control.recent_events(actor, n))

    async def _pause(self, actor: Actor, args: list[str]) -> Reply:
        change = await self._control.pause(actor, " ".join(args))
        if not change.changed:
            return Reply("Already paused.", (f"Reason: {change.reason}",))
        return Reply("Paused: no new entries.", (f"Reason: {change.reason}", "Resume with /resume"))

    async def _resume(self, actor: Actor, args: list[str]) -> Reply:
        change = await self._control.resume(actor)
        return Reply("Resumed: trading." if change.changed else "Already running.")


def parse(text: str) -> tuple[str, list[str]]:
    """'/pause  slow news' -> ('pause', ['slow', 'news']). Accepts 'status' without a slash
    and Telegram's '/status@MyBot' form."""
    stripped = text.strip()
    if not stripped:
        return "", []
    try:
        parts = shlex.split(stripped)
    except ValueError:
        parts = stripped.split()
    head = parts[0].removeprefix("/").split("@", 1)[0].casefold()
    return head, parts[1:]


def _int_arg(args: list[str], *, default: int, low: int, high: int, what: str) -> int:
    if not args:
        return default
    if len(args) > 1 or not args[0].isdigit():
        raise UsageError(f"Expected one whole number for the {what}, got {' '.join(args)!r}.")
    value = int(args[0])
    if not low <= value <= high:
        raise UsageError(f"The {what} must be between {low} and {high}.")
    return value

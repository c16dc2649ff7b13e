"""What every command module shares: the command record, the context handlers get, and the
argument helpers that turn bad input into a useful usage message.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Protocol
from zoneinfo import ZoneInfo

from bot.alerts import AlertPolicy
from bot.confirm import Confirmations, Pending
from bot.render.common import RenderContext
from bot.reply import Button, Reply, Role
from trader.control.api import Clock, ControlPort
from trader.domain import Actor, Alert

Handler = Callable[[Actor, list[str]], Awaitable[Reply]]
CommandLine = tuple[str, list[str]]  # what `parse` returns: the name and the arguments
MAX_TEXT = 4096  # how much of a line the command core reads (Telegram's own message limit)
ConfirmHandler = Callable[[Pending, str, Actor], Awaitable[Reply]]


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    role: Role
    summary: str
    usage: str = ""
    handler: Handler | None = field(default=None, compare=False)
    feature: str = "general"
    hidden: bool = False  # typed only from buttons (confirm, decide, ack): not in /help
    role_with_args: Role | None = None  # reading needs `role`, changing (with args) needs this
    # Acted on however late it arrives: it checks its own validity (a confirmation token's
    # expiry, an approval request's) or only silences (an alert's acknowledgement).
    late_ok: bool = False

    def required_role(self, args: list[str]) -> Role:
        return self.role_with_args if args and self.role_with_args is not None else self.role


class ChatNotifier(Protocol):
    """What commands ask of the notifier (`bot.notifier.Notifier`; in the hub, one instance's
    view of it, which names the instance)."""

    async def acknowledge(self, ack_id: str, actor: Actor) -> Alert | None: ...

    def set_policy(self, policy: AlertPolicy) -> None: ...

    async def close_approval(self, request_id: str, reply: Reply) -> None: ...


@dataclass
class Context:
    """The services command handlers use; built once by `CommandCore`."""

    control: ControlPort
    clock: Clock
    confirmations: Confirmations
    notifier: ChatNotifier | None
    zone: ZoneInfo

    @property
    def render(self) -> RenderContext:
        """How replies show times: in the operator's zone."""
        return RenderContext(self.zone)


class UsageError(Exception):
    """Bad arguments: the message says what was expected."""


def notice(text: str) -> Reply:
    return Reply(text, notice=True)


def confirm_buttons(token: str, *choices: tuple[str, str]) -> tuple[tuple[Button, ...], ...]:
    """One row per choice plus Abort: `choices` are (label, choice name)."""
    rows = tuple((Button(label, f"confirm {token} {choice}"),) for label, choice in choices)
    return (*rows, (Button("Abort", f"confirm {token} abort"),))


def int_arg(args: Sequence[str], *, default: int, low: int, high: int, what: str) -> int:
    if not args:
        return default
    given = " ".join(args)[:40]
    # isascii: str.isdigit() holds for '²' (int() refuses it) and for other scripts' digits
    if len(args) > 1 or not (args[0].isascii() and args[0].isdigit()):
        raise UsageError(
            f"Expected one whole number for the {what}, between {low} and {high}; got {given!r}."
        )
    value = int(args[0])
    if not low <= value <= high:
        raise UsageError(f"The {what} must be between {low} and {high}.")
    return value


def choice_arg(
    args: Sequence[str], choices: Sequence[str], *, default: str | None, what: str
) -> str:
    if not args:
        if default is None:
            raise UsageError(f"Say which {what}: {' | '.join(choices)}.")
        return default
    value = args[0].casefold()
    if len(args) > 1 or value not in choices:
        raise UsageError(f"The {what} is one of {', '.join(choices)}; got {' '.join(args)!r}.")
    return value


def decimal_arg(text: str, what: str) -> Decimal:
    try:
        value = Decimal(text.strip().removeprefix("$").replace(",", ""))
    except InvalidOperation:
        raise UsageError(f"The {what} must be a number, got {text!r}.") from None
    if not value.is_finite():
        raise UsageError(f"The {what} must be a finite number, got {text!r}.")
    return value


def token_arg(args: Sequence[str], what: str) -> str:
    """One short identifier (an order id, a request id): letters, digits, - _ and x only."""
    if len(args) != 1:
        raise UsageError(f"Give exactly one {what}.")
    value = args[0]
    if not 1 <= len(value) <= 100 or not all(c.isalnum() or c in "-_:" for c in value):
        raise UsageError(f"Not a valid {what}: {value[:40]!r}.")
    return value


_QUOTING = re.compile(r"[\"'\\]")  # what shlex treats specially (no comments: posix split)
_WORD = re.compile(r"[^ \t\r\n]+")  # shlex's whitespace
_OTHER_SPACE = re.compile(r"[^\S \t\r\n]")  # Unicode whitespace shlex does not split on


def parse(text: str) -> CommandLine:
    """'/pause  slow news' -> ('pause', ['slow', 'news']). Accepts 'status' without a slash
    and Telegram's '/status@MyBot' form."""
    if not (text.isascii() and text.isprintable()):  # a phone's no-break or wide space, a
        text = _OTHER_SPACE.sub(" ", text)  # form feed: a space, as str.split sees them
    stripped = text.strip()
    if not stripped:
        return "", []
    if _QUOTING.search(stripped) is None:  # nothing for shlex to do: split as it would
        parts = _WORD.findall(stripped)
    else:
        try:
            parts = shlex.split(stripped)
        except ValueError:
            parts = stripped.split()
    if not parts:
        return "", []
    head = parts[0].removeprefix("/").split("@", 1)[0].casefold()
    return head, parts[1:]


def parse_read(text: str, parsed: CommandLine | None = None) -> CommandLine:
    """The line as the core reads it (its first `MAX_TEXT` characters), parsed; `parsed` is a
    caller's `parse(text)` of the same text (the access gate has one), reused when it is the
    same thing."""
    if parsed is not None and len(text) <= MAX_TEXT:
        return parsed
    return parse(text[:MAX_TEXT])

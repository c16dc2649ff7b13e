"""Every callback-data factory of the Telegram transport, with short unique prefixes.

A button in the reply model carries a command line for the core ("confirm 3fa9c1 flatten");
`pack` turns it into one of these factories' strings (at most 64 bytes, Telegram's limit) and
`as_command` turns a tapped button back into the command line. The command goes through
`CommandCore.handle` with the tapping user's role, exactly like a typed command, so no button
can do what its user could not type.

In the hub a button is for one instance: its command line ends in `@name`. Those buttons use
the `At*` factories (the same fields plus `instance`, prefixes starting with "h"), so the
buttons already in a lone trader's chat keep their form and keep working.
"""

from __future__ import annotations

import functools

from aiogram.filters.callback_data import CallbackData, CallbackDataException

from bot.commands.core import parse


class ConfirmCallback(CallbackData, prefix="cf"):
    """A choice in a two-step confirmation (kill, flatten, re-arm, a risk limit)."""

    token: str
    choice: str

    def as_command(self) -> str:
        return f"confirm {self.token} {self.choice}"


class ApprovalCallback(CallbackData, prefix="ap"):
    """Approve, approve half or reject one pending trade."""

    request_id: str
    decision: str

    def as_command(self) -> str:
        return f"decide {self.request_id} {self.decision}"


class AckCallback(CallbackData, prefix="ak"):
    """Acknowledge a critical alert (stops its repeats)."""

    alert_id: str

    def as_command(self) -> str:
        return f"ack {self.alert_id}"


class CommandCallback(CallbackData, prefix="cm"):
    """A shortcut button that runs a read-only command (Refresh, Pending...)."""

    command: str
    argument: str = ""

    def as_command(self) -> str:
        return f"{self.command} {self.argument}".strip()


class AtConfirmCallback(ConfirmCallback, prefix="hcf"):
    instance: str

    def as_command(self) -> str:
        return f"{super().as_command()} @{self.instance}"


class AtApprovalCallback(ApprovalCallback, prefix="hap"):
    instance: str

    def as_command(self) -> str:
        return f"{super().as_command()} @{self.instance}"


class AtAckCallback(AckCallback, prefix="hak"):
    instance: str

    def as_command(self) -> str:
        return f"{super().as_command()} @{self.instance}"


class AtCommandCallback(CommandCallback, prefix="hcm"):
    instance: str

    def as_command(self) -> str:
        return f"{super().as_command()} @{self.instance}"


AnyCallback = (
    ConfirmCallback
    | ApprovalCallback
    | AckCallback
    | CommandCallback
    | AtConfirmCallback
    | AtApprovalCallback
    | AtAckCallback
    | AtCommandCallback
)


@functools.lru_cache(maxsize=1024)  # a pure function of `data`; replies reuse their buttons
def pack(data: str) -> str | None:
    """A reply-model button's command line -> callback data, or None if it cannot fit."""
    name, args = parse(data)
    if args and args[-1].startswith("@"):
        return _pack_at(name, args[:-1], args[-1][1:])
    factory: CallbackData
    try:
        if name == "confirm" and len(args) == 2:
            factory = ConfirmCallback(token=args[0], choice=args[1])
        elif name == "decide" and len(args) == 2:
            factory = ApprovalCallback(request_id=args[0], decision=args[1])
        elif name == "ack" and len(args) == 1:
            factory = AckCallback(alert_id=args[0])
        elif name and len(args) <= 1:
            factory = CommandCallback(command=name, argument=args[0] if args else "")
        else:
            return None
        return factory.pack()
    except (CallbackDataException, ValueError):
        return None


def _pack_at(name: str, args: list[str], instance: str) -> str | None:
    factory: CallbackData
    try:
        if name == "confirm" and len(args) == 2:
            factory = AtConfirmCallback(token=args[0], choice=args[1], instance=instance)
        elif name == "decide" and len(args) == 2:
            factory = AtApprovalCallback(request_id=args[0], decision=args[1], instance=instance)
        elif name == "ack" and len(args) == 1:
            factory = AtAckCallback(alert_id=args[0], instance=instance)
        elif name and len(args) <= 1:
            factory = AtCommandCallback(
                command=name, argument=args[0] if args else "", instance=instance
            )
        else:
            return None
        return factory.pack()
    except (CallbackDataException, ValueError):
        return None

"""The reply model every transport formats: plain text parts, buttons and images."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path

# A chart or report image: a file on disk or the encoded bytes (PNG).
Image = Path | bytes


class Role(IntEnum):
    STRANGER = 0
    VIEWER = 1
    OPERATOR = 2


@dataclass(frozen=True, slots=True)
class Button:
    """`data` is a command line the core understands ("confirm 3fa9c1 flatten").

    The terminal chat shows it for typing; Telegram packs it into callback data. Either way
    it comes back through `CommandCore.handle`, so a button is authorised like a command.
    """

    label: str
    data: str
    # A convenience the reply stands without (Why on alerts and approval cards): a transport
    # whose buttons cost more than they give (WhatsApp: a plain alert, three reply buttons)
    # leaves it out.
    optional: bool = False


@dataclass(frozen=True, slots=True)
class Reply:
    """`title` is shown emphasised; `lines` follow. No markup: transports escape.

    `silent`: deliver without a notification sound. `notice`: a short answer that changes
    nothing (an expired confirmation, a refused button); Telegram shows it as a toast on the
    button instead of editing the message.

    `follow`: the reply is the first word of a longer answer (`/backtest`'s progress). The
    transport sends it, then iterates `follow()`: each reply yielded without images replaces
    the sent message (Telegram edits it; the terminal prints it; WhatsApp, which cannot edit,
    skips it), and one with images is sent as a new message. Commands hand it over so that
    the command itself answers at once.
    """

    title: str
    lines: tuple[str, ...] = ()
    buttons: tuple[tuple[Button, ...], ...] = ()
    images: tuple[Image, ...] = ()
    silent: bool = False
    notice: bool = False
    follow: Callable[[], AsyncIterator[Reply]] | None = field(
        default=None, compare=False, repr=False
    )

    @property
    def text(self) -> str:
        return "\n".join((self.title, *self.lines)) if self.lines else self.title

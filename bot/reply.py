"""The reply model every transport formats: plain text parts, buttons and images."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path


class Role(IntEnum):
    STRANGER = 0
    VIEWER = 1
    OPERATOR = 2


@dataclass(frozen=True, slots=True)
class Button:
    label: str
    data: str


@dataclass(frozen=True, slots=True)
class Reply:
    """`title` is shown emphasised; `lines` follow. No markup: transports escape."""

    title: str
    lines: tuple[str, ...] = ()
    buttons: tuple[tuple[Button, ...], ...] = ()
    images: tuple[Path, ...] = ()
    silent: bool = False

    @property
    def text(self) -> str:
        return "\n".join((self.title, *self.lines)) if self.lines else self.title

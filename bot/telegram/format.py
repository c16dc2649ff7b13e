"""Reply model -> Telegram messages: HTML with every dynamic text escaped, split below the
4,096-character limit at line boundaries, the keyboard on the last part.

The title is the only markup (bold). Each part also keeps its plain form, which the sender
uses if Telegram still refuses the HTML: a message is never lost to formatting.
"""

from __future__ import annotations

import functools
import html
import re
from dataclasses import dataclass

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.render import common as render
from bot.reply import Button, Reply
from bot.telegram.callbacks import pack

MESSAGE_LIMIT = 4096
CAPTION_LIMIT = 1024


# What Telegram could show a link preview for: a scheme ("://", tested apart), a dot before
# two letters of any script ("polymarket.com", "www.x", "t.me/x", "президент.рф"), a
# full-width or ideographic dot before them, or a dotted address. Broad on purpose: a false
# match only sends the option that turns previews off; a miss would show a preview under an
# alert. Led by the dots, so the search skips along the text (a pattern led by a character
# class of word characters took 11 µs on a /status reply, this one under 2 µs).
_LINKISH = re.compile(r"[.．。](?:[^\W\d_]{2}|\d+\.\d+\.\d)")


def _may_link(text: str) -> bool:
    return "://" in text or _LINKISH.search(text) is not None


@dataclass(frozen=True, slots=True)
class Part:
    html: str
    plain: str
    # the text may hold a link: send it with previews off (a status line, which holds none,
    # is sent without the option: one field less to encode per message)
    links: bool = True


def parts(reply: Reply, limit: int = MESSAGE_LIMIT) -> list[Part]:
    """The reply's text as one or more parts, in order, each within `limit` as seen by users."""
    chunks = render.split_message(reply.text, limit, measure=render.utf16_length)
    out: list[Part] = []
    for index, chunk in enumerate(chunks):
        text = chunk if chunk.strip() else "."
        html_text = _html(text, reply.title if index == 0 else None)
        out.append(Part(html_text, text, _may_link(text)))
    return out


def _html(chunk: str, title: str | None) -> str:
    if title and (chunk == title or chunk.startswith(title + "\n")):
        rest = chunk[len(title) :]
        return f"<b>{html.escape(title, quote=False)}</b>{html.escape(rest, quote=False)}"
    return html.escape(chunk, quote=False)


def keyboard(reply: Reply) -> InlineKeyboardMarkup | None:
    """Inline keyboard for the reply's buttons; a button whose data cannot be packed is left
    out (and logged by the caller's tests, never sent half-formed)."""
    return _keyboard(reply.buttons) if reply.buttons else None


@functools.lru_cache(maxsize=512)  # replies reuse their keyboards (/status's Refresh)
def _keyboard(layout: tuple[tuple[Button, ...], ...]) -> InlineKeyboardMarkup | None:
    rows: list[list[InlineKeyboardButton]] = []
    for row in layout:
        buttons = [
            InlineKeyboardButton(text=button.label[:64], callback_data=data)
            for button in row
            if (data := pack(button.data)) is not None
        ]
        if buttons:
            rows.append(buttons)
    return InlineKeyboardMarkup(inline_keyboard=rows) if rows else None


def caption_fits(reply: Reply) -> bool:
    return render.utf16_length(reply.text) <= CAPTION_LIMIT

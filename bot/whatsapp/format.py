"""Reply model -> WhatsApp messages, within WhatsApp's limits. Pure functions.

- Text: split at line boundaries below the 4,096-character text limit (4,000, counted in
  UTF-16 units to be safe with emoji); the title in *bold* when it holds no formatting marks.
  WhatsApp has no escaping: a stray `*` in dynamic text may show as bold, but never loses
  the message.
- Choices: one to three buttons become reply buttons (titles at most 20 characters, so long
  labels get a short title that says the same: "🛑 Cancel & halt"); more become list messages
  (at most 10 rows each, row titles at most 24 characters, a description for the rest).
  Each choice's id is the button's command line ("confirm 3fa9c1 flatten"): it comes back
  through `CommandCore.handle` with the sender's role, exactly like a typed command, so the
  same bound, expiring confirmation tokens guard it. Interactive bodies are at most 1,024
  characters: a longer text goes first as text messages, then the choices.
- Images: sent after the text (or with it as the caption when it is short and alone).
- Templates: the alert text flattened to one line (template parameters may not hold
  newlines, tabs or more than four spaces in a row) and cut to fit.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from bot.commands.core import parse
from bot.render import common as render
from bot.reply import Button, Image, Reply

TEXT_LIMIT = 4000  # WhatsApp's limit is 4,096
INTERACTIVE_BODY_LIMIT = 1024
CAPTION_LIMIT = 1024
BUTTON_TITLE_LIMIT = 20
BUTTON_ID_LIMIT = 256
MAX_BUTTONS = 3
ROW_TITLE_LIMIT = 24
ROW_DESCRIPTION_LIMIT = 72
ROW_ID_LIMIT = 200
MAX_ROWS = 10
TEMPLATE_PARAMETER_LIMIT = 700
LIST_BUTTON = "Choose"
_MARKS = frozenset("*_~`")

# Labels the command core uses that do not fit a 20-character button: the short title.
SHORT_TITLES: dict[str, str] = {
    "🛑 Cancel orders and halt": "🛑 Cancel & halt",
    "🔻 Cancel, flatten and halt": "🔻 Flatten & halt",
    "🔻 Confirm: cancel, flatten and halt": "🔻 Confirm flatten",
}
# Otherwise by the confirmation's choice ("confirm <token> <choice>").
SHORT_BY_CHOICE: dict[str, str] = {
    "set": "✅ Confirm change",
    "rearm": "✅ Re-arm",
    "cancel": "🛑 Cancel & halt",
    "flatten": "🔻 Flatten & halt",
    "abort": "Abort",
}
# A list row's description by the command and its choice, when the label alone is terse.
DESCRIPTIONS: dict[tuple[str, str], str] = {
    ("decide", "approve"): "Approve at the proposed size",
    ("decide", "half"): "Approve at half the size",
    ("decide", "reject"): "Reject: do not trade",
}


def measure(text: str) -> int:
    return render.utf16_length(text)


@dataclass(frozen=True, slots=True)
class Choice:
    id: str  # the command line
    title: str
    description: str = ""


@dataclass(frozen=True, slots=True)
class Text:
    body: str


@dataclass(frozen=True, slots=True)
class Buttons:
    body: str
    choices: tuple[Choice, ...]


@dataclass(frozen=True, slots=True)
class ChoiceList:
    body: str
    choices: tuple[Choice, ...]


@dataclass(frozen=True, slots=True)
class Picture:
    image: Image
    caption: str = ""


Message = Text | Buttons | ChoiceList | Picture


def cut(text: str, limit: int) -> str:
    """`text` within `limit` (UTF-16 units), ending in … when cut."""
    if measure(text) <= limit:
        return text
    size = min(len(text), limit - 1)
    while size > 0 and measure(text[:size]) > limit - 1:
        size -= 1
    return text[:size].rstrip() + "…"


def styled_text(reply: Reply) -> str:
    title = reply.title.strip()
    if title and not (_MARKS & set(title)) and "\n" not in title:
        title = f"*{title}*"
    return "\n".join((title, *reply.lines)) if reply.lines else title


def button_title(button: Button, limit: int = BUTTON_TITLE_LIMIT) -> str:
    label = " ".join(button.label.split())
    if measure(label) <= limit:
        return label
    short = SHORT_TITLES.get(label)
    if short is None:
        name, args = parse(button.data)
        if name == "confirm" and len(args) == 2:
            short = SHORT_BY_CHOICE.get(args[1])
    if short is not None and measure(short) <= limit:
        return short
    words = label.split()
    kept = ""
    for word in words:
        candidate = f"{kept} {word}".strip()
        if measure(candidate) > limit - 1:
            break
        kept = candidate
    return kept + "…" if kept else cut(label, limit)


def choices(reply: Reply, limit: int = BUTTON_TITLE_LIMIT) -> list[Choice]:
    """Every button as a choice with a unique id and title; ones that do not fit are left out."""
    out: list[Choice] = []
    seen_ids: set[str] = set()
    seen_titles: set[str] = set()
    for row in reply.buttons:
        for button in row:
            if not button.data or len(button.data) > ROW_ID_LIMIT or button.data in seen_ids:
                continue
            title = button_title(button, limit)
            number = 2
            base = title
            while title in seen_titles:
                title = cut(base, limit - 3) + f" {number}"
                number += 1
            seen_ids.add(button.data)
            seen_titles.add(title)
            out.append(Choice(button.data, title, _description(button, title)))
    return out


def _description(button: Button, title: str) -> str:
    name, args = parse(button.data)
    if len(args) >= 2 and (name, args[-1]) in DESCRIPTIONS:
        return DESCRIPTIONS[(name, args[-1])]
    label = " ".join(button.label.split())
    return cut(label, ROW_DESCRIPTION_LIMIT) if label != title else ""


def plan(reply: Reply) -> list[Message]:
    """The messages that carry `reply`, in order."""
    reply = _without_extras(reply)
    text = styled_text(reply)
    has_text = bool(text.strip())
    picked = choices(reply, ROW_TITLE_LIMIT if _needs_list(reply) else BUTTON_TITLE_LIMIT)
    if len(reply.images) == 1 and not picked and has_text and measure(text) <= CAPTION_LIMIT:
        return [Picture(reply.images[0], text)]
    parts = [p if p.strip() else "." for p in render.split_message(text, TEXT_LIMIT, measure)]
    body = ""
    if picked and not reply.images and measure(parts[-1]) <= INTERACTIVE_BODY_LIMIT:
        body = parts.pop()
    out: list[Message] = [Text(part) for part in parts if has_text]
    out += [Picture(image) for image in reply.images]
    if picked:
        out += _choice_messages(body or cut(styled_text(Reply(reply.title)), 200), picked)
    return out


def _without_extras(reply: Reply) -> Reply:
    """The optional buttons go (the Why on alerts and approval cards): an alert stays a plain
    message and a card keeps its three reply buttons; /why is typed here instead."""
    if not any(b.optional for row in reply.buttons for b in row):
        return reply
    rows = tuple(tuple(b for b in row if not b.optional) for row in reply.buttons)
    return replace(reply, buttons=tuple(row for row in rows if row))


def _needs_list(reply: Reply) -> bool:
    return sum(len(row) for row in reply.buttons) > MAX_BUTTONS


def _choice_messages(body: str, picked: list[Choice]) -> list[Message]:
    if len(picked) <= MAX_BUTTONS:
        return [Buttons(body, tuple(picked))]
    chunks = [picked[i : i + MAX_ROWS] for i in range(0, len(picked), MAX_ROWS)]
    out: list[Message] = []
    for index, chunk in enumerate(chunks):
        text = body if index == 0 else f"More choices ({index + 1}/{len(chunks)})"
        out.append(ChoiceList(text, tuple(chunk)))
    return out


def as_plain(message: Buttons | ChoiceList) -> Text:
    """An interactive message WhatsApp refused, as text: each choice as the command to send."""
    lines = [message.body, "", "Reply with one of:"]
    lines += [f"{choice.title}: {choice.id}" for choice in message.choices]
    return Text("\n".join(lines))


# payloads ------------------------------------------------------------------------------


def text_payload(to: str, body: str, reply_to: str | None = None) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "to": to,
        "type": "text",
        "text": {"body": body, "preview_url": False},
    }
    return _with_context(payload, reply_to)


def interactive_payload(
    to: str, message: Buttons | ChoiceList, reply_to: str | None = None
) -> dict[str, Any]:
    body = {"text": cut(message.body, INTERACTIVE_BODY_LIMIT)}
    if isinstance(message, Buttons):
        interactive: dict[str, Any] = {
            "type": "button",
            "body": body,
            "action": {
                "buttons": [
                    {"type": "reply", "reply": {"id": c.id[:BUTTON_ID_LIMIT], "title": c.title}}
                    for c in message.choices
                ]
            },
        }
    else:
        rows = []
        for c in message.choices:
            row = {"id": c.id[:ROW_ID_LIMIT], "title": cut(c.title, ROW_TITLE_LIMIT)}
            if c.description:
                row["description"] = cut(c.description, ROW_DESCRIPTION_LIMIT)
            rows.append(row)
        interactive = {
            "type": "list",
            "body": body,
            "action": {"button": LIST_BUTTON, "sections": [{"title": "Choices", "rows": rows}]},
        }
    return _with_context({"to": to, "type": "interactive", "interactive": interactive}, reply_to)


def image_payload(
    to: str, media_id: str, caption: str = "", reply_to: str | None = None
) -> dict[str, Any]:
    image: dict[str, Any] = {"id": media_id}
    if caption:
        image["caption"] = cut(caption, CAPTION_LIMIT)
    return _with_context({"to": to, "type": "image", "image": image}, reply_to)


def template_payload(to: str, name: str, language: str, parameter: str) -> dict[str, Any]:
    return {
        "to": to,
        "type": "template",
        "template": {
            "name": name,
            "language": {"code": language},
            "components": [{"type": "body", "parameters": [{"type": "text", "text": parameter}]}],
        },
    }


def template_parameter(reply: Reply, suffix: str = "") -> str:
    """The reply as the template's one body parameter: one line, no tabs, no long runs of
    spaces, cut to fit (the suffix, if any, always kept)."""
    lines = [" ".join(line.split()) for line in reply.text.split("\n")]
    flat = " · ".join(line for line in lines if line) or "."
    tail = f" · {' '.join(suffix.split())}" if suffix else ""
    return cut(flat, TEMPLATE_PARAMETER_LIMIT - measure(tail)) + tail


def _with_context(payload: dict[str, Any], reply_to: str | None) -> dict[str, Any]:
    if reply_to:
        payload["context"] = {"message_id": reply_to}
    return payload

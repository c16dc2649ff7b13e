"""A fake Telegram Bot API server on loopback, for the real aiogram client.

It implements the methods Polyops uses (getMe, deleteWebhook, setMyCommands, getUpdates with
long polling, sendMessage, sendPhoto, editMessageText, editMessageReplyMarkup,
answerCallbackQuery) with the checks that matter: the token in the path, HTML that Telegram
would refuse ("can't parse entities"), the 4,096-character limit after parsing, "message is
not modified". Tests inject users' messages and button taps, script failures (a 429 with
retry_after, a 409 getUpdates conflict) and read what the bot sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiohttp import web

ALLOWED_TAGS = frozenset(
    {
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "code",
        "pre",
        "a",
        "span",
        "tg-spoiler",
        "blockquote",
        "tg-emoji",
    }
)
_TAG = re.compile(r"<(/?)([a-zA-Z-]+)(\s[^<>]*)?>")
_ENTITY = re.compile(r"&(lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);")
CONFLICT = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)


# the users the chat tests talk as
OPERATOR_ID = 1001
VIEWER_ID = 2002
STRANGER_ID = 3003


class EntityError(ValueError):
    pass


_MARKUP = re.compile(r"[<>&]")


def visible_text(text: str) -> str:
    """Telegram's HTML parse mode: validate and return the text a user sees. (Plain runs are
    copied whole, so a long reply costs the fake little: its time counts in the benchmarks.)"""
    out: list[str] = []
    stack: list[str] = []
    i = 0
    while True:
        found = _MARKUP.search(text, i)
        if found is None:
            out.append(text[i:])
            break
        start = found.start()
        out.append(text[i:start])
        char = found.group(0)
        if char == "<":
            match = _TAG.match(text, start)
            if match is None or match.group(2).lower() not in ALLOWED_TAGS:
                raise EntityError(f"Unsupported start tag at byte offset {start}")
            closing, name = match.group(1), match.group(2).lower()
            if closing:
                if not stack or stack.pop() != name:
                    raise EntityError(f"Unmatched end tag at byte offset {start}")
            else:
                stack.append(name)
            i = match.end()
        elif char == "&":
            match = _ENTITY.match(text, start)
            if match is None:
                raise EntityError(f"Can't find end of the entity starting at byte offset {start}")
            out.append(html.unescape(match.group(0)))
            i = match.end()
        else:
            raise EntityError(f"Unexpected end tag at byte offset {start}")
    if stack:
        raise EntityError(f"Can't find end tag corresponding to start tag {stack[-1]}")
    return "".join(out)


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@dataclass
class Sent:
    """One message as the bot left it (edits update `text` and `markup`)."""

    method: str
    chat_id: int
    message_id: int
    text: str
    parse_mode: str | None
    markup: dict[str, Any] | None
    silent: bool
    photo: bytes | None = None
    edits: int = 0
    date: int = 0  # when the bot sent it (Unix time, as Telegram dates messages)

    @property
    def plain(self) -> str:
        return visible_text(self.text) if self.parse_mode == "HTML" else self.text

    @property
    def buttons(self) -> list[tuple[str, str]]:
        rows = (self.markup or {}).get("inline_keyboard", [])
        return [(b["text"], b.get("callback_data", "")) for row in rows for b in row]


@dataclass
class Failure:
    method: str
    status: int
    description: str
    retry_after: int | None = None
    times: int = 1
    match: str | None = None  # only when the text contains this


@dataclass
class FakeBotAPI:
    token: str = "123456:TEST-fake-token"
    bot_username: str = "polyops_test_bot"
    sent: list[Sent] = field(default_factory=list)
    _by_chat: dict[int, list[Sent]] = field(default_factory=dict, init=False, repr=False)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    json_bodies: int = 0  # requests that came as application/json (the rest as forms)
    callback_answers: list[dict[str, Any]] = field(default_factory=list)
    commands: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    conflict: bool = False
    clock: Any = None  # dates messages when set (the chat's FakeClock); else the real time

    def __post_init__(self) -> None:
        self._updates: list[dict[str, Any]] = []
        self._next_update = 1
        self._next_message = 1000
        self._next_callback = 1
        self._new_update = asyncio.Event()
        self._new_message = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.refused: list[tuple[str, str]] = []  # (method, description) answered with an error

    # server ----------------------------------------------------------------------------

    async def start(self) -> FakeBotAPI:
        app = web.Application()
        app.router.add_route("POST", "/bot{token}/{method}", self._handle)
        app.router.add_route("GET", "/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        self._new_update.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeBotAPI:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # what users do ---------------------------------------------------------------------

    def _push(self, update: dict[str, Any]) -> int:
        update["update_id"] = self._next_update
        self._next_update += 1
        self._updates.append(update)
        self._new_update.set()
        return int(update["update_id"])

    def now(self) -> int:
        return int(self.clock.now().timestamp()) if self.clock is not None else int(time.time())

    def send_text(
        self,
        user_id: int,
        text: str,
        *,
        chat_id: int | None = None,
        name: str = "User",
        at: datetime | None = None,
    ) -> int:
        """`user_id` types `text`; `at` dates the message (a message queued during an outage)."""
        chat = chat_id if chat_id is not None else user_id
        self._next_message += 1
        return self._push(
            {
                "message": {
                    "message_id": self._next_message,
                    "date": int(at.timestamp()) if at is not None else self.now(),
                    "chat": _chat(chat),
                    "from": {"id": user_id, "is_bot": False, "first_name": name},
                    "text": text,
                }
            }
        )

    def press(self, user_id: int, message: Sent | None, data: str) -> str:
        """Tap a button (`data` is its callback data) on `message`; returns the query id."""
        query_id = f"cb{self._next_callback}"
        self._next_callback += 1
        query: dict[str, Any] = {
            "id": query_id,
            "from": {"id": user_id, "is_bot": False, "first_name": "User"},
            "chat_instance": "ci",
            "data": data,
        }
        if message is not None:
            query["message"] = {
                "message_id": message.message_id,
                "date": message.date,
                "chat": _chat(message.chat_id),
                "text": message.plain,
            }
        self._push({"callback_query": query})
        return query_id

    def push_raw(self, update: dict[str, Any]) -> int:
        return self._push(update)

    def fail(self, method: str, status: int, description: str, **kwargs: Any) -> None:
        self.failures.append(Failure(method, status, description, **kwargs))

    # what the bot did ------------------------------------------------------------------

    def to(self, chat_id: int) -> list[Sent]:
        return list(self._by_chat.get(chat_id, ()))  # `sent` is only ever appended to

    def texts(self, chat_id: int) -> list[str]:
        return [m.plain for m in self.to(chat_id)]

    async def wait_sent(self, chat_id: int, count: int, wait_s: float = 10.0) -> list[Sent]:
        """Wait (without polling) until `chat_id` has received `count` messages in all."""
        async with asyncio.timeout(wait_s):
            while len(self.to(chat_id)) < count:
                self._new_message.clear()
                await self._new_message.wait()
        return self.to(chat_id)

    def answer_for(self, query_id: str) -> dict[str, Any] | None:
        return next((a for a in self.callback_answers if a["callback_query_id"] == query_id), None)

    @property
    def pending_updates(self) -> int:
        return len(self._updates)

    # handlers --------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        method = request.match_info["method"]
        try:
            params = await self._params(request)
        except _ApiError as error:
            return _error(error.status, error.description)
        self.calls.append((method, params))
        failure = self._failure_for(method, params)
        if failure is not None:
            self.refused.append((method, failure.description))
            extra = {"retry_after": failure.retry_after} if failure.retry_after else None
            return _error(failure.status, failure.description, extra)
        handler = getattr(self, f"_m_{method.lower()}", None)
        if handler is None:
            return _error(404, "Not Found: method not found")
        try:
            result = await handler(params)
        except EntityError as error:
            self.refused.append((method, str(error)))
            return _error(400, f"Bad Request: can't parse entities: {error}")
        except _ApiError as error:
            self.refused.append((method, error.description))
            return _error(error.status, error.description)
        return web.json_response({"ok": True, "result": result})

    async def _params(self, request: web.Request) -> dict[str, Any]:
        """A request's fields, from a form or (as Telegram takes it) a JSON body; kept as a
        form's strings either way, so the methods read one shape."""
        params: dict[str, Any] = {}
        if not request.can_read_body:
            return params
        if request.content_type == "application/json":
            self.json_bodies += 1
            try:
                body = await request.json()
            except ValueError:
                raise _ApiError(400, "Bad Request: can't parse JSON object") from None
            if not isinstance(body, dict):
                raise _ApiError(400, "Bad Request: can't parse JSON object")
            for key, value in body.items():
                params[key] = value if isinstance(value, str) else json.dumps(value)
            return params
        form = await request.post()
        for key, value in form.items():
            params[key] = value.file.read() if isinstance(value, web.FileField) else value
        return params

    def _failure_for(self, method: str, params: dict[str, Any]) -> Failure | None:
        for failure in self.failures:
            if failure.method != method or failure.times <= 0:
                continue
            if failure.match is not None and failure.match not in str(params.get("text", "")):
                continue
            failure.times -= 1
            return failure
        return None

    async def _m_getme(self, params: dict[str, Any]) -> Any:
        bot_id = int(self.token.split(":", 1)[0])
        return {
            "id": bot_id,
            "is_bot": True,
            "first_name": "Polyops",
            "username": self.bot_username,
        }

    async def _m_deletewebhook(self, params: dict[str, Any]) -> Any:
        return True

    async def _m_setwebhook(self, params: dict[str, Any]) -> Any:
        return True

    async def _m_setmycommands(self, params: dict[str, Any]) -> Any:
        scope = json.loads(params.get("scope", '{"type": "default"}'))
        key = scope["type"] + (f":{scope['chat_id']}" if "chat_id" in scope else "")
        self.commands[key] = json.loads(params["commands"])
        return True

    async def _m_getupdates(self, params: dict[str, Any]) -> Any:
        if self.conflict:
            raise _ApiError(409, CONFLICT)
        offset = int(params.get("offset", 0))
        self._updates = [u for u in self._updates if u["update_id"] >= offset]
        timeout = min(float(params.get("timeout", 0)), 1.0)
        if not self._updates and timeout > 0:
            self._new_update.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new_update.wait(), timeout)
        if self.conflict:
            raise _ApiError(409, CONFLICT)
        return self._updates[: int(params.get("limit", 100))]

    def _check_text(self, text: str, parse_mode: str | None, what: str = "message") -> None:
        if not text.strip():
            raise _ApiError(400, f"Bad Request: {what} text is empty")
        plain = visible_text(text) if parse_mode == "HTML" else text
        limit = 4096 if what == "message" else 1024
        if utf16_len(plain) > limit:
            raise _ApiError(400, f"Bad Request: {what} is too long")

    def _record(self, method: str, params: dict[str, Any], text: str, photo: bytes | None) -> Sent:
        self._next_message += 1
        message = Sent(
            method=method,
            chat_id=int(params["chat_id"]),
            message_id=self._next_message,
            text=text,
            parse_mode=params.get("parse_mode"),
            markup=json.loads(params["reply_markup"]) if "reply_markup" in params else None,
            silent=params.get("disable_notification") == "true",
            photo=photo,
            date=self.now(),
        )
        self.sent.append(message)
        self._by_chat.setdefault(message.chat_id, []).append(message)
        self._new_message.set()
        return message

    async def _m_sendmessage(self, params: dict[str, Any]) -> Any:
        text = str(params.get("text", ""))
        self._check_text(text, params.get("parse_mode"))
        return _message_json(self._record("sendMessage", params, text, None))

    async def _m_sendphoto(self, params: dict[str, Any]) -> Any:
        caption = str(params.get("caption", ""))
        if caption:
            self._check_text(caption, params.get("parse_mode"), what="caption")
        photo = params.get("photo")
        if isinstance(photo, str) and photo.startswith("attach://"):
            photo = params.get(photo.removeprefix("attach://"))
        if not isinstance(photo, bytes) or not photo:
            raise _ApiError(400, "Bad Request: there is no photo in the request")
        message = self._record("sendPhoto", params, caption, photo)
        return _message_json(message) | {
            "photo": [
                {
                    "file_id": f"ph{message.message_id}",
                    "file_unique_id": "u",
                    "width": 1,
                    "height": 1,
                }
            ]
        }

    def _find(self, params: dict[str, Any]) -> Sent:
        chat_id, message_id = int(params["chat_id"]), int(params["message_id"])
        for message in self.sent:
            if message.chat_id == chat_id and message.message_id == message_id:
                return message
        raise _ApiError(400, "Bad Request: message to edit not found")

    async def _m_editmessagetext(self, params: dict[str, Any]) -> Any:
        message = self._find(params)
        text = str(params.get("text", ""))
        self._check_text(text, params.get("parse_mode"))
        markup = json.loads(params["reply_markup"]) if "reply_markup" in params else None
        if text == message.text and markup == message.markup:
            raise _ApiError(
                400,
                "Bad Request: message is not modified: specified new message "
                "content and reply markup are exactly the same",
            )
        message.text, message.markup, message.parse_mode = text, markup, params.get("parse_mode")
        message.edits += 1
        return _message_json(message)

    async def _m_editmessagereplymarkup(self, params: dict[str, Any]) -> Any:
        message = self._find(params)
        message.markup = json.loads(params["reply_markup"]) if "reply_markup" in params else None
        message.edits += 1
        return _message_json(message)

    async def _m_answercallbackquery(self, params: dict[str, Any]) -> Any:
        self.callback_answers.append(params)
        return True


class _ApiError(Exception):
    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


def _chat(chat_id: int) -> dict[str, Any]:
    if chat_id > 0:
        return {"id": chat_id, "type": "private", "first_name": "User"}
    return {"id": chat_id, "type": "group", "title": "Group"}


def _message_json(message: Sent) -> dict[str, Any]:
    body: dict[str, Any] = {
        "message_id": message.message_id,
        "date": int(time.time()),
        "chat": _chat(message.chat_id),
    }
    if message.method == "sendPhoto":
        body["caption"] = message.plain
    else:
        body["text"] = message.plain
    return body


def _error(status: int, description: str, parameters: dict[str, Any] | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=status)

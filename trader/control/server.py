"""The Control API over HTTP, on the app's own aiohttp server (off unless CONTROL_API_ENABLED).

- `POST /control/v1/call/{method}`: body `{"actor": {...}, "args": {...}}`; the answer is
  `{"ok": true, "result": ...}` (the typed result, see `trader.control.wire`) or
  `{"ok": false, "error": {"type": "control"|"not_configured", "message": ...}}` for a request
  the Control API refused, exactly as the chat would have been told.
- `POST /control/v1/stream/{alerts|approvals|events}`: one JSON line per alert, approval
  request or event, and an empty line every few seconds so either side notices a dead
  connection.

Every request is signed (`trader.control.signing`): an unsigned, forged, stale or replayed one
is answered 401 and recorded in the event log (`control_api_refused`, with the reason, the
path and the peer; never the headers). The actor a request names is the person who asked at
the hub; it is audited with the hub's channel prefix (`hub.telegram:42`), by the Control API
itself, like every other call.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date
from decimal import Decimal
from typing import Any, Protocol

from aiohttp import web

from trader.clock import Clock
from trader.control.port import ControlPort
from trader.control.signing import Verifier
from trader.control.types import ControlError, EventSink, EventStream, NotConfiguredError
from trader.control.wire import WireError, decode, encode
from trader.domain import Actor

log = logging.getLogger(__name__)

PREFIX = "/control/v1"
KEEPALIVE_S = 5.0
MAX_ACTOR_FIELD = 100
NO_SUCH_METHOD = "no such Control API method"  # a hub newer than this trader asked for it

# method -> its keyword arguments and their types (what the wire may carry)
CALLS: dict[str, dict[str, Any]] = {
    "status": {},
    "positions": {},
    "open_orders": {},
    "pnl": {"period": str},
    "recent_events": {"n": int},
    "pause": {"reason": str},
    "resume": {},
    "preview_kill": {"slippage": Decimal | None},
    "kill": {"flatten": bool, "reason": str, "slippage": Decimal | None},
    "rearm": {},
    "cancel_order": {"order_id": str},
    "set_approval_mode": {"on": bool},
    "set_allow_heuristic_live": {"on": bool},
    "pending_approvals": {},
    "approve": {"key": str, "size": str | None},
    "reject": {"key": str},
    "run_cycle": {},
    "limits": {},
    "set_limit": {"name": str, "value": Any},
    "alert_settings": {},
    "set_alert_setting": {"name": str, "value": Any},
    "report": {"day": date | None},
    "chart": {"kind": str, "window_days": int},
    "signals": {},
    "deposit": {"amount": str, "reason": str},
    "withdraw": {"amount": str, "reason": str},
    "chain_overview": {},
    "redeem": {"market": str},
    "merge": {"market": str, "pairs": str | None},
    "strategies": {},
    "stage_step": {"name": str, "up": bool},
    "set_stage": {"name": str, "target": str, "expected": str},
    "why": {"ref": str | None},
    "why_denied": {"limit": int},
    "start_backtest": {"strategy": str, "days": int},
    "backtest_status": {"job_id": str},
}
STREAMS = ("alerts", "approvals", "events")


class RouteHost(Protocol):
    """trader.ops.httpserver.HttpServer fits."""

    def add_route(
        self,
        method: str,
        path: str,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> None: ...

    def on_shutdown(self, callback: Callable[[], Awaitable[None]]) -> None: ...


class BadRequest(Exception):
    pass


class ControlServer:
    def __init__(
        self,
        control: ControlPort,
        verifier: Verifier,
        events: EventSink,
        clock: Clock,
        *,
        keepalive_s: float = KEEPALIVE_S,
    ) -> None:
        self._control = control
        self._verifier = verifier
        self._events = events
        self._clock = clock
        self._keepalive_s = keepalive_s
        self._streaming: set[asyncio.Task[Any]] = set()

    def install(self, http: RouteHost) -> None:
        http.add_route("POST", PREFIX + "/call/{method}", self._call)
        http.add_route("POST", PREFIX + "/stream/{stream}", self._stream)
        http.on_shutdown(self.close_streams)

    async def close_streams(self) -> None:
        """End every open stream (the server is stopping): the hub reconnects elsewhere."""
        for task in list(self._streaming):
            task.cancel()

    # --- authentication -----------------------------------------------------------------

    async def _authentic(self, request: web.Request) -> tuple[Actor, dict[str, Any]]:
        body = await request.read()
        headers = {key: request.headers.get(key, "") for key in _SIGNED_HEADERS}
        refusal = self._verifier.check(
            headers, request.method, request.path, body, now=self._clock.now().timestamp()
        )
        if refusal is not None:
            peer = request.remote or "-"
            self._events.append(
                "control_api_refused",
                {"reason": refusal.reason, "detail": refusal.detail, "path": request.path[:200]},
                correlation_id=None,
                actor=f"http:{peer}",
            )
            log.warning("Control API request refused: %s (%s)", refusal.reason, request.path)
            raise web.HTTPUnauthorized(
                text=json.dumps(
                    {"ok": False, "error": {"type": "auth", "message": refusal.reason}}
                ),
                content_type="application/json",
            )
        try:
            document = json.loads(body or b"{}")
            if not isinstance(document, dict):
                raise BadRequest("expected a JSON object")
            return _actor(document.get("actor")), dict(document.get("args") or {})
        except (ValueError, TypeError, BadRequest) as error:
            raise _bad(str(error)) from None

    # --- calls ----------------------------------------------------------------------------

    async def _call(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if method not in CALLS:
            raise web.HTTPNotFound(text=NO_SUCH_METHOD)
        actor, raw_args = await self._authentic(request)
        spec = CALLS[method]
        unknown = set(raw_args) - set(spec)
        if unknown:
            raise _bad(f"unexpected arguments: {', '.join(sorted(unknown))}")
        kwargs = {
            name: _argument(name, raw_args[name], spec[name]) for name in spec if name in raw_args
        }
        try:
            result = await getattr(self._control, method)(actor, **kwargs)
        except NotConfiguredError as error:
            return _error("not_configured", str(error))
        except ControlError as error:
            return _error("control", str(error))
        except TypeError as error:
            raise _bad(f"bad arguments: {error}") from None
        return web.json_response({"ok": True, "result": encode(result)})

    # --- streams --------------------------------------------------------------------------

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        which = request.match_info["stream"]
        if which not in STREAMS:
            raise web.HTTPNotFound(text="no such stream")
        actor, _args = await self._authentic(request)
        try:
            stream: EventStream[Any]
            if which == "alerts":
                stream = self._control.subscribe_alerts(actor)
            elif which == "approvals":
                stream = self._control.subscribe_approvals(actor)
            else:
                stream = self._control.subscribe_events(actor)
        except ControlError as error:
            return _error("control", str(error))
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        task = asyncio.current_task()
        if task is not None:
            self._streaming.add(task)
        try:
            await response.prepare(request)
            async for line in _lines(stream, self._keepalive_s):
                await response.write(line)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            stream.close()
            if task is not None:
                self._streaming.discard(task)
        return response


async def _lines(stream: EventStream[Any], keepalive_s: float) -> AsyncIterator[bytes]:
    iterator = aiter(stream)
    pending: asyncio.Task[Any] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(iterator))
            done, _ = await asyncio.wait({pending}, timeout=keepalive_s)
            if not done:
                yield b"\n"
                continue
            task, pending = pending, None
            try:
                item = task.result()
            except StopAsyncIteration:
                return
            yield json.dumps(encode(item)).encode() + b"\n"
    finally:
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending


_SIGNED_HEADERS = ("X-Polyops-Timestamp", "X-Polyops-Nonce", "X-Polyops-Signature")


def _actor(raw: object) -> Actor:
    if not isinstance(raw, dict):
        raise BadRequest("the request names no actor")
    channel, user_id = str(raw.get("channel", "")), str(raw.get("user_id", ""))
    name = str(raw.get("name", ""))
    if not channel or not user_id:
        raise BadRequest("the actor needs a channel and a user id")
    if max(len(channel), len(user_id), len(name)) > MAX_ACTOR_FIELD:
        raise BadRequest("the actor's fields are too long")
    prefixed = channel if channel.startswith("hub.") else f"hub.{channel}"
    return Actor(channel=prefixed, user_id=user_id, name=name)


def _argument(name: str, raw: object, kind: Any) -> Any:
    """One call argument as its declared type; a misfit is a 400 that names the argument."""
    try:
        return decode(raw, kind)
    except (WireError, ValueError, ArithmeticError) as error:
        raise _bad(f"bad argument {name}: {error}") from None


def _error(kind: str, message: str) -> web.Response:
    return web.json_response({"ok": False, "error": {"type": kind, "message": message}})


def _bad(message: str) -> web.HTTPBadRequest:
    body = json.dumps({"ok": False, "error": {"type": "request", "message": message[:300]}})
    return web.HTTPBadRequest(text=body, content_type="application/json")

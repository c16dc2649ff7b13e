"""Mission control in the browser, on the app's (or the hub's) own aiohttp server.

Server-rendered pages (Jinja2, autoescaped) with htmx and a few lines of JavaScript, both
served from this package: nothing is fetched from elsewhere at run time. Every page needs a
login (`trader.web.auth`); a viewer sees every instance and no control, and a control posted
anyway is refused (403). Each form carries the session's CSRF token. Every read and action
goes through the instance's Control API as `web:<user>`, so the event log audits the web
user like a chat user.

- `GET /` every instance: status, positions, open orders, pending approvals (with Approve and
  Reject for operators), its equity chart, its controls (pause, resume, re-arm, kill), and the
  event log streaming live below (`GET /events`, server-sent events).
- `POST /act`: one action. A kill is two steps: `kill-preview` shows what a kill would do (the
  open orders, each position's exit) with a one-time confirmation; only `kill` with it acts.
- `GET /chart/{instance}.png`: the equity chart the trader draws for /chart equity.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

import jinja2
from aiohttp import web

from trader.clock import Clock
from trader.control.port import ControlPort
from trader.control.types import ControlError, EventLine, StatusSnapshot
from trader.domain import Actor
from trader.web.auth import Session, Sessions, User, WebRole

log = logging.getLogger(__name__)
HERE = Path(__file__).parent
COOKIE = "polyops_session"
LOGIN_COOKIE = "polyops_login"
ACTIONS = frozenset({"pause", "resume", "rearm", "kill-preview", "kill", "approve", "reject"})
ANSWER_WITHIN_S = 8.0


class RouteHost(Protocol):
    def add_route(
        self,
        method: str,
        path: str,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> None: ...

    def on_shutdown(self, callback: Callable[[], Awaitable[None]]) -> None: ...


class WebConsole:
    def __init__(
        self,
        instances: Sequence[ControlPort],
        users: dict[str, User],
        clock: Clock,
        *,
        session_ttl: timedelta = timedelta(minutes=30),
    ) -> None:
        self._instances = {control.name: control for control in instances}
        self._clock = clock
        self.sessions = Sessions(users, clock, session_ttl)
        self._templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        self._templates.globals["usd"] = _usd
        self._streams: set[asyncio.Task[Any]] = set()

    def install(self, http: RouteHost) -> None:
        http.add_route("GET", "/", self._dashboard)
        http.add_route("GET", "/login", self._login_page)
        http.add_route("POST", "/login", self._login)
        http.add_route("POST", "/logout", self._logout)
        http.add_route("POST", "/act", self._act)
        http.add_route("GET", "/events", self._events)
        http.add_route("GET", "/chart/{instance}.png", self._chart)
        http.add_route("GET", "/static/{name}", self._static)
        http.on_shutdown(self.close_streams)

    async def close_streams(self) -> None:
        for task in list(self._streams):
            task.cancel()

    # --- helpers ---------------------------------------------------------------------------

    def _render(self, template: str, status: int = 200, **values: Any) -> web.Response:
        html = self._templates.get_template(template).render(**values)
        response = web.Response(text=html, content_type="text/html", status=status)
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'"
        )
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Cache-Control"] = "no-store"
        return response

    def _session(self, request: web.Request) -> Session | None:
        return self.sessions.get(request.cookies.get(COOKIE))

    @staticmethod
    def _actor(session: Session) -> Actor:
        return Actor(channel="web", user_id=session.user, name=session.user)

    async def _view(self, name: str, actor: Actor) -> dict[str, Any]:
        control = self._instances[name]

        async def ask(call: Awaitable[Any]) -> Any:
            return await asyncio.wait_for(call, ANSWER_WITHIN_S)

        try:
            status: StatusSnapshot = await ask(control.status(actor))
            positions = await ask(control.positions(actor))
            orders = await ask(control.open_orders(actor))
            approvals = await ask(control.pending_approvals(actor))
        except (ControlError, TimeoutError) as error:
            return {"name": name, "error": str(error) or "no answer"}
        components = status.components
        bad = sorted(f"{n} {s}" for n, s in components.items() if s not in _HEALTHY)
        return {
            "name": name,
            "error": "",
            "status": status,
            "book": status.portfolio,
            "running": len(components) - len(bad),
            "bad": bad,
            "positions": positions,
            "orders": orders,
            "approvals": approvals,
        }

    # --- pages -------------------------------------------------------------------------------

    async def _dashboard(self, request: web.Request, *, flash: str = "") -> web.StreamResponse:
        session = self._session(request)
        if session is None:
            raise web.HTTPSeeOther("/login")
        actor = self._actor(session)
        views = await asyncio.gather(*(self._view(name, actor) for name in self._instances))
        return self._render(
            "dashboard.html",
            session=session,
            operator=session.role is WebRole.OPERATOR,
            views=views,
            flash=flash,
            several=len(self._instances) > 1,
        )

    async def _login_page(self, request: web.Request, *, error: str = "") -> web.Response:
        token = secrets.token_urlsafe(24)
        response = self._render("login.html", csrf=token, error=error)
        response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="Strict", max_age=600)
        return response

    async def _login(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        expected = request.cookies.get(LOGIN_COOKIE, "")
        if not expected or not secrets.compare_digest(expected, str(form.get("csrf", ""))):
            return await self._login_page(request, error="The form expired; try again.")
        name = str(form.get("user", ""))[:40]
        session = self.sessions.login(name, str(form.get("password", "")))
        if session is None:
            log.warning("web login refused", extra={"user": name})
            if self.sessions.locked(name):
                error = "Too many wrong passwords: try again in 15 minutes."
                return await self._login_page(request, error=error)
            return await self._login_page(request, error="Wrong name or password.")
        response = web.HTTPSeeOther("/")
        seconds = int((session.expires_at - self._clock.now()).total_seconds())
        response.set_cookie(
            COOKIE, session.token, httponly=True, samesite="Strict", max_age=seconds
        )
        response.del_cookie(LOGIN_COOKIE)
        raise response

    async def _logout(self, request: web.Request) -> web.StreamResponse:
        session = self._session(request)
        form = await request.post()
        if session is not None and self.sessions.csrf_ok(session, str(form.get("csrf", ""))):
            self.sessions.logout(session.token)
        response = web.HTTPSeeOther("/login")
        response.del_cookie(COOKIE)
        raise response

    # --- actions -----------------------------------------------------------------------------

    async def _act(self, request: web.Request) -> web.StreamResponse:
        session = self._session(request)
        if session is None:
            raise web.HTTPSeeOther("/login")
        form = await request.post()
        if not self.sessions.csrf_ok(session, str(form.get("csrf", ""))):
            return self._render("refused.html", 403, reason="The form's CSRF token is wrong.")
        if session.role is not WebRole.OPERATOR:
            log.warning("web control refused: viewer", extra={"user": session.user})
            return self._render("refused.html", 403, reason="Viewers can read, not control.")
        name, action = str(form.get("instance", "")), str(form.get("action", ""))
        control = self._instances.get(name)
        if control is None or action not in ACTIONS:
            return self._render("refused.html", 400, reason="No such instance or action.")
        try:
            return await self._do(request, session, control, action, form)
        except ControlError as error:
            return await self._dashboard(request, flash=f"{name}: refused: {error}")

    async def _do(
        self,
        request: web.Request,
        session: Session,
        control: ControlPort,
        action: str,
        form: Any,
    ) -> web.StreamResponse:
        actor, name = self._actor(session), control.name
        if action == "kill-preview":
            preview = await control.preview_kill(actor)
            token = self.sessions.confirm(session, name, "kill")
            return self._render(
                "confirm_kill.html", session=session, name=name, preview=preview, token=token
            )
        if action == "kill":
            if not self.sessions.take_confirmation(
                session, str(form.get("confirm", "")), name, "kill"
            ):
                return self._render("refused.html", 403, reason="This confirmation is not valid.")
            flatten = form.get("choice") == "flatten"
            report = await control.kill(actor, flatten=flatten, reason="web")
            return await self._dashboard(
                request,
                flash=f"{name}: trading {report.state.value}, {report.canceled} order(s) cancelled",
            )
        key = str(form.get("key", ""))[:100]
        if action == "approve":
            decision = await control.approve(actor, key)
            return await self._dashboard(request, flash=f"{name}: {decision.message}")
        if action == "reject":
            decision = await control.reject(actor, key)
            return await self._dashboard(request, flash=f"{name}: {decision.message}")
        change = await {
            "pause": lambda: control.pause(actor, "web"),
            "resume": lambda: control.resume(actor),
            "rearm": lambda: control.rearm(actor),
        }[action]()
        return await self._dashboard(request, flash=f"{name}: trading {change.after.value}")

    # --- live events, charts, assets -----------------------------------------------------------

    async def _events(self, request: web.Request) -> web.StreamResponse:
        session = self._session(request)
        if session is None:
            raise web.HTTPUnauthorized()
        actor = self._actor(session)
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"}
        )
        await response.prepare(request)
        queue: asyncio.Queue[tuple[str, EventLine]] = asyncio.Queue(maxsize=1000)
        streams = [(name, c.subscribe_events(actor)) for name, c in self._instances.items()]

        async def follow(name: str, stream: Any) -> None:
            async for line in stream:
                with contextlib.suppress(asyncio.QueueFull):
                    queue.put_nowait((name, line))

        task = asyncio.current_task()
        if task is not None:
            self._streams.add(task)
        readers = [asyncio.create_task(follow(name, stream)) for name, stream in streams]
        try:
            await self._send_events(response, session, queue)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            for reader in readers:
                reader.cancel()
            for _name, stream in streams:
                stream.close()
            if task is not None:
                self._streams.discard(task)
        return response

    async def _send_events(
        self,
        response: web.StreamResponse,
        session: Session,
        queue: asyncio.Queue[tuple[str, EventLine]],
    ) -> None:
        while self.sessions.get(session.token) is not None:  # a logout or expiry ends it
            try:
                name, line = await asyncio.wait_for(queue.get(), 15)
            except TimeoutError:
                await response.write(b": keepalive\n\n")
                continue
            data = {
                "instance": name,
                "seq": line.seq,
                "at": line.at.strftime("%H:%M:%S"),
                "type": line.type,
                "actor": line.actor,
                "summary": line.summary,
            }
            await response.write(f"data: {json.dumps(data)}\n\n".encode())

    async def _chart(self, request: web.Request) -> web.StreamResponse:
        session = self._session(request)
        control = self._instances.get(request.match_info["instance"])
        if session is None or control is None:
            raise web.HTTPNotFound()
        try:
            path = await control.chart(self._actor(session), "equity", 30)
        except ControlError:
            raise web.HTTPNotFound() from None
        return web.FileResponse(path, headers={"Cache-Control": "no-store"})

    async def _static(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in _STATIC:
            raise web.HTTPNotFound()
        return web.FileResponse(HERE / "static" / name)


def _usd(value: Decimal, sign: bool = False) -> str:
    prefix = "-" if value < 0 else ("+" if sign and value > 0 else "")
    return f"{prefix}${abs(value):,.2f}"


_HEALTHY = frozenset({"running", "polling", "webhook", "ok", "finished"})
_STATIC = frozenset({"htmx.min.js", "console.js", "console.css"})

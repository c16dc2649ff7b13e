"""`GET /why` and `GET /why/{ref}` on the app's HTTP server: the /why text as plain text.

The HTTP server has no authentication of its own, so these routes are for the machine itself:
the composition root registers them only when the server binds a loopback address, and a
request that came through a proxy (it carries `Forwarded` or `X-Forwarded-For`) is refused,
so a reverse proxy in front of the server does not publish them. `?denied` lists the last
denials. The audit trail names the caller as `http:<peer address>`.
"""

from __future__ import annotations

from aiohttp import web

from bot.render import why as render_why
from bot.render.common import RenderContext
from trader.control.api import ControlAPI, ControlError, NotConfiguredError
from trader.domain import Actor

_PROXY_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Real-IP")
_TEXT = "text/plain"


def why_routes(control: ControlAPI, render: RenderContext) -> list[web.RouteDef]:
    async def explain(request: web.Request) -> web.Response:
        if any(header in request.headers for header in _PROXY_HEADERS):
            return web.Response(status=403, text="/why is served to this machine only\n")
        actor = Actor("http", request.remote or "unknown")
        ref = request.match_info.get("ref") or None
        try:
            if ref is None and "denied" in request.query:
                reply = render_why.denials(await control.why_denied(actor, 10), render)
            else:
                reply = render_why.chain(await control.why(actor, ref), render)
        except NotConfiguredError as error:
            return web.Response(status=503, text=f"{error}\n", content_type=_TEXT)
        except ControlError as error:
            return web.Response(status=404, text=f"{error}\n", content_type=_TEXT)
        return web.Response(text=reply.text + "\n", content_type=_TEXT)

    return [web.get("/why", explain), web.get("/why/{ref}", explain)]

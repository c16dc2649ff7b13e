"""The web page as the hub serves it, for the web tests: two traders' Control APIs over signed
HTTP on 127.0.0.1 (in-memory trading parts), reached by `RemoteControl`s, and the real
`WebConsole` on the real `HttpServer`, with an operator and a viewer. Real time throughout (the
live event view follows the event log on a timer).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx

from tests.support.chat_stack import MemoryControl, memory_control
from tests.support.remote_rig import served
from trader.clock import Clock, SystemClock
from trader.ops.httpserver import HttpServer
from trader.web.auth import User, WebRole, hash_password
from trader.web.console import WebConsole

OPERATOR = ("ann", "operator-password-1")
VIEWER = ("vic", "viewer-password-22")


@dataclass
class WebRig:
    url: str
    memories: dict[str, MemoryControl]
    console: WebConsole
    clock: Clock


@asynccontextmanager
async def web_rig(
    tmp: Path, *, session_ttl: timedelta = timedelta(minutes=30), clock: Clock | None = None
) -> AsyncIterator[WebRig]:
    the_clock = clock or SystemClock()
    users = {
        OPERATOR[0]: User(
            OPERATOR[0], WebRole.OPERATOR, hash_password(OPERATOR[1], iterations=1000)
        ),
        VIEWER[0]: User(VIEWER[0], WebRole.VIEWER, hash_password(VIEWER[1], iterations=1000)),
    }
    async with AsyncExitStack() as stack:
        memories = {
            name: await memory_control(the_clock, name=name)  # type: ignore[arg-type]
            for name in ("alpha", "beta")
        }
        remotes = [
            (await stack.enter_async_context(served(memories[n], the_clock, tmp, name=n))).remote
            for n in memories
        ]
        console = WebConsole(remotes, users, the_clock, session_ttl=session_ttl)
        http = HttpServer("127.0.0.1", 0)
        console.install(http)
        await http.start()
        try:
            yield WebRig(http.url, memories, console, the_clock)
        finally:
            await http.stop()


async def login(http: httpx.AsyncClient, who: tuple[str, str]) -> str:
    """Log in over plain HTTP (as a browser's form would); the session's CSRF token."""
    page = await http.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token is not None
    answer = await http.post(
        "/login", data={"csrf": token.group(1), "user": who[0], "password": who[1]}
    )
    assert answer.status_code == 303
    dashboard = await http.get("/")
    csrf = re.search(r'name="csrf" value="([^"]+)"', dashboard.text)
    assert csrf is not None
    return csrf.group(1)

"""A Control API served over HTTP on 127.0.0.1 from in-memory parts, and a RemoteControl to it.

`served(memory, clock)` starts the app's real `HttpServer` with the real `ControlServer` over a
`MemoryControl` (tests/support/chat_stack.py) and yields a `Served`: the URL, the secret and a
`RemoteControl` over a real httpx client; `signed_call` sends a signed call with arguments as
given. Used by the Control-API-over-HTTP and hub tests.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.support.chat_stack import MemoryControl
from trader.clock import Clock
from trader.control.remote import RemoteControl
from trader.control.server import PREFIX, ControlServer
from trader.control.signing import Verifier, sign
from trader.ops.httpserver import HttpServer

SECRET = "s3cret-for-tests-only-0123456789abcdef"


@dataclass
class Served:
    url: str
    secret: str
    remote: RemoteControl
    http: httpx.AsyncClient
    server: HttpServer
    clock: Clock


@asynccontextmanager
async def served(
    memory: MemoryControl,
    clock: Clock,
    files: Path,
    *,
    name: str = "main",
    secret: str = SECRET,
    skew_s: float = 30,
) -> AsyncIterator[Served]:
    server = HttpServer("127.0.0.1", 0)
    ControlServer(
        memory.control, Verifier(secret, max_skew_s=skew_s), memory.events, clock, keepalive_s=0.2
    ).install(server)
    await server.start()
    http = httpx.AsyncClient()
    try:
        remote = RemoteControl(name, server.url, secret, http, clock, files=files, timeout_s=5)
        yield Served(server.url, secret, remote, http, server, clock)
    finally:
        await http.aclose()
        await server.stop()


async def signed_call(
    rig: Served, method: str, args: dict[str, Any], actor: dict[str, str] | None = None
) -> httpx.Response:
    """A Control API call signed as the hub signs it, with `args` as given (no typing on this
    side): what a hub of another version, or a bug in one, could send."""
    path = f"{PREFIX}/call/{method}"
    who = actor or {"channel": "telegram", "user_id": "42", "name": "Ann"}
    body = json.dumps({"actor": who, "args": args}).encode()
    headers = sign(rig.secret, "POST", path, body, now=rig.clock.now().timestamp())
    headers["Content-Type"] = "application/json"
    return await rig.http.post(rig.url + path, content=body, headers=headers)

"""A Control API served over HTTP on 127.0.0.1 from in-memory parts, and a RemoteControl to it.

`served(memory, clock)` starts the app's real `HttpServer` with the real `ControlServer` over a
`MemoryControl` (tests/support/chat_stack.py) and yields a `Served`: the URL, the secret and a
`RemoteControl` over a real httpx client. Used by the Control-API-over-HTTP and hub tests.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.chat_stack import MemoryControl
from trader.clock import Clock
from trader.control.remote import RemoteControl
from trader.control.server import ControlServer
from trader.control.signing import Verifier
from trader.ops.httpserver import HttpServer

SECRET = "s3cret-for-tests-only-0123456789abcdef"


@dataclass
class Served:
    url: str
    secret: str
    remote: RemoteControl
    http: httpx.AsyncClient
    server: HttpServer


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
        yield Served(server.url, secret, remote, http, server)
    finally:
        await http.aclose()
        await server.stop()

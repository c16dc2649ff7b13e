"""The app's HTTP server (aiohttp): /health, /metrics, and routes other parts register.

- `GET /health`: the health checks as JSON; 200 when none fails, 503 when one does (UNKNOWN
  results are listed but do not fail it). Reports are cached for `health_max_age_s`, so a
  monitoring system polling it does not run the checks (and ask the venue its time) each time.
- `GET /metrics`: the Prometheus text format of the app's own registry (`trader.ops.metrics`).
- `add_route(method, path, handler)` / `add_routes(defs)`: the hook for other endpoints (the
  WhatsApp Cloud API webhook). Call it before `start()`: aiohttp freezes the router then.

It binds HTTP_HOST:HTTP_PORT, loopback by default; binding another address is allowed (behind
a reverse proxy that terminates TLS) and logged as a warning, since /metrics then leaves the
machine. `serve()` is the supervised form: start, wait until cancelled, stop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol

from aiohttp import web

from trader.config.values import is_loopback

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
RESERVED_PATHS = frozenset({"/health", "/metrics"})
METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MAX_BODY_BYTES = 1024 * 1024  # webhook payloads are small; refuse anything bigger


class HealthReportLike(Protocol):
    @property
    def healthy(self) -> bool: ...

    def to_json(self) -> dict[str, Any]: ...


class HealthSource(Protocol):
    """trader.ops.health.HealthMonitor fits."""

    async def report(self, max_age_s: float = ...) -> HealthReportLike: ...


class MetricsSource(Protocol):
    """trader.ops.metrics.Metrics fits."""

    def render(self) -> bytes: ...


class HttpServer:
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 8081,
        *,
        health: HealthSource | None = None,
        metrics: MetricsSource | None = None,
        health_max_age_s: float = 5.0,
        client_max_size: int = MAX_BODY_BYTES,
    ) -> None:
        self.host = host
        self.requested_port = port
        self._health = health
        self._metrics = metrics
        self._health_max_age_s = health_max_age_s
        self._app = web.Application(client_max_size=client_max_size)
        self._app.router.add_get("/health", self._get_health)
        self._app.router.add_get("/metrics", self._get_metrics)
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    # --- the registration hook ------------------------------------------------------------

    def add_route(self, method: str, path: str, handler: Handler) -> None:
        """Register an endpoint (for example the WhatsApp webhook's GET and POST)."""
        self._check_open(path)
        self._app.router.add_route(method, path, handler)

    def add_routes(self, routes: Iterable[web.RouteDef]) -> None:
        routes = list(routes)
        for route in routes:
            self._check_open(route.path)
        self._app.router.add_routes(routes)

    def on_shutdown(self, callback: Callable[[], Awaitable[None]]) -> None:
        """Run `callback` when the server stops, before it waits for open requests: the hook
        for long-lived responses (the Control API's streams) to end."""

        async def hook(_app: web.Application) -> None:
            await callback()

        self._app.on_shutdown.append(hook)

    def _check_open(self, path: str) -> None:
        if self._runner is not None:
            raise RuntimeError("register HTTP routes before the server starts")
        if path in RESERVED_PATHS:
            raise ValueError(f"{path} is served by the HTTP server itself")

    # --- lifecycle -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("the HTTP server is not running")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        if self._runner is not None:
            return
        if not is_loopback(self.host):
            log.warning(
                "HTTP server binds %s: /health and /metrics are reachable from outside", self.host
            )
        runner = web.AppRunner(self._app, access_log=None, handle_signals=False)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self.requested_port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        log.info("HTTP server on %s", self.url)

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        self.port = None
        if runner is not None:
            await runner.cleanup()

    async def serve(self) -> None:
        """Start, then wait until cancelled; stops the server on the way out."""
        await self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await self.stop()

    async def __aenter__(self) -> HttpServer:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()

    # --- handlers --------------------------------------------------------------------------

    async def _get_health(self, _request: web.Request) -> web.Response:
        if self._health is None:
            return web.json_response({"status": "ok", "checks": {}, "failing": []})
        try:
            report = await self._health.report(self._health_max_age_s)
        except Exception as error:
            log.exception("health report failed")
            body = {"status": "error", "error": type(error).__name__, "checks": {}}
            return web.json_response(body, status=503)
        return web.json_response(report.to_json(), status=200 if report.healthy else 503)

    async def _get_metrics(self, _request: web.Request) -> web.Response:
        if self._metrics is None:
            return web.Response(status=404, text="metrics are not enabled\n")
        body = self._metrics.render()
        return web.Response(body=body, headers={"Content-Type": METRICS_CONTENT_TYPE})

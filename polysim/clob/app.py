"""Build, start and stop the simulator: one aiohttp app on one port, one asyncio loop.

    sim = await serve(port=0, scenario="polysim/demo/scenario.json", seed=7)
    environment = build_environment(**sim.sdk_urls)   # trader.venue.polymarket.sdk_env
    ...
    await sim.close()

`run()` is the blocking entry point behind `trader sim`. With `background=True` (the default)
a task steps simulated time every `tick_interval_s` on the injected clock; with a `FakeClock`
pass `background=False` and drive time with `await sim.advance(seconds)` instead, since a
FakeClock's sleep returns at once and the loop would spin. The SDK stamps its L1/L2 headers
with the real time, which the simulator compares with its clock: start a FakeClock at the real
time, or pass `auth_max_skew_s=None` once it is moved far.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from aiohttp import web

from polysim.clob import admin, catalog, chain, history, market_data, relayer, server, ws
from polysim.clob.auth import AuthError, HeartbeatRegistry
from polysim.clob.context import SIM_CONTEXT, ApiError, SimContext
from polysim.clob.exchange import SimExchange
from polysim.clob.faults import ADMIN_PREFIX, FaultRule
from polysim.clob.liquidity import LiquidityEngine
from polysim.clob.model import OrderRejected
from polysim.clob.scenario import Scenario, load_scenario
from trader.clock import Clock, SystemClock

log = logging.getLogger("trader.sim")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
RESPONSE_FAULTS = frozenset({"rate_limit", "maintenance", "server_error", "http_status", "hang"})
DEFAULT_SCENARIO = Path(__file__).resolve().parents[1] / "demo" / "scenario.json"


@dataclass(slots=True)
class SimServer:
    """A running simulator. Every URL the SDK needs is derived from `url`."""

    url: str
    context: SimContext
    runner: web.AppRunner
    ticker: asyncio.Task[None] | None = None
    _closed: bool = field(default=False)

    @property
    def ws_url(self) -> str:
        return "ws" + self.url.removeprefix("http")

    @property
    def gamma_url(self) -> str:
        return self.url + catalog.GAMMA

    @property
    def data_url(self) -> str:
        return self.url + catalog.DATA

    @property
    def market_ws_url(self) -> str:
        return self.ws_url + ws.MARKET_PATH

    @property
    def user_ws_url(self) -> str:
        return self.ws_url + ws.USER_PATH

    @property
    def sdk_urls(self) -> dict[str, str]:
        """Keyword arguments for `trader.venue.polymarket.sdk_env.build_environment`."""
        return {
            "clob_url": self.url,
            "gamma_url": self.gamma_url,
            "data_url": self.data_url,
            "market_ws_url": self.market_ws_url,
            "user_ws_url": self.user_ws_url,
        }

    @property
    def exchange(self) -> SimExchange:
        return self.context.exchange

    async def advance(self, seconds: float = 0.0) -> None:
        """Move a FakeClock by `seconds` (a real clock moves by itself) and step the simulation."""
        mover = getattr(self.context.clock, "advance", None)
        if callable(mover):
            mover(seconds)
        self.context.step(seconds)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.context.closing.set()
        if self.ticker is not None:
            self.ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.ticker
        if self.context.hub is not None:
            await self.context.hub.close()
        await self.runner.cleanup()


def build_app(ctx: SimContext) -> web.Application:
    app = web.Application(middlewares=[fault_middleware, error_middleware])
    app[SIM_CONTEXT] = ctx
    hub = ws.WebSocketHub(ctx)
    ctx.hub = hub
    server.add_routes(app)
    market_data.add_routes(app)
    catalog.add_routes(app)
    history.add_routes(app, ctx)
    admin.add_routes(app)
    relayer.add_routes(app, ctx, chain.add_routes(app, ctx))
    ws.add_routes(app, hub)
    return app


async def serve(
    host: str = "127.0.0.1",
    port: int = 0,
    scenario: str | Path | Mapping[str, Any] | Scenario = DEFAULT_SCENARIO,
    seed: int | None = None,
    clock: Clock | None = None,
    *,
    background: bool = True,
    **overrides: Any,
) -> SimServer:
    """Start the simulator; `overrides` replace scenario settings (e.g. heartbeat_timeout_s)."""
    clock = clock or SystemClock()
    loaded = (
        scenario
        if isinstance(scenario, Scenario)
        else load_scenario(scenario, now=clock.now(), seed=seed)
    )
    if seed is not None:
        overrides.setdefault("seed", seed)
    loaded = replace(loaded, **overrides) if overrides else loaded
    exchange = SimExchange(loaded, clock)
    ctx = SimContext(
        scenario=loaded,
        clock=clock,
        exchange=exchange,
        liquidity=LiquidityEngine(exchange, loaded.seed),
        heartbeats=HeartbeatRegistry(loaded.heartbeat_timeout_s),
    )
    for spec in loaded.faults:
        ctx.faults.add(spec, now=ctx.now())
    ctx.liquidity.start()
    runner = web.AppRunner(build_app(ctx), access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0]
    sim = SimServer(url=f"http://{host}:{bound[1]}", context=ctx, runner=runner)
    if background:
        sim.ticker = asyncio.create_task(_tick_forever(ctx), name="sim-ticker")
    return sim


async def _tick_forever(ctx: SimContext) -> None:
    interval = ctx.scenario.tick_interval_s
    last = ctx.clock.monotonic()
    while True:
        await ctx.clock.sleep(interval)
        now = ctx.clock.monotonic()
        try:
            ctx.step(now - last)
        except Exception:  # a bug in one step must not stop the market
            log.exception("simulation step failed")
        last = now


def run(
    host: str = "127.0.0.1",
    port: int = 8900,
    scenario_path: str | Path | None = None,
    seed: int | None = None,
) -> None:
    """Serve until interrupted (the `trader sim` command); no scenario: the demo one."""

    async def main() -> None:
        sim = await serve(host, port, scenario_path or DEFAULT_SCENARIO, seed)
        print(f"Polymarket CLOB simulator on {sim.url}")
        for name, value in sim.sdk_urls.items():
            print(f"  {name:14} {value}")
        print(f"  {'admin':14} {sim.url}{ADMIN_PREFIX}/state")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, stop.set)
        try:
            await stop.wait()
        finally:
            await sim.close()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())


# --- middlewares -------------------------------------------------------------------------


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as error:
        return web.json_response(error.body(), status=error.status)
    except AuthError as error:
        return web.json_response({"error": str(error)}, status=error.status)
    except OrderRejected as error:
        return web.json_response({"error": error.message, "code": error.code}, status=400)
    except web.HTTPException:
        raise
    except Exception:
        log.exception("simulator handler failed: %s %s", request.method, request.path)
        return web.json_response({"error": "Internal server error"}, status=500)


GATEWAY_PAGE = (
    "<html><head><title>503 Service Temporarily Unavailable</title></head>"
    "<body><center><h1>503 Service Temporarily Unavailable</h1></center></body></html>"
)


@web.middleware
async def fault_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    path = request.rel_url.raw_path
    if path.startswith(ADMIN_PREFIX):
        return await handler(request)
    ctx = request.app[SIM_CONTEXT]
    faults, method = ctx.faults, request.method
    latency = faults.take("latency", method, path)
    if latency is not None:
        await ctx.hold(float(latency.params.get("ms", 100)) / 1000)
    rule = faults.take_any(RESPONSE_FAULTS, method, path)
    if rule is not None:
        return await _fault_response(ctx, rule)
    response = await handler(request)
    if response.status >= 400:  # refused: nothing was processed for an "after accept" fault
        return response
    late = faults.take("hang_after_accept", method, path)
    if late is not None:
        faults.touched(late, _order_ids(response))
        await ctx.hold(float(late.params.get("seconds", 30)))
    lost = faults.take("error_after_accept", method, path)
    if lost is not None:  # the work is done; the answer that reports it is replaced
        faults.touched(lost, _order_ids(response))
        return web.Response(
            text=str(lost.params.get("body", GATEWAY_PAGE)),
            status=int(lost.params.get("status", 503)),
            content_type="text/html",
        )
    return response


def _order_ids(response: web.StreamResponse) -> list[str]:
    """The order ids in a served `POST /order(s)` answer (none for anything else)."""
    body = response.body if isinstance(response, web.Response) else None
    if not isinstance(body, bytes):
        return []
    try:
        answer = json.loads(body)
    except ValueError:
        return []
    items = answer if isinstance(answer, list) else [answer]
    return [str(i["orderID"]) for i in items if isinstance(i, dict) and i.get("orderID")]


async def _fault_response(ctx: SimContext, rule: FaultRule) -> web.Response:
    params = rule.params
    retry_after = params.get("retry_after")
    headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
    if rule.kind == "rate_limit":
        headers.setdefault("Retry-After", "1")
        return web.json_response({"error": "Too Many Requests"}, status=429, headers=headers)
    if rule.kind == "maintenance":
        body = {"error": "The matching engine is restarting; try again shortly"}
        return web.json_response(body, status=425, headers=headers)
    if rule.kind == "server_error":
        status = int(params.get("status", 500))
        return web.json_response({"error": "Internal server error"}, status=status)
    if rule.kind == "hang":
        await ctx.hold(float(params.get("seconds", 30)))
        return web.json_response({"error": "Gateway Timeout"}, status=504)
    body = params.get("body", {"error": f"injected status {params.get('status', 500)}"})
    return web.json_response(body, status=int(params.get("status", 500)), headers=headers)


__all__ = ["DEFAULT_SCENARIO", "SimServer", "build_app", "run", "serve"]

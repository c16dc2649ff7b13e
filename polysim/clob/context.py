"""What every request handler of the simulator shares, and the JSON error plumbing."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from polysim.clob.auth import ApiKey, ApiKeyStore, HeartbeatRegistry, check_l2
from polysim.clob.exchange import SimExchange
from polysim.clob.faults import FaultInjector
from polysim.clob.liquidity import LiquidityEngine
from polysim.clob.scenario import Scenario
from trader.clock import Clock

if TYPE_CHECKING:
    from polysim.clob.ws import WebSocketHub

FIRST_CURSOR = "MA=="  # base64("0")
END_CURSOR = "LTE="  # base64("-1")


class ApiError(Exception):
    """Answered as `{"error": message, "code": code, ...extra}` with this HTTP status."""

    def __init__(self, status: int, message: str, *, code: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.extra = extra

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.message}
        if self.code is not None:
            body["code"] = self.code
        body.update(self.extra)
        return body


@dataclass(slots=True)
class SimContext:
    scenario: Scenario
    clock: Clock
    exchange: SimExchange
    liquidity: LiquidityEngine
    keys: ApiKeyStore = field(default_factory=ApiKeyStore)
    heartbeats: HeartbeatRegistry = field(default_factory=lambda: HeartbeatRegistry(10.0))
    faults: FaultInjector = field(default_factory=FaultInjector)
    closing: asyncio.Event = field(default_factory=asyncio.Event)
    funders: dict[str, str] = field(default_factory=dict)  # signer -> last maker wallet seen
    hub: WebSocketHub | None = None  # set once the app is built
    after_step: list[Callable[[], None]] = field(default_factory=list)  # e.g. the relayer

    def now(self) -> float:
        return self.clock.now().timestamp()

    def owners_of(self, address: str) -> set[str]:
        """Every API key of an account: its orders and trades are the account's."""
        return {k.key for k in self.keys.keys_for(address)}

    def funder(self, address: str) -> str:
        return self.funders.get(address.lower(), address)

    def prefixed(self) -> bool:
        return self.faults.active("prefixed_statuses", now=self.now()) is not None

    async def authenticate(self, request: web.Request) -> tuple[ApiKey, str]:
        body = await request.text()
        key = check_l2(
            self.keys,
            method=request.method,
            path=request.rel_url.raw_path,
            body=body,
            headers=request.headers,
            now=self.now(),
            max_skew_s=self.scenario.auth_max_skew_s,
        )
        return key, body

    def step(self, dt: float) -> None:
        """Simulated time moved by `dt` seconds: walk prices, trade, expire, settle, cancel
        the orders of API keys whose heartbeat lapsed."""
        with self.exchange.operation():
            if dt > 0:
                self.liquidity.step(dt)
            self.exchange.run_due()
            for key in self.heartbeats.expired(self.clock.monotonic()):
                self.exchange.cancel_where({key})
            for hook in self.after_step:
                hook()

    async def hold(self, seconds: float) -> None:
        """Wait, but stop waiting when the server closes."""
        try:
            await asyncio.wait_for(self.closing.wait(), timeout=seconds)
        except TimeoutError:
            return


SIM_CONTEXT = web.AppKey("sim_context", SimContext)


def context(request: web.Request) -> SimContext:
    return request.app[SIM_CONTEXT]


def page(items: Sequence[Any], cursor: str | None, size: int) -> tuple[list[Any], str]:
    """A page of `items` after `cursor` (base64 of an offset), and the next cursor."""
    if cursor in (None, "", FIRST_CURSOR):
        offset = 0
    elif cursor == END_CURSOR:
        return [], END_CURSOR
    else:
        try:
            offset = int(base64.b64decode(cursor or "").decode())
        except ValueError as error:
            raise ApiError(400, "invalid next_cursor") from error
    chunk = list(items[offset : offset + size])
    after = offset + size
    following = base64.b64encode(str(after).encode()).decode() if after < len(items) else END_CURSOR
    return chunk, following


def query_param(request: web.Request, name: str) -> str | None:
    value = request.query.get(name)
    return value if value else None


__all__ = [
    "END_CURSOR",
    "FIRST_CURSOR",
    "SIM_CONTEXT",
    "ApiError",
    "SimContext",
    "context",
    "page",
    "query_param",
]

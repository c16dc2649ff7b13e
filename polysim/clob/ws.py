"""The market and user WebSocket channels (`/ws/market`, `/ws/user`).

Market: the first frame `{"type": "market", "assets_ids": [...], "custom_feature_enabled"?}`,
later `{"operation": "subscribe" | "unsubscribe", "assets_ids": [...]}`. Newly subscribed assets
get a `book` snapshot (a JSON array of book messages in one frame); then `price_change`
(new aggregate size per changed level, with best bid/ask), `last_trade_price`,
`tick_size_change`, and with the custom feature `best_bid_ask` and `market_resolved`.

User: the first frame `{"type": "user", "auth": {apiKey, secret, passphrase}, "markets"?}`
(absent or empty markets: all); bad credentials close the socket (1008). Then `order`
messages (PLACEMENT, UPDATE, CANCELLATION) and `trade` messages (MATCHED, MINED, CONFIRMED)
for every API key of the authenticated account, one JSON object per frame.

Both answer the text `PING` with `PONG`. Faults: `drop_ws` closes sockets (1001), and
`duplicate_user_events` / `reorder_user_events` disturb the user channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from polysim.clob.auth import check_ws_auth
from polysim.clob.context import SimContext
from polysim.clob.model import (
    BookChanged,
    MarketResolved,
    OrderChanged,
    SimEvent,
    TickSizeChanged,
    TradeChanged,
    TradePrinted,
)
from polysim.clob.wire import (
    best_bid_ask_json,
    book_event_json,
    last_trade_json,
    market_resolved_json,
    order_event_json,
    price_change_json,
    tick_size_json,
    trade_event_json,
)

CLOSE_TIMEOUT_S = 1.0  # how long a close waits for the peer's answer (shutdown, drops)
MARKET_PATH = "/ws/market"
USER_PATH = "/ws/user"


@dataclass(eq=False)
class Connection:
    ws: web.WebSocketResponse
    channel: str  # "market" or "user"
    queue: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)
    assets: set[str] = field(default_factory=set)
    custom: bool = False
    address: str | None = None
    markets: set[str] | None = None  # user channel: None means every market
    held: str | None = None  # a user message held back by the reorder fault

    def put(self, payload: Any) -> None:
        self.queue.put_nowait(payload if isinstance(payload, str) else json.dumps(payload))


class WebSocketHub:
    def __init__(self, ctx: SimContext) -> None:
        self.ctx = ctx
        self._connections: set[Connection] = set()
        ctx.exchange.listeners.append(self.on_events)

    def count(self, channel: str | None = None) -> int:
        return sum(1 for c in self._connections if channel in (None, c.channel))

    def authenticated_users(self) -> int:
        return sum(1 for c in self._connections if c.channel == "user" and c.address)

    async def market(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, "market", self._market_frame)

    async def user(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, "user", self._user_frame)

    async def drop(self, channel: str = "all") -> int:
        victims = [c for c in self._connections if channel in ("all", c.channel)]
        for conn in victims:
            await conn.ws.close(code=WSCloseCode.GOING_AWAY, message=b"dropped by the simulator")
        return len(victims)

    async def close(self) -> None:
        await self.drop("all")

    # --- serving ---------------------------------------------------------------------------

    async def _serve(
        self,
        request: web.Request,
        channel: str,
        on_frame: Callable[[Connection, dict[str, Any]], Awaitable[None]],
    ) -> web.StreamResponse:
        ws = web.WebSocketResponse(timeout=CLOSE_TIMEOUT_S)
        await ws.prepare(request)
        conn = Connection(ws, channel)
        self._connections.add(conn)
        sender = asyncio.create_task(self._send_loop(conn))
        try:
            async for message in ws:
                if message.type is not WSMsgType.TEXT:
                    continue
                if message.data == "PING":
                    conn.put("PONG")
                    continue
                with contextlib.suppress(json.JSONDecodeError):
                    frame = json.loads(message.data)
                    if isinstance(frame, dict):
                        await on_frame(conn, frame)
        finally:
            self._connections.discard(conn)
            conn.queue.put_nowait(None)
            await sender
        return ws

    @staticmethod
    async def _send_loop(conn: Connection) -> None:
        while (text := await conn.queue.get()) is not None:
            try:
                await conn.ws.send_str(text)
            except (ConnectionResetError, RuntimeError):
                return

    async def _market_frame(self, conn: Connection, frame: dict[str, Any]) -> None:
        assets = [str(a) for a in frame.get("assets_ids") or frame.get("asset_ids") or []]
        if "custom_feature_enabled" in frame:
            conn.custom = bool(frame["custom_feature_enabled"])
        if frame.get("operation") == "unsubscribe":
            conn.assets.difference_update(assets)
            return
        exchange, now = self.ctx.exchange, self.ctx.clock.now()
        fresh = [a for a in dict.fromkeys(assets) if a not in conn.assets]
        conn.assets.update(assets)
        books = []
        for asset in fresh:
            market = exchange.market_for_token(asset)
            if market is not None:
                books.append(book_event_json(market, asset, now))
        if books:
            conn.put(books)

    async def _user_frame(self, conn: Connection, frame: dict[str, Any]) -> None:
        markets = {str(m).lower() for m in frame.get("markets") or []}
        if conn.address is None:
            key = check_ws_auth(self.ctx.keys, frame.get("auth"))
            if key is None:
                await conn.ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"INVALID AUTH")
                return
            conn.address = key.address
            conn.markets = markets or None
            return
        if conn.markets is None:
            return
        if frame.get("operation") == "unsubscribe":
            conn.markets.difference_update(markets)
        else:
            conn.markets.update(markets)

    # --- publishing ------------------------------------------------------------------------

    def on_events(self, events: Sequence[SimEvent]) -> None:
        for conn in list(self._connections):
            if conn.channel == "market":
                self._publish_market(conn, events)
            elif conn.address is not None:
                self._publish_user(conn, events)

    def _publish_market(self, conn: Connection, events: Sequence[SimEvent]) -> None:
        exchange = self.ctx.exchange
        for event in events:
            if isinstance(event, BookChanged):
                self._publish_book_change(conn, event)
            elif isinstance(event, TradePrinted) and event.token_id in conn.assets:
                conn.put(last_trade_json(event))
            elif isinstance(event, TickSizeChanged) and event.token_id in conn.assets:
                conn.put(tick_size_json(event))
            elif isinstance(event, MarketResolved) and conn.custom:
                market = exchange.markets[event.market]
                if conn.assets & set(market.spec.token_ids):
                    conn.put(market_resolved_json(market, event))

    def _publish_book_change(self, conn: Connection, event: BookChanged) -> None:
        body = price_change_json(event, conn.assets)
        if body is None:
            return
        conn.put(body)
        if conn.custom:
            market = self.ctx.exchange.markets[event.market]
            for token in {c.token_id for c in event.changes} & conn.assets:
                conn.put(best_bid_ask_json(market, token, event.at))

    def _publish_user(self, conn: Connection, events: Sequence[SimEvent]) -> None:
        owners = self.ctx.owners_of(conn.address or "")
        for event in events:
            if isinstance(event, OrderChanged):
                if event.order.owner in owners and self._wants(conn, event.order.market):
                    self._put_user(conn, json.dumps(order_event_json(event)))
            elif (
                isinstance(event, TradeChanged)
                and event.owner in owners
                and self._wants(conn, event.trade.market)
            ):
                self._put_user(conn, json.dumps(trade_event_json(event)))

    @staticmethod
    def _wants(conn: Connection, market: str) -> bool:
        return conn.markets is None or market in conn.markets

    def _put_user(self, conn: Connection, text: str) -> None:
        faults = self.ctx.faults
        duplicate = faults.take("duplicate_user_events", "WS", USER_PATH) is not None
        if conn.held is not None:
            held, conn.held = conn.held, None
            conn.put(text)
            conn.put(held)
        elif faults.take("reorder_user_events", "WS", USER_PATH) is not None:
            conn.held = text
            return
        else:
            conn.put(text)
        if duplicate:
            conn.put(text)


def add_routes(app: web.Application, hub: WebSocketHub) -> None:
    app.router.add_get(MARKET_PATH, hub.market)
    app.router.add_get(USER_PATH, hub.user)


__all__ = ["MARKET_PATH", "USER_PATH", "Connection", "WebSocketHub", "add_routes"]

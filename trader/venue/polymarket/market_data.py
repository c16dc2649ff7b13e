"""Polymarket's public market data: Gamma markets and resolutions, CLOB books, the market
WebSocket and its liveness.

Needs no key. `PaperVenue` runs on it (paper trading on real Polymarket data, or on the
simulator through the same code), and `PolymarketVenue` builds its live trading on top of it.
REST reads go through the official SDK's `AsyncPublicClient` and are retried after the delay the
venue advertises, a bounded number of times (`trader.venue.polymarket.errors.retry_read`).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TypeVar

from polymarket import PRODUCTION, AsyncPublicClient, AsyncSecureClient, Environment

from trader.clock import Clock
from trader.domain import Book, Market, Payouts
from trader.fees import schedule_from_bps
from trader.venue.polymarket.books import MarketBooks
from trader.venue.polymarket.convert import book_from_sdk, market_from_gamma
from trader.venue.polymarket.errors import retry_read
from trader.venue.polymarket.resolution import payouts_from_gamma
from trader.venue.polymarket.sdk_env import (
    PRODUCTION_RELAYER_URL,
    PRODUCTION_RPC_URL,
    build_environment,
)

GAMMA_PAGE = 100
RESOLUTION_BATCH = 50  # condition ids per Gamma request (they travel in the query string)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PolymarketEndpoints:
    """Where the venue lives. Production by default; the simulator or a proxy for tests."""

    clob_url: str = "https://clob.polymarket.com"
    gamma_url: str = "https://gamma-api.polymarket.com"
    data_url: str = "https://data-api.polymarket.com"
    market_ws_url: str = "wss://ws-subscriptions-clob.polymarket.com/ws/market"
    user_ws_url: str = "wss://ws-subscriptions-clob.polymarket.com/ws/user"
    relayer_url: str | None = None  # None: production's, or the CLOB host when that changed
    rpc_url: str | None = None  # the Polygon JSON-RPC, likewise

    @property
    def is_production(self) -> bool:
        return self == PolymarketEndpoints()

    def environment(self) -> Environment:
        """The SDK environment for these URLs (production's own object when unchanged)."""
        if self.is_production:
            return PRODUCTION
        production = PolymarketEndpoints()
        changed = dataclasses.replace(self, relayer_url=None, rpc_url=None) != production
        return build_environment(
            clob_url=self.clob_url,
            gamma_url=self.gamma_url,
            data_url=self.data_url,
            market_ws_url=self.market_ws_url,
            user_ws_url=self.user_ws_url,
            relayer_url=self.relayer_url or (None if changed else PRODUCTION_RELAYER_URL),
            rpc_url=self.rpc_url or (None if changed else PRODUCTION_RPC_URL),
        )


class PolymarketMarketData:
    """The `MarketDataSource` of paper trading: markets, books, book updates and ages, market
    resolutions and the feed's liveness."""

    def __init__(
        self,
        *,
        clock: Clock,
        endpoints: PolymarketEndpoints | None = None,
        read_attempts: int = 3,
        read_backoff: float = 0.5,
        reconnect_base: float = 0.5,
        snapshot_grace: float = 2.0,
        fee_override_bps: Decimal | None = None,
    ) -> None:
        self.endpoints = endpoints or PolymarketEndpoints()
        self._clock = clock
        # FEE_RATE_OVERRIDE_BPS: replaces each market's schedule, so every consumer of these
        # markets (sizing, risk, paper fills) applies the same stated assumption
        self._fee_override = (
            None if fee_override_bps is None else schedule_from_bps(fee_override_bps)
        )
        self._read_attempts = read_attempts
        self._read_backoff = read_backoff
        self._client: AsyncPublicClient | AsyncSecureClient | None = None
        self._owns_client = True
        self.neg_risk: dict[str, bool] = {}  # per token, from REST books: picks the exchange
        self.books = MarketBooks(
            self.endpoints.market_ws_url,
            clock=clock,
            snapshot=self.fetch_book,
            snapshot_grace=snapshot_grace,
            reconnect_base=reconnect_base,
        )

    async def start(self, client: AsyncSecureClient | None = None) -> None:
        """Start streaming. `client`: an authenticated client to share (its public reads are
        the same), instead of opening a public one; its owner closes it."""
        if self._client is None:
            self._owns_client = client is None
            self._client = client or AsyncPublicClient(environment=self.endpoints.environment())
            self.books.start()

    async def close(self) -> None:
        await self.books.close()
        client, self._client = self._client, None
        if client is not None and self._owns_client:
            await client.close()

    @property
    def client(self) -> AsyncPublicClient | AsyncSecureClient:
        if self._client is None:
            raise RuntimeError("PolymarketMarketData.start() has not been awaited")
        return self._client

    async def list_markets(self, *, limit: int = 500) -> Sequence[Market]:
        """Open binary markets with an order book, as Gamma lists them."""

        async def read() -> list[Market]:
            markets: list[Market] = []
            pages = self.client.list_markets(closed=False, page_size=min(limit, GAMMA_PAGE))
            async for item in pages.iter_items():
                market = market_from_gamma(item)
                if market is not None and self._fee_override is not None:
                    market = dataclasses.replace(market, fees=self._fee_override)
                if market is not None:
                    markets.append(market)
                if len(markets) >= limit:
                    break
            return markets

        return await self._retry(read, "list markets")

    async def resolved_markets(self, condition_ids: Sequence[str]) -> dict[str, Payouts]:
        """Which of these markets have resolved: condition id -> payout per share by token
        (Gamma's closed markets, 1/0 or 0.5/0.5; see `payouts_from_gamma`). Open markets, and
        markets Gamma does not know, are simply absent."""
        wanted = {c.lower(): c for c in condition_ids if c}
        ids = sorted(wanted)
        resolved: dict[str, Payouts] = {}
        for start in range(0, len(ids), RESOLUTION_BATCH):
            batch = ids[start : start + RESOLUTION_BATCH]
            found = await self._retry(functools.partial(self._payouts, batch), "resolutions")
            resolved.update({wanted[c]: p for c, p in found.items() if c in wanted})
        return resolved

    async def _payouts(self, condition_ids: list[str]) -> dict[str, Payouts]:
        """Lower-cased condition id -> payouts, for the resolved markets among `condition_ids`."""
        found: dict[str, Payouts] = {}
        pages = self.client.list_markets(
            condition_ids=condition_ids, closed=True, page_size=min(len(condition_ids), GAMMA_PAGE)
        )
        async for item in pages.iter_items():
            payouts = payouts_from_gamma(item)
            if payouts is not None and item.condition_id:
                found[item.condition_id.lower()] = payouts
        return found

    async def get_book(self, token_id: str) -> Book:
        """The streamed book when it is current, else a REST snapshot (and start streaming)."""
        streamed = self.books.book(token_id)
        if streamed is not None:
            return streamed
        book = await self.fetch_book(token_id)
        self.books.remember_tick(token_id, book.tick_size, book.min_order_size)
        self.books.track([token_id])
        return book

    async def fetch_book(self, token_id: str) -> Book:
        """A REST `/book` snapshot, retried on throttling and 5xx."""

        async def read() -> Book:
            raw = await self.client.get_order_book(token_id=token_id)
            self.neg_risk[token_id] = raw.neg_risk
            return book_from_sdk(raw, received_at=self._clock.now())

        return await self._retry(read, f"book {token_id[:12]}")

    async def _retry(self, read: Callable[[], Awaitable[T]], what: str) -> T:
        return await retry_read(
            read,
            clock=self._clock,
            what=what,
            attempts=self._read_attempts,
            base_delay=self._read_backoff,
        )

    def book_updates(self, token_ids: Sequence[str]) -> AsyncIterator[Book]:
        return self.books.subscribe(token_ids)

    def book_age(self, token_id: str) -> float | None:
        return self.books.book_age(token_id)

    def feed_age(self) -> float | None:
        """Seconds since the market socket last delivered anything (PONG included), infinite
        while it is disconnected, None before `start()` and after `close()`."""
        return None if self._client is None else self.books.feed_age()

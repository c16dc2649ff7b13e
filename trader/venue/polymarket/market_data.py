"""Polymarket's public market data: Gamma markets and resolutions, CLOB books, the market
WebSocket and its liveness.

Needs no key. `PaperVenue` runs on it (paper trading on real Polymarket data, or on the
simulator through the same code), and `PolymarketVenue` builds its live trading on top of it.
REST reads are plain httpx (`trader.venue.polymarket.public`: the SDK's requests without
importing the SDK, so paper mode never loads it), parsed by the pure functions the recorded
payloads test, and retried after the delay the venue advertises, a bounded number of times
(`trader.venue.retry.retry_read`).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, TypeVar

import httpx

from trader.clock import Clock
from trader.domain import Book, Market, Payouts
from trader.fees import schedule_from_bps
from trader.venue.base import VenueError
from trader.venue.parsing.rest import parse_book, parse_gamma_market
from trader.venue.parsing.values import ParseError, Payload, json_list
from trader.venue.polymarket.books import MarketBooks
from trader.venue.polymarket.public import PublicReads
from trader.venue.polymarket.resolution import payouts_from_gamma_json
from trader.venue.retry import retry_read

if TYPE_CHECKING:  # the SDK is imported where live trading needs it, never by paper trading
    from polymarket import Environment

log = logging.getLogger(__name__)

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
        from polymarket import PRODUCTION  # the SDK: live trading and the backtest only

        from trader.venue.polymarket.sdk_env import (
            PRODUCTION_RELAYER_URL,
            PRODUCTION_RPC_URL,
            build_environment,
        )

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
    resolutions and the feed's liveness. `http`: an httpx client to share for the REST reads
    (its owner closes it); without one, the source opens its own."""

    def __init__(
        self,
        *,
        clock: Clock,
        endpoints: PolymarketEndpoints | None = None,
        http: httpx.AsyncClient | None = None,
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
        self._http = http
        self._reads: PublicReads | None = None
        self.neg_risk: dict[str, bool] = {}  # per token, from REST books: picks the exchange
        self.books = MarketBooks(
            self.endpoints.market_ws_url,
            clock=clock,
            snapshot=self.fetch_book,
            snapshot_grace=snapshot_grace,
            reconnect_base=reconnect_base,
        )

    async def start(self) -> None:
        """Open the REST reads and start streaming."""
        if self._reads is None:
            self._reads = PublicReads(
                clob_url=self.endpoints.clob_url,
                gamma_url=self.endpoints.gamma_url,
                clock=self._clock,
                http=self._http,
            )
            self.books.start()

    async def close(self) -> None:
        await self.books.close()
        reads, self._reads = self._reads, None
        if reads is not None:
            await reads.close()

    @property
    def reads(self) -> PublicReads:
        if self._reads is None:
            raise RuntimeError("PolymarketMarketData.start() has not been awaited")
        return self._reads

    async def list_markets(self, *, limit: int = 500) -> Sequence[Market]:
        """Open binary markets with an order book, as Gamma lists them."""

        async def read() -> list[Market]:
            markets: list[Market] = []
            pages = self.reads.gamma_markets({"closed": False}, page_size=min(limit, GAMMA_PAGE))
            async for item in pages:
                market = tradable_market(item)
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
        (Gamma's closed markets, 1/0 or 0.5/0.5; see `payout_vector`). Open markets, and
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
        pages = self.reads.gamma_markets(
            {"condition_ids": condition_ids, "closed": True},
            page_size=min(len(condition_ids), GAMMA_PAGE),
        )
        async for item in pages:
            condition = str(item.get("conditionId") or "")
            payouts = _payouts_or_none(item)
            if payouts is not None and condition:
                found[condition.lower()] = payouts
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
            raw = await self.reads.book(token_id)
            try:
                book = parse_book(raw, received_at=self._clock.now())
            except ParseError as error:
                raise VenueError(f"unreadable book {token_id[:12]}: {error}") from error
            self.neg_risk[token_id] = bool(raw.get("neg_risk"))
            return book

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
        return None if self._reads is None else self.books.feed_age()


def tradable_market(payload: Payload) -> Market | None:
    """A Gamma `/markets` item as a tradable binary market, or None when it is not one (not
    two outcomes, no condition id, no token ids): the markets the SDK's `list_markets` and
    `market_from_gamma` keep. An item that cannot be read is logged and skipped, so one bad
    market does not hide the others."""
    try:
        outcomes = json_list(payload.get("outcomes"), "outcomes")
        tokens = [t for t in json_list(payload.get("clobTokenIds"), "clobTokenIds") if t]
        if len(outcomes) != 2 or len(tokens) != 2 or not payload.get("conditionId"):
            return None
        return parse_gamma_market(payload)
    except ParseError as error:
        log.warning("skipping Gamma market %s: %s", payload.get("id", "?"), error)
        return None


def _payouts_or_none(payload: Payload) -> Payouts | None:
    try:
        return payouts_from_gamma_json(payload)
    except ParseError as error:
        log.warning("unreadable resolution of Gamma market %s: %s", payload.get("id", "?"), error)
        return None

"""The venue's past, through the official SDK: Gamma markets (resolved and active) with their
resolutions and payouts, and each token's price history.

`PolymarketHistory` is what `trader.backtest.fetch` reads through its `HistoryPort`:

- `markets(closed=...)`: Gamma's markets (`AsyncPublicClient.list_markets`, paged), each as a
  `PastMarket`: the domain `Market`, when it opened (Gamma's `startDate`), when it closed
  (`closedTime`) and, once resolved, its payouts (`payouts_from_gamma`: `outcomePrices` 1/0 or
  0.5/0.5 with `umaResolutionStatus` resolved).
- `prices(token, start, end)`: `list_price_history` in windows of at most 15 days (the SDK
  refuses longer ones), each paged by the SDK, end exclusive, oldest first.

Reads are retried as the market data's are (`retry_read`). Nothing here knows about backtests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from polymarket import AsyncPublicClient

from trader.clock import Clock
from trader.domain import Market, Payouts
from trader.venue.polymarket.convert import market_from_gamma
from trader.venue.polymarket.errors import retry_read
from trader.venue.polymarket.market_data import GAMMA_PAGE, PolymarketEndpoints
from trader.venue.polymarket.resolution import payouts_from_gamma

WINDOW = timedelta(days=15)  # the SDK's (and the venue's) longest price-history window


@dataclass(frozen=True, slots=True)
class PastMarket:
    market: Market
    opened_at: datetime | None
    closed_at: datetime | None
    payouts: Payouts | None


class PolymarketHistory:
    def __init__(
        self,
        *,
        clock: Clock,
        endpoints: PolymarketEndpoints | None = None,
        read_attempts: int = 3,
        read_backoff: float = 0.5,
    ) -> None:
        self.endpoints = endpoints or PolymarketEndpoints()
        self._clock = clock
        self._attempts = read_attempts
        self._backoff = read_backoff
        self._client: AsyncPublicClient | None = None

    async def __aenter__(self) -> PolymarketHistory:
        self._client = AsyncPublicClient(environment=self.endpoints.environment())
        return self

    async def __aexit__(self, *_: object) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    @property
    def client(self) -> AsyncPublicClient:
        if self._client is None:
            raise RuntimeError("use PolymarketHistory as an async context manager")
        return self._client

    async def markets(self, *, closed: bool, limit: int = 1000) -> Sequence[PastMarket]:
        async def read() -> list[PastMarket]:
            found: list[PastMarket] = []
            pages = self.client.list_markets(closed=closed, page_size=min(limit, GAMMA_PAGE))
            async for item in pages.iter_items():
                market = market_from_gamma(item)
                if market is None:
                    continue
                state = item.state
                found.append(
                    PastMarket(
                        market, state.start_date, state.closed_time, payouts_from_gamma(item)
                    )
                )
                if len(found) >= limit:
                    break
            return found

        return await retry_read(
            read,
            clock=self._clock,
            what=f"gamma {'closed' if closed else 'active'} markets",
            attempts=self._attempts,
            base_delay=self._backoff,
        )

    async def prices(
        self, token_id: str, start: datetime, end: datetime, *, bucket_seconds: int | None = None
    ) -> list[tuple[datetime, Decimal]]:
        """(time, price) with start <= time < end, oldest first, in windows of 15 days."""
        points: list[tuple[datetime, Decimal]] = []
        low = start
        while low < end:
            high = min(low + WINDOW, end)
            points.extend(await self._window(token_id, low, high, bucket_seconds))
            low = high
        return points

    async def _window(
        self, token_id: str, start: datetime, end: datetime, bucket_seconds: int | None
    ) -> list[tuple[datetime, Decimal]]:
        async def read() -> list[tuple[datetime, Decimal]]:
            pages = self.client.list_price_history(
                asset_id=token_id, start=start, end=end, bucket_seconds=bucket_seconds
            )
            return [(point.timestamp, point.price) async for point in pages.iter_items()]

        return await retry_read(
            read,
            clock=self._clock,
            what=f"price history {token_id[:12]}",
            attempts=self._attempts,
            base_delay=self._backoff,
        )


__all__ = ["WINDOW", "PastMarket", "PolymarketHistory"]

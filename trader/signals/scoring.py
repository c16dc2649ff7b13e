"""Forecasts resolve: when a market resolves, its stored forecasts are scored.

`ForecastScoring` subscribes (at construction, so nothing published after start is missed) to
the bus's resolution facts, which the execution core publishes as it settles a market, and
resolves that market's stored forecasts by the payout vector: each forecast of the YES outcome
against what a YES share paid (1, 0, or 0.5 for a 50/50), with the Brier score of the model's
view (the traded one: the ensemble after shrinkage toward the market) and of the market price.
The daily report's calibration chart and Brier lines read those rows.

`check(source, held)` asks a resolution source about the markets that have unresolved forecasts
but no position (those the execution core never settles, as it holds nothing there), so a
forecast that was not traded is scored too. It never imports the execution core: the
composition root hands it the source and the held markets.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

from trader.bus import Bus, Subscription
from trader.clock import Clock
from trader.domain import Payouts, Resolution

log = logging.getLogger(__name__)


class ForecastResolutions(Protocol):
    """Where stored forecasts are resolved (`SqlForecastStore`)."""

    async def resolve_payouts(
        self, market: str, payouts: Mapping[str, Decimal], *, at: datetime | None = None
    ) -> Sequence[Any]: ...

    async def unresolved_markets(self) -> list[str]: ...


@runtime_checkable
class PayoutSource(Protocol):
    async def resolved_markets(self, condition_ids: Sequence[str]) -> dict[str, Payouts]: ...


class ForecastScoring:
    def __init__(self, bus: Bus, store: ForecastResolutions, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        self._resolutions: Subscription[Resolution] = bus.resolutions.subscribe()

    async def run(self) -> None:
        """Score each market the bus says resolved; a failure costs that market's scores only
        for now (`check` finds it again), never the loop."""
        async for envelope in self._resolutions:
            resolution = envelope.payload
            try:
                await self.score(resolution.market, resolution.payouts, at=resolution.at)
            except Exception:
                log.exception("could not score the forecasts of %s", resolution.market)

    async def score(
        self, market: str, payouts: Mapping[str, Decimal], *, at: datetime | None = None
    ) -> int:
        """Resolve and score `market`'s stored forecasts; how many."""
        rows = await self._store.resolve_payouts(market, payouts, at=at or self._clock.now())
        if rows:
            log.info("scored %d forecast(s) of resolved market %s", len(rows), market)
        return len(rows)

    async def check(
        self, source: PayoutSource, held: Callable[[], Collection[str]] = frozenset
    ) -> int:
        """Ask `source` about markets with unresolved forecasts that nothing holds; score those
        that resolved. How many forecasts were scored."""
        holding = set(held())
        markets = [m for m in await self._store.unresolved_markets() if m not in holding]
        if not markets:
            return 0
        scored = 0
        for market, payouts in (await source.resolved_markets(markets)).items():
            scored += await self.score(market, payouts)
        return scored

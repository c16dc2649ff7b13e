"""Builders the composition root uses: the venue chosen once at start-up, the event log whose
typed events feed the Prometheus counters, and the venue heartbeat loop.

Paper and live differ only in the venue built here; nothing downstream branches on the mode.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from trader.clock import Clock
from trader.config import VenueConfig
from trader.domain import Actor, TradingMode
from trader.events import EventHandlers, RecordedEvent
from trader.ops.metrics import Metrics
from trader.store.eventlog import EventLog
from trader.venue.base import Venue, VenueError
from trader.venue.paper.journal import DatabaseFillJournal
from trader.venue.paper.venue import PaperVenue
from trader.venue.polymarket.market_data import PolymarketEndpoints, PolymarketMarketData

log = logging.getLogger(__name__)


def endpoints(config: VenueConfig) -> PolymarketEndpoints:
    return PolymarketEndpoints(
        clob_url=config.clob_host,
        gamma_url=config.gamma_host,
        data_url=config.data_api_host,
        market_ws_url=f"{config.clob_ws_url}/market",
        user_ws_url=f"{config.clob_ws_url}/user",
        relayer_url=config.relayer_host,
        rpc_url=config.polygon_rpc_url,
    )


def build_venue(
    config: VenueConfig,
    *,
    clock: Clock,
    sessions: async_sessionmaker[AsyncSession],
    http: httpx.AsyncClient | None = None,
) -> Venue:
    """Live: the official SDK with the operator's key. Paper: the same market data (Polymarket
    or the simulator), fills simulated conservatively, balances derived from recorded fills;
    its REST reads on `http` (the app's one client, closed by its owner after the venue), and
    the Polymarket SDK never imported."""
    if config.mode is TradingMode.LIVE:
        if config.private_key is None:  # Settings validation already refuses this
            raise ValueError("live mode needs POLYMARKET_PRIVATE_KEY")
        from trader.venue.polymarket.adapter import PolymarketVenue  # the signing stack: live only

        return PolymarketVenue(
            private_key=config.private_key.get_secret_value(),
            clock=clock,
            signature_type=config.signature_type,
            funder=config.funder,
            relayer_api_key=(
                config.relayer_api_key.get_secret_value() if config.relayer_api_key else None
            ),
            relayer_api_key_address=config.relayer_api_key_address,
            endpoints=endpoints(config),
            fee_override_bps=config.fee_rate_override_bps,
        )
    return _PaperOnMarketData(
        PolymarketMarketData(
            clock=clock,
            endpoints=endpoints(config),
            http=http,
            fee_override_bps=config.fee_rate_override_bps,
        ),
        bankroll=config.paper_bankroll,
        clock=clock,
        journal=DatabaseFillJournal(sessions, clock),
    )


class _PaperOnMarketData(PaperVenue):
    """The paper venue that owns its market-data connection: started and closed with it.
    (PaperVenue itself takes any source and leaves the source's lifecycle to its owner.)"""

    def __init__(
        self,
        source: PolymarketMarketData,
        *,
        bankroll: Decimal,
        clock: Clock,
        journal: DatabaseFillJournal,
    ) -> None:
        super().__init__(source, bankroll=bankroll, clock=clock, journal=journal)
        self._market_data = source

    async def start(self) -> None:
        await self._market_data.start()
        await super().start()

    async def close(self) -> None:
        await super().close()
        await self._market_data.close()


class MeteredEventLog:
    """The event log, with its typed events handed to their subscribers (the `/metrics`
    counters) as they are recorded.

    Everything the trader decides or does is recorded here, so this is the one place that sees
    every order, fill, denial, venue error and cycle without each engine holding a metrics
    object. `Metrics` subscribes by event class (`trader.events`); a plain `append` is only
    written down.
    """

    def __init__(self, events: EventLog, metrics: Metrics) -> None:
        self._events = events
        self.handlers = EventHandlers()
        metrics.subscribe(self.handlers)

    def append(
        self,
        type: str,
        payload: Mapping[str, Any] | None = None,
        *,
        correlation_id: str | None = None,
        actor: Actor | str | None = None,
    ) -> None:
        self._events.append(type, payload, correlation_id=correlation_id, actor=actor)

    def record(
        self,
        event: RecordedEvent,
        *,
        correlation_id: str | None = None,
        actor: Actor | str | None = None,
    ) -> None:
        """Write the event down, then hand it to its class's handlers (a handler's failure is
        logged there: it never loses the event or breaks the hot path)."""
        self._events.record(event, correlation_id=correlation_id, actor=actor)
        self.handlers.publish(event)

    async def recent(self, limit: int = 10) -> list[Any]:
        return list(await self._events.recent(limit))

    async def by_correlation(self, correlation_id: str) -> list[Any]:
        return list(await self._events.by_correlation(correlation_id))


async def venue_heartbeats(venue: Venue, clock: Clock, interval_s: float) -> None:
    """Keep the venue's dead-man switch alive: if this loop stops (the process died or the
    loop is blocked), the venue cancels our resting orders after about 10 s.

    A venue error (maintenance, a rate limit, a network blip) must not stop the beating: it
    is retried well inside the venue's window. Were it to crash the component, three in five
    minutes would trip the circuit breaker and halt trading over a short maintenance. Orders
    the venue cancels during a long outage are picked up by reconciliation.
    """
    failures = 0
    while True:
        try:
            await venue.heartbeat()
        except VenueError as error:
            failures += 1
            log.warning("venue heartbeat failed (%d in a row): %s", failures, error)
            await clock.sleep(min(interval_s, 1.0))
            continue
        if failures:
            log.info("venue heartbeat back after %d failure(s)", failures)
            failures = 0
        await clock.sleep(interval_s)

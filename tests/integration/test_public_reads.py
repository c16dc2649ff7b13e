"""Paper trading's public reads without the Polymarket SDK (issue 21), against the simulator:
the markets, books and resolutions read as the official SDK reads them (the SDK is the second
opinion here), the venue's throttling and outages typed and retried as the SDK's errors are,
and the app's one httpx client shared, not closed."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from dataclasses import replace
from decimal import Decimal

import httpx
import pytest
from polymarket import AsyncPublicClient

from polysim.clob.app import SimServer
from tests.support.execution_rig import sim_endpoints
from tests.support.sim import admin, condition_id, tokens
from trader.clock import FakeClock, SystemClock
from trader.venue.base import Maintenance, RateLimited, VenueError, VenueUnavailable
from trader.venue.polymarket.convert import book_from_sdk, market_from_gamma
from trader.venue.polymarket.market_data import PolymarketEndpoints, PolymarketMarketData
from trader.venue.polymarket.resolution import payouts_from_gamma

pytestmark = pytest.mark.usefixtures("plain_http_only")


@pytest.fixture
async def sdk(sim: SimServer) -> AsyncIterator[AsyncPublicClient]:
    client = AsyncPublicClient(environment=sim_endpoints(sim).environment())
    yield client
    await client.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def data(sim: SimServer, clock: FakeClock) -> AsyncIterator[PolymarketMarketData]:
    source = PolymarketMarketData(clock=clock, endpoints=sim_endpoints(sim), read_backoff=0.5)
    await source.start()
    yield source
    await source.close()


async def fault(sim: SimServer, **rule: object) -> None:
    await admin(sim, "POST", "faults", rule)


async def hits(sim: SimServer, kind: str) -> int:
    state = await admin(sim, "GET", "state")
    return sum(1 for hit in state["fault_hits"] if hit["kind"] == kind)


async def test_markets_are_read_as_the_sdk_reads_them(
    data: PolymarketMarketData, sdk: AsyncPublicClient
) -> None:
    expected = []
    async for item in sdk.list_markets(closed=False, page_size=2).iter_items():
        market = market_from_gamma(item)
        if market is not None:
            expected.append(market)

    markets = await data.list_markets(limit=1000)

    assert len(expected) >= 2
    assert list(markets) == expected


async def test_a_book_is_read_as_the_sdk_reads_it(
    sim: SimServer, data: PolymarketMarketData, sdk: AsyncPublicClient, clock: FakeClock
) -> None:
    yes, _ = tokens(sim)
    raw = await sdk.get_order_book(token_id=yes)

    book = await data.fetch_book(yes)

    # the simulator's clock moves between the two requests: the stamp and its hash differ
    expected = book_from_sdk(raw, received_at=clock.now())
    assert replace(book, timestamp=expected.timestamp, hash=expected.hash) == expected
    assert book.bids
    assert book.asks
    assert data.neg_risk[yes] is raw.neg_risk


async def test_resolutions_are_read_as_the_sdk_reads_them(
    sim: SimServer, data: PolymarketMarketData, sdk: AsyncPublicClient
) -> None:
    condition = condition_id(sim)
    await admin(sim, "POST", "resolve", {"condition_id": condition, "outcome": "YES"})
    closed = [
        m async for m in sdk.list_markets(condition_ids=[condition], closed=True).iter_items()
    ]

    resolved = await data.resolved_markets([condition.upper(), "0xunknown"])

    assert resolved == {condition.upper(): payouts_from_gamma(closed[0])}
    assert sorted(resolved[condition.upper()].values()) == [Decimal(0), Decimal(1)]


async def test_throttled_reads_wait_the_advertised_delay_then_succeed(
    sim: SimServer, data: PolymarketMarketData, clock: FakeClock
) -> None:
    yes, _ = tokens(sim)
    await fault(sim, kind="rate_limit", method="GET", path="/book", count=2, retry_after=3)

    book = await data.fetch_book(yes)

    assert book.token_id == yes
    assert await hits(sim, "rate_limit") == 2
    assert clock.sleeps.count(3) == 2  # (the market socket sleeps on the same clock)


async def test_a_restarting_venue_is_retried_a_bounded_number_of_times_then_typed(
    data: PolymarketMarketData, sim: SimServer, clock: FakeClock
) -> None:
    await fault(sim, kind="maintenance", path="/gamma/markets/keyset", retry_after=2)

    with pytest.raises(Maintenance) as restarting:
        await data.list_markets()

    assert restarting.value.retry_after == 2
    assert await hits(sim, "maintenance") == 3  # three tries in all
    assert clock.sleeps.count(2) == 2


async def test_a_server_error_is_unavailable_and_a_refusal_is_not_retried(
    sim: SimServer, data: PolymarketMarketData, clock: FakeClock
) -> None:
    yes, _ = tokens(sim)
    await fault(sim, kind="server_error", path="/book", status=502, count=3)
    with pytest.raises(VenueUnavailable, match="502"):
        await data.fetch_book(yes)
    assert await hits(sim, "server_error") == 3

    await fault(sim, kind="http_status", path="/book", status=404, body={"error": "no book"})
    with pytest.raises(VenueError, match="404: no book") as refused:
        await data.fetch_book(yes)

    assert not isinstance(refused.value, RateLimited | Maintenance | VenueUnavailable)
    assert await hits(sim, "http_status") == 1  # no retry of the refusal


async def test_an_unreachable_venue_is_unavailable(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as probe:  # a free port, closed again: nothing listens there
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    endpoints = PolymarketEndpoints(clob_url=url, gamma_url=f"{url}/gamma")
    source = PolymarketMarketData(clock=clock, endpoints=endpoints, read_attempts=2)
    await source.start()
    try:
        with pytest.raises(VenueUnavailable, match="unreachable"):
            await source.fetch_book("123")
    finally:
        await source.close()

    retries = [r for r in caplog.records if r.name == "trader.venue.retry"]
    assert len(retries) == 1  # two tries in all


async def test_a_shared_client_serves_the_reads_and_stays_open(sim: SimServer) -> None:
    yes, _ = tokens(sim)
    async with httpx.AsyncClient() as shared:
        source = PolymarketMarketData(
            clock=SystemClock(), endpoints=sim_endpoints(sim), http=shared
        )
        await source.start()
        book = await source.fetch_book(yes)
        await source.close()

        assert book.token_id == yes
        assert not shared.is_closed
        assert (await shared.get(f"{sim.url}/book", params={"token_id": yes})).is_success

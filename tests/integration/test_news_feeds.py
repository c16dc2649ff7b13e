"""NewsSource with the real httpx client against a fake feed server on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from polysim.synthetic.signals import make_market
from tests.support.feed_server import FakeFeedServer, FeedDocument, atom, http_date, rss
from trader.clock import FakeClock
from trader.signals.news import Feed, NewsConfig, NewsSource
from trader.signals.records import InMemoryNewsCache

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


def rfc822(when: datetime) -> str:
    return http_date(when)


@pytest.fixture
async def server() -> AsyncIterator[FakeFeedServer]:
    async with FakeFeedServer() as fake:
        yield fake


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as http:
        yield http


def source(
    server: FakeFeedServer,
    client: httpx.AsyncClient,
    clock: FakeClock,
    paths: list[str],
    **config: object,
) -> NewsSource:
    feeds = [Feed(server.url + p, name=p.strip("/")) for p in paths]
    return NewsSource(feeds, client, clock, config=NewsConfig(**config))  # type: ignore[arg-type]


async def test_feeds_are_fetched_deduplicated_and_broken_ones_reported(
    server: FakeFeedServer, client: httpx.AsyncClient
) -> None:
    clock = FakeClock(NOW)
    story = {
        "title": "Fed signals a March rate cut",
        "link": "https://news.test/fed",
        "guid": "fed-1",
        "pubDate": rfc822(NOW - timedelta(hours=1)),
    }
    server.serve("/wire.rss", FeedDocument(rss([story])))
    server.serve(  # the same story syndicated under another link: deduplicated by title
        "/atom.xml",
        FeedDocument(
            atom(
                [
                    {
                        "title": "Fed signals a March rate cut",
                        "link": "https://other.test/x",
                        "id": "urn:x",
                        "updated": (NOW - timedelta(hours=2)).isoformat(),
                    },
                    {
                        "title": "Senate passes budget",
                        "link": "https://other.test/y",
                        "id": "urn:y",
                        "updated": (NOW - timedelta(hours=3)).isoformat(),
                    },
                ]
            ),
            content_type="application/atom+xml",
        ),
    )
    server.serve("/broken.rss", FeedDocument(b"<rss><channel><item>"))
    server.serve("/down.rss", FeedDocument(status=503))
    server.serve("/evil.rss", FeedDocument(b'<!DOCTYPE x [<!ENTITY a "b">]><rss/>'))
    news = source(
        server,
        client,
        clock,
        ["/wire.rss", "/atom.xml", "/broken.rss", "/down.rss", "/evil.rss", "/missing"],
    )
    news_feeds = [*news.feeds, Feed("http://[::1", name="bad-url")]
    news = NewsSource(news_feeds, client, clock)

    result = await news.refresh()

    assert result.new_items == 2
    assert sorted(i.title for i in news.items()) == [
        "Fed signals a March rate cut",
        "Senate passes budget",
    ]
    failed = {f.feed: f.error for f in result.failed}
    assert set(failed) == {"broken.rss", "down.rss", "evil.rss", "missing", "bad-url"}
    assert failed["down.rss"] == "HTTP 503"
    assert "document type" in failed["evil.rss"]


async def test_conditional_requests_send_validators_back_and_304_costs_nothing(
    server: FakeFeedServer, client: httpx.AsyncClient
) -> None:
    clock = FakeClock(NOW)
    item = {"title": "Court blocks the merger", "guid": "m-1", "pubDate": rfc822(NOW)}
    server.serve("/etag.rss", FeedDocument(rss([item]), etag='"v1"'))
    server.serve(
        "/dated.rss",
        FeedDocument(
            rss([{**item, "guid": "m-2", "title": "Strike ends"}]), last_modified=http_date(NOW)
        ),
    )
    cache = InMemoryNewsCache()
    news = NewsSource(
        [Feed(server.url + "/etag.rss"), Feed(server.url + "/dated.rss")],
        client,
        clock,
        cache=cache,
    )
    first = await news.refresh()
    second = await news.refresh()

    assert first.new_items == 2
    assert [f.status_code for f in second.feeds] == [304, 304]
    assert all(f.not_modified and f.ok for f in second.feeds)
    assert server.requests_for("/etag.rss")[1]["if-none-match"] == '"v1"'
    assert server.requests_for("/dated.rss")[1]["if-modified-since"] == http_date(NOW)
    assert len(news.items()) == 2

    # a restart: validators and items come back from the cache
    restarted = NewsSource(
        [Feed(server.url + "/etag.rss"), Feed(server.url + "/dated.rss")],
        client,
        clock,
        cache=cache,
    )
    third = await restarted.refresh()
    assert [f.status_code for f in third.feeds] == [304, 304]
    assert len(restarted.items()) == 2


async def test_a_hanging_feed_times_out_without_stopping_the_others(
    server: FakeFeedServer, client: httpx.AsyncClient
) -> None:
    clock = FakeClock(NOW)
    server.serve("/hang.rss", FeedDocument(hang=True))
    server.serve("/ok.rss", FeedDocument(rss([{"title": "Launch succeeds", "guid": "l"}])))
    news = source(server, client, clock, ["/hang.rss", "/ok.rss"], timeout=0.2)
    result = await news.refresh()
    hang, ok = result.feeds
    assert not hang.ok
    assert "Timeout" in hang.error
    assert ok.ok
    assert ok.new_items == 1


async def test_oversized_feeds_are_refused(
    server: FakeFeedServer, client: httpx.AsyncClient
) -> None:
    big = rss([{"title": f"story {i}", "guid": str(i)} for i in range(2000)])
    server.serve("/big.rss", FeedDocument(big))
    news = source(server, client, FakeClock(NOW), ["/big.rss"], max_bytes=10_000)
    (status,) = (await news.refresh()).feeds
    assert not status.ok
    assert "FeedTooLarge" in status.error


async def test_items_outside_the_window_are_dropped_and_expire(
    server: FakeFeedServer, client: httpx.AsyncClient
) -> None:
    clock = FakeClock(NOW)
    server.serve(
        "/w.rss",
        FeedDocument(
            rss(
                [
                    {
                        "title": "Old news",
                        "guid": "old",
                        "pubDate": rfc822(NOW - timedelta(days=3)),
                    },
                    {
                        "title": "Fresh news",
                        "guid": "new",
                        "pubDate": rfc822(NOW - timedelta(hours=1)),
                    },
                    {"title": "Undated news", "guid": "undated"},
                ]
            )
        ),
    )
    news = source(server, client, clock, ["/w.rss"], window=timedelta(hours=24))
    await news.refresh()
    assert sorted(i.title for i in news.items()) == ["Fresh news", "Undated news"]
    clock.advance(timedelta(hours=23, minutes=30).total_seconds())
    await news.refresh()
    assert [i.title for i in news.items()] == ["Undated news"]  # stamped with its fetch time


async def test_matching_fetched_news_to_markets(
    server: FakeFeedServer, client: httpx.AsyncClient
) -> None:
    clock = FakeClock(NOW)
    server.serve(
        "/m.rss",
        FeedDocument(
            rss(
                [
                    {"title": "Fed officials back a March interest rate cut", "guid": "1"},
                    {"title": "Local team wins the cup", "guid": "2"},
                ]
            )
        ),
    )
    markets = [
        make_market("fed", "Will the Fed cut interest rates in March?", end_date=NOW),
        make_market("btc", "Will Bitcoin close above 150k?", end_date=NOW),
    ]
    news = source(server, client, clock, ["/m.rss"])
    await news.refresh()
    matched = news.match(markets)
    assert [m.item.title for m in matched["fed"]] == [
        "Fed officials back a March interest rate cut"
    ]
    assert matched["btc"] == ()

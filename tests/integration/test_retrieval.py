"""The retrieval stage with the real httpx client against a fake GDELT, a fake Exa and an
article site on 127.0.0.1, and the real anthropic SDK against the fake Messages API writing
the queries."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import anthropic
import httpx
import pytest
from pydantic import SecretStr

from polysim.synthetic.signals import make_market
from tests.support.anthropic_server import FakeAnthropicServer, Reply, answer_text
from tests.support.news_search import (
    BOILERPLATE,
    FakeArticleSite,
    FakeExaServer,
    FakeGdeltServer,
    Page,
    page_html,
)
from trader.clock import FakeClock
from trader.signals.budget import estimate_tokens
from trader.signals.llm import LLMAnalyser, LLMConfig, make_client
from trader.signals.prompts import market_context
from trader.signals.records import InMemoryUsageRecorder
from trader.signals.retrieval.articles import EXTRACT_THREAD_PREFIX, close_extractor, extract
from trader.signals.retrieval.exa import ExaConfig, ExaProvider
from trader.signals.retrieval.gdelt import GdeltConfig, GdeltProvider
from trader.signals.retrieval.guard import Resolver, system_resolver
from trader.signals.retrieval.render import article_text
from trader.signals.retrieval.retriever import RetrievalConfig, Retriever
from trader.signals.values import AnalysisRequest, NewsItem, NewsMatch

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
FAST = LLMConfig(requests_per_second=1000.0, burst=1000.0)
QUESTION = "Will the Federal Reserve cut interest rates at its March 2026 meeting?"
RULES = "Resolves YES if the FOMC announces a lower federal funds target range on March 18."
MODEL_QUERIES = ["Federal Reserve March rate decision", "FOMC officials signal rate cut"]
FED = [
    "The Federal Reserve is widely expected to cut interest rates at its March meeting.",
    "Federal Reserve officials signal a March rate cut at the FOMC meeting, traders said.",
    "One governor said inflation data would decide the timing of any move.",
    "The central bank last lowered its target range in December.",
]


def request() -> AnalysisRequest:
    market = make_market("0xfed", QUESTION, end_date=NOW + timedelta(days=18), description=RULES)
    return AnalysisRequest(market, market_probability=Decimal("0.5"), news=(), now=NOW)


def queries_reply(queries: list[str]) -> Reply:
    return Reply(text=json.dumps({"queries": queries}))


@dataclass
class Rig:
    gdelt: FakeGdeltServer
    exa: FakeExaServer
    site: FakeArticleSite
    model: FakeAnthropicServer
    http: httpx.AsyncClient
    sdk: anthropic.AsyncAnthropic
    usage: InMemoryUsageRecorder

    def writer(self) -> LLMAnalyser:
        return LLMAnalyser(self.sdk, recorder=self.usage, clock=FakeClock(NOW), config=FAST)

    def gdelt_provider(self) -> GdeltProvider:
        config = GdeltConfig(base_url=self.gdelt.url, min_interval=0)
        return GdeltProvider(self.http, FakeClock(NOW), config)

    def exa_provider(self, key: str = "exa-test-key") -> ExaProvider:
        return ExaProvider(self.http, ExaConfig(SecretStr(key), base_url=self.exa.url))

    def retriever(
        self, *providers: Any, resolve: Resolver = system_resolver, **config: Any
    ) -> Retriever:
        chosen = providers or (self.gdelt_provider(),)
        settings = RetrievalConfig(**({"private_hosts": True} | config))  # the site: 127.0.0.1
        return Retriever(chosen, self.http, writer=self.writer(), config=settings, resolve=resolve)


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    def respond(body: dict[str, Any]) -> Reply:
        if FakeAnthropicServer.forced_tool(body) == "write_search_queries":
            return queries_reply(MODEL_QUERIES)
        return Reply(text=answer_text())

    async with (
        FakeGdeltServer() as gdelt,
        FakeExaServer() as exa,
        FakeArticleSite() as site,
        FakeAnthropicServer(responder=respond) as model,
        httpx.AsyncClient() as http,
    ):
        sdk = make_client("sk-test", base_url=model.url, timeout=5.0, max_retries=0)
        try:
            yield Rig(gdelt, exa, site, model, http, sdk, InMemoryUsageRecorder())
        finally:
            await sdk.close()


async def test_the_model_writes_the_queries_and_the_articles_are_read_from_their_pages(
    rig: Rig,
) -> None:
    url = rig.site.serve("/fed-cut", Page("Fed set to cut rates in March", FED))
    rig.gdelt.add(url, "Fed set to cut rates in March", NOW - timedelta(hours=5))

    found = await rig.retriever().retrieve(request())

    assert found.queries == tuple(MODEL_QUERIES)
    assert found.query_source == "llm"
    asked = [r["query"] for r in rig.gdelt.requests]
    assert asked == [f"{q} sourcelang:english" for q in MODEL_QUERIES]
    assert {r["enddatetime"] for r in rig.gdelt.requests} == {"20260301120000"}
    assert {r["startdatetime"] for r in rig.gdelt.requests} == {"20260222120000"}
    [article] = found.articles  # the two queries found the same page: read once
    assert rig.site.hits["/fed-cut"] == 1
    assert article.published == NOW - timedelta(hours=5)
    assert article.provider == "gdelt"
    assert "officials signal a March rate cut" in article.summary
    assert BOILERPLATE not in article.summary  # trafilatura kept the article, not the page
    [call] = [u for u in rig.usage.records if u.purpose == "retrieval"]
    assert (call.ok, call.model) == (True, FAST.triage_model)
    assert call.cost > 0
    query_call = rig.model.requests[0]
    assert query_call["tool_choice"] == {"type": "tool", "name": "write_search_queries"}
    assert QUESTION in query_call["messages"][0]["content"]


async def test_an_article_published_after_now_is_never_used_nor_fetched(rig: Rig) -> None:
    before = rig.site.serve("/before", Page("Fed officials weigh March cut", FED))
    after = rig.site.serve("/after", Page("Fed cuts rates by a quarter point", FED[::-1]))
    rig.gdelt.add(after, "Fed cuts rates by a quarter point", NOW + timedelta(days=17))
    rig.gdelt.add(before, "Fed officials weigh March cut", NOW - timedelta(days=1))
    rig.exa.add("https://exa.test/after", "Rate cut announced", NOW + timedelta(minutes=1), FED[1])

    found = await rig.retriever(rig.gdelt_provider(), rig.exa_provider()).retrieve(request())

    assert [a.url for a in found.articles] == [before]
    assert found.skipped["after now"] == 2 * 2  # each provider, each of the two queries
    assert rig.site.hits["/after"] == 0
    assert all(a.published is not None and a.published <= NOW for a in found.articles)


async def test_an_undated_item_is_skipped_in_a_backtest_and_used_live(rig: Rig) -> None:
    rig.exa.add("https://exa.test/undated", "Fed watchers split on March", None, FED[2])
    rig.exa.add("https://exa.test/dated", "Markets price a March cut", NOW - timedelta(1), FED[1])

    backtest = await rig.retriever(rig.exa_provider(), undated=False).retrieve(request())
    live = await rig.retriever(rig.exa_provider(), undated=True).retrieve(request())

    assert [a.url for a in backtest.articles] == ["https://exa.test/dated"]
    assert backtest.skipped["undated"] == 2  # found by both queries, used by neither
    assert {a.url for a in live.articles} == {"https://exa.test/undated", "https://exa.test/dated"}
    assert [a.published for a in live.articles if "undated" in a.url] == [None]
    assert rig.exa.requests[0]["endPublishedDate"] == "2026-03-01T12:00:00.000Z"


async def test_copies_of_one_story_are_kept_once(rig: Rig) -> None:
    wire = [*FED, "Analysts at three banks now expect two further cuts this year as well."]
    original = rig.site.serve("/story", Page("Fed poised to cut", wire))
    syndicated = rig.site.serve("/syndicated", Page("Central bank nears a cut, sources say", wire))
    other = rig.site.serve("/other", Page("Treasury yields fall", ["Yields fell on Friday."] * 2))
    rig.gdelt.add(original, "Fed poised to cut", NOW - timedelta(hours=3))
    rig.gdelt.add(original + "/?utm_source=feed", "Fed poised to cut", NOW)
    rig.gdelt.add(syndicated, "Central bank nears a cut, sources say", NOW - timedelta(hours=2))
    rig.gdelt.add(other, "Treasury yields fall", NOW - timedelta(hours=1))
    rig.exa.add(original, "Fed poised to cut", NOW - timedelta(hours=3), " ".join(wire))

    found = await rig.retriever(rig.gdelt_provider(), rig.exa_provider()).retrieve(request())

    assert [a.url for a in found.articles] == [original, other]
    assert found.skipped["duplicate"] >= 3  # the tracking-tagged link, the copy, Exa's hit
    assert rig.site.hits["/syndicated"] == 1  # read, then recognised as the same text


async def test_the_summaries_fit_the_token_budget_and_keep_the_relevant_sentences(
    rig: Rig,
) -> None:
    for n in range(4):  # four different long reports, each with one relevant sentence
        filler = [f"Desk{n} note {i} covers sports results and weather{n}." for i in range(60)]
        body = [*filler[:20], FED[1], *filler[20:]]
        url = rig.site.serve(f"/long{n}", Page(f"Long report {n}", body))
        rig.gdelt.add(url, f"Long report {n} on the Fed", NOW - timedelta(hours=n + 1))

    found = await rig.retriever(token_budget=600).retrieve(request())

    spent = sum(estimate_tokens(article_text(a)) for a in found.articles)
    assert spent <= 600
    assert len(found.articles) == 4
    assert all("officials signal a March rate cut" in a.summary for a in found.articles)
    assert all(len(a.summary) < 600 for a in found.articles)


async def test_a_failing_provider_is_reported_and_the_other_still_answers(rig: Rig) -> None:
    rig.gdelt.status = 500
    rig.exa.add("https://exa.test/fed", "Fed nears a cut", NOW - timedelta(hours=2), FED[0])
    retriever = rig.retriever(rig.gdelt_provider(), rig.exa_provider(key="exa-wrong-key"))

    both_down = await retriever.retrieve(request())
    rig.gdelt.status = 200
    rig.gdelt.refusal = "The specified phrase is too short."
    one_up = await rig.retriever(rig.gdelt_provider(), rig.exa_provider()).retrieve(request())

    assert both_down.articles == ()
    assert both_down.failures == (
        "gdelt failed 2/2 queries (gdelt: HTTP 500)",
        "exa failed 2/2 queries (exa: HTTP 401)",
    )
    assert "exa-wrong-key" not in both_down.describe()
    assert [a.url for a in one_up.articles] == ["https://exa.test/fed"]
    assert one_up.failures == (
        "gdelt failed 2/2 queries (gdelt: query refused: The specified phrase is too short.)",
    )
    assert "failed: gdelt failed 2/2" in one_up.describe()


async def test_without_an_answer_from_the_model_the_queries_come_from_the_question(
    rig: Rig,
) -> None:
    rig.model.responder = lambda body: Reply.error(500)
    rig.gdelt.add("http://127.0.0.1:9/none", "Fed headline", NOW - timedelta(hours=1))

    found = await rig.retriever().retrieve(request())

    assert found.query_source == "heuristic (LLM api_error)"
    assert found.queries[0] == "Federal Reserve cut interest rates March 2026 meeting"
    assert rig.gdelt.requests[0]["query"].startswith("Federal Reserve cut interest")
    # the page could not be read: the headline is kept, and said to be so
    assert [(a.title, a.summary) for a in found.articles] == [("Fed headline", "")]
    assert found.skipped["unreadable"] == 1


async def test_a_link_to_this_machine_or_a_private_network_is_never_fetched(rig: Rig) -> None:
    url = rig.site.serve("/internal", Page("Admin panel", FED))
    rig.gdelt.add(url, "Fed headline on loopback", NOW - timedelta(hours=1))
    rig.gdelt.add("http://10.0.0.7/metrics", "Fed headline on a private net", NOW)

    found = await rig.retriever(private_hosts=False).retrieve(request())

    assert rig.site.hits["/internal"] == 0
    assert found.skipped["unreadable"] == 2
    assert [a.summary for a in found.articles] == ["", ""]  # the headlines alone


async def test_a_redirect_to_this_machine_or_a_private_network_is_never_followed(
    rig: Rig,
) -> None:
    async with FakeArticleSite() as internal:  # another loopback service, not allowed
        admin = internal.serve("/admin", Page("Admin panel", FED))
        rig.site.serve("/fed-cut", Page("Fed set to cut rates in March", FED))
        links = [
            rig.site.redirect("/moved", "/fed-cut"),  # a public redirect: followed
            rig.site.redirect("/to-admin", admin),
            rig.site.redirect("/to-metadata", "http://169.254.169.254/latest/meta-data/"),
            rig.site.redirect("/loop", "/loop"),
        ]
        for n, link in enumerate(links):
            rig.gdelt.add(link, f"Fed headline {n}", NOW - timedelta(hours=n + 1))
        site = rig.site.url.removeprefix("http://")  # the article site alone counts as public
        retriever = rig.retriever(private_hosts=False, private_origins=(site,))

        found = await retriever.retrieve(request())

    assert internal.hits["/admin"] == 0
    assert rig.site.hits["/fed-cut"] == 1
    assert rig.site.hits["/loop"] == 6  # five redirects followed, the sixth refused
    assert found.skipped["unreadable"] == 3
    assert [a.summary != "" for a in found.articles] == [True, False, False, False]


@pytest.mark.parametrize("host", ["2130706433", "0x7f000001", "127.1", "0.0.0.0"])  # noqa: S104
async def test_a_numeric_form_of_a_loopback_address_is_refused(rig: Rig, host: str) -> None:
    rig.site.serve("/internal", Page("Admin panel", FED))
    link = f"http://{host}:{urlsplit(rig.site.url).port}/internal"
    rig.gdelt.add(link, "Fed headline", NOW - timedelta(hours=1))

    refused = await rig.retriever(private_hosts=False).retrieve(request())
    assert rig.site.hits["/internal"] == 0
    assert refused.skipped["unreadable"] == 1

    allowed = await rig.retriever().retrieve(request())  # the link does reach the site
    assert rig.site.hits["/internal"] == 1
    assert allowed.skipped.get("unreadable", 0) == 0


async def test_a_name_that_resolves_to_a_private_address_is_refused(rig: Rig) -> None:
    name = socket.gethostname()  # in /etc/hosts: loopback, or the machine's private address
    rig.site.serve("/internal", Page("Admin panel", FED))
    rig.gdelt.add(f"http://{name}:{urlsplit(rig.site.url).port}/internal", "Fed", NOW)

    found = await rig.retriever(private_hosts=False).retrieve(request())

    assert rig.site.hits["/internal"] == 0
    assert found.skipped["unreadable"] == 1


class ScriptedResolver:
    """Answers each lookup of a name with the next of its scripted address lists (the last one
    again when the script runs out), as a rebinding DNS server would."""

    def __init__(self, **answers: list[list[str]]) -> None:
        self.answers = {name.replace("_", "."): list(lists) for name, lists in answers.items()}
        self.lookups: list[tuple[str, int]] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append((host, port))
        script = self.answers[host]
        return script.pop(0) if len(script) > 1 else script[0]


async def test_a_link_is_read_from_the_address_its_check_resolved_under_its_own_name(
    rig: Rig,
) -> None:
    port = urlsplit(rig.site.url).port
    rig.site.serve("/fed-cut", Page("Fed set to cut rates in March", FED))
    rig.gdelt.add(f"http://fed.news.test:{port}/fed-cut", "Fed headline", NOW)
    # the system cannot resolve .test: only a connection to the checked address reaches the site
    resolver = ScriptedResolver(fed_news_test=[["127.0.0.1"]])
    retriever = rig.retriever(
        private_hosts=False, private_origins=(f"127.0.0.1:{port}",), resolve=resolver
    )

    found = await retriever.retrieve(request())

    assert rig.site.hits["/fed-cut"] == 1
    assert rig.site.hosts == [f"fed.news.test:{port}"]
    assert resolver.lookups == [("fed.news.test", port)]  # resolved once, by the check
    assert [a.summary != "" for a in found.articles] == [True]


async def test_a_name_rebound_to_a_private_address_after_its_check_is_never_read_there(
    rig: Rig,
) -> None:
    port = urlsplit(rig.site.url).port
    rig.site.serve("/fed-cut", Page("Fed set to cut rates in March", FED))
    rig.site.redirect("/moved", "/fed-cut")
    rig.gdelt.add(f"http://rebind.news.test:{port}/moved", "Fed headline", NOW)
    # public (allowed) for the first hop's check, then the metadata service
    resolver = ScriptedResolver(rebind_news_test=[["127.0.0.1"], ["169.254.169.254"]])
    retriever = rig.retriever(
        private_hosts=False, private_origins=(f"127.0.0.1:{port}",), resolve=resolver
    )

    found = await retriever.retrieve(request())

    assert rig.site.hits["/moved"] == 1  # read from the address the check saw
    assert rig.site.hits["/fed-cut"] == 0  # the redirect's hop resolved privately: refused
    assert resolver.lookups == [("rebind.news.test", port)] * 2
    assert found.skipped["unreadable"] == 1


async def test_pages_are_extracted_while_the_default_executor_is_busy() -> None:
    """The database writes share the default executor: article parsing must not queue
    behind them, nor they behind it."""
    loop = asyncio.get_running_loop()
    loop.set_default_executor(ThreadPoolExecutor(1, thread_name_prefix="default-test"))
    release = threading.Event()
    busy = loop.run_in_executor(None, release.wait, 10.0)  # the default executor's one thread
    html = page_html(Page("Fed set to cut rates in March", FED)).encode()
    try:
        page = await asyncio.wait_for(extract(html, "https://news.test/fed"), timeout=5.0)
    finally:
        release.set()
        await busy
    assert "officials signal a March rate cut" in page.text
    assert any(t.name.startswith(EXTRACT_THREAD_PREFIX) for t in threading.enumerate())


async def test_closing_the_extraction_pool_ends_its_threads_and_a_later_read_makes_a_new_one() -> (
    None
):
    html = page_html(Page("Fed set to cut rates in March", FED)).encode()
    await extract(html, "https://news.test/fed")
    pool = [t for t in threading.enumerate() if t.name.startswith(EXTRACT_THREAD_PREFIX)]

    close_extractor()
    for thread in pool:
        await asyncio.to_thread(thread.join, 5.0)

    assert pool
    assert not any(t.is_alive() for t in pool)
    page = await extract(html, "https://news.test/fed")
    assert "officials signal a March rate cut" in page.text


async def test_gdelt_json_with_stray_characters_is_still_read(rig: Rig) -> None:
    url = rig.site.serve("/odd", Page("Fed's odd headline", FED))
    seen = f"{NOW - timedelta(hours=2):%Y%m%dT%H%M%SZ}"
    # a raw tab inside a string and an invalid escape, as GDELT sometimes sends them
    rig.gdelt.raw = (
        '{"articles": [{"url": "' + url + '", "title": "Fed\\\'s\todd headline", '
        '"seendate": "' + seen + '"}]}'
    )

    found = await rig.retriever().retrieve(request())

    assert found.failures == ()
    assert [a.url for a in found.articles] == [url]
    assert "Fed" in found.articles[0].title


async def test_gdelt_requests_are_spaced_by_its_minimum_interval_even_when_asked_together(
    rig: Rig,
) -> None:
    clock = FakeClock(NOW)
    sent: list[float] = []  # the clock's time as each request leaves (a fake clock: the
    # server's arrival times would all be after the waits, which move it at once)

    async def record(request: httpx.Request) -> None:
        sent.append(clock.monotonic())

    async with httpx.AsyncClient(event_hooks={"request": [record]}) as http:
        provider = GdeltProvider(http, clock, GdeltConfig(base_url=rig.gdelt.url))  # 5 s
        window = {"since": NOW - timedelta(days=7), "until": NOW, "limit": 10}
        await asyncio.gather(*(provider.search(f"Federal Reserve {n}", **window) for n in "abc"))
        clock.advance(12)  # a quiet spell saves up one request, no more
        await provider.search("Federal Reserve later", **window)
        await provider.search("Federal Reserve again", **window)

    assert [round(t - sent[0], 6) for t in sent] == [0.0, 5.0, 10.0, 22.0, 27.0]
    assert len(rig.gdelt.requests) == 5


def with_news(base: AnalysisRequest, *ids: str, now: datetime = NOW) -> AnalysisRequest:
    items = (NewsItem(i, f"Wire {i}", "", "", NOW - timedelta(hours=1), "wire") for i in ids)
    return replace(base, news=tuple(NewsMatch(item, 0.5) for item in items), now=now)


async def test_an_unchanged_market_within_the_window_is_not_searched_again(rig: Rig) -> None:
    url = rig.site.serve("/fed-cut", Page("Fed set to cut rates in March", FED))
    rig.gdelt.add(url, "Fed set to cut rates in March", NOW - timedelta(hours=5))
    retriever = rig.retriever()
    first_request = with_news(request(), "n1", "n2")
    later = with_news(request(), "n1", "n2", now=NOW + timedelta(minutes=59))

    first = await retriever.retrieve(first_request)
    asked = (len(rig.model.requests), len(rig.gdelt.requests), rig.site.hits["/fed-cut"])
    rig.gdelt.add(f"{url}-2", "A later Fed story", NOW + timedelta(minutes=30))
    again = await retriever.retrieve(later)

    assert asked == (1, 2, 1)  # one query call, two searches, one page read
    assert (len(rig.model.requests), len(rig.gdelt.requests), rig.site.hits["/fed-cut"]) == asked
    assert again.articles == first.articles
    assert (again.queries, again.query_source) == (first.queries, "llm")
    assert (first.reused_from, again.reused_from) == (None, NOW)
    assert again.describe() == first.describe().replace(
        "; queries by llm", "; queries by llm; reused from 2026-03-01 12:00 UTC"
    )
    pairs = ((first_request, first), (later, again))
    shown = [market_context(replace(r, retrieved=found.articles)) for r, found in pairs]
    assert shown[0] == shown[1]  # the cached prompt context: byte-identical


@pytest.mark.parametrize(
    ("news", "minutes"),
    [
        (("n1", "n3"), 10),  # new news
        (("n1",), 61),  # past the window
        (("n1",), -1),  # an earlier now: another run
    ],
)
async def test_new_news_or_a_time_outside_the_window_searches_again(
    rig: Rig, news: tuple[str, ...], minutes: int
) -> None:
    retriever = rig.retriever()
    await retriever.retrieve(with_news(request(), "n1"))

    again = await retriever.retrieve(
        with_news(request(), *news, now=NOW + timedelta(minutes=minutes))
    )

    assert (len(rig.model.requests), len(rig.gdelt.requests)) == (2, 4)
    assert again.reused_from is None


async def test_a_failed_provider_or_query_writer_or_reuse_off_searches_again(rig: Rig) -> None:
    rig.gdelt.status = 503
    failing = rig.retriever()
    await failing.retrieve(request())
    rig.gdelt.status = 200
    recovered = await failing.retrieve(request())
    reused = await failing.retrieve(request())
    off = rig.retriever(reuse=timedelta(0))
    await off.retrieve(request())
    await off.retrieve(request())
    searched = len(rig.gdelt.requests)
    rig.model.responder = lambda body: Reply.error(500)
    no_writer = rig.retriever()
    await no_writer.retrieve(request())
    once = len(rig.gdelt.requests) - searched
    await no_writer.retrieve(request())

    assert (recovered.failures, recovered.reused_from) == ((), None)  # asked again
    assert reused.reused_from == NOW  # the clean one is kept
    assert len(off.reused) == 0
    assert searched == 2 * 2 + 2 * 2  # failed, recovered; reuse off, twice
    # heuristic queries (the model did not answer): searched again, the model asked again
    assert len(rig.gdelt.requests) == searched + 2 * once
    assert len(no_writer.reused) == 0

"""The pure parts of retrieval: query cleaning and the heuristic's queries, GDELT's query
syntax, times, canonical links, near-duplicate texts, the per-sample subsets and the reuse of
a market's retrieval."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from polysim.synthetic.signals import make_market
from trader.signals.prompts import InvalidOutput
from trader.signals.retrieval.base import parse_time
from trader.signals.retrieval.digest import Deduper, canonical_url, summarise
from trader.signals.retrieval.gdelt import gdelt_query
from trader.signals.retrieval.queries import heuristic_queries, parse_queries
from trader.signals.retrieval.render import subset
from trader.signals.retrieval.retriever import Retrieval
from trader.signals.retrieval.reuse import ReusedRetrievals
from trader.signals.values import AnalysisRequest, RetrievedArticle

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


def test_heuristic_queries_come_from_the_question_its_names_and_the_rules() -> None:
    market = make_market(
        "0x1",
        "Will Spain and Morocco sign a fisheries agreement by April 30?",
        end_date=NOW + timedelta(days=60),
        description="Resolves YES if the EU Commission confirms a signed fisheries deal. Else NO.",
    )
    request = AnalysisRequest(market, Decimal("0.4"), (), NOW)

    assert heuristic_queries(request, 3) == [
        "Spain Morocco sign fisheries agreement April 30",
        "Spain Morocco April 30",
        "EU Commission confirms signed fisheries deal",  # "resolves YES" is no news
    ]
    assert heuristic_queries(request, 1) == ["Spain Morocco sign fisheries agreement April 30"]


def test_model_queries_are_cleaned_and_an_empty_answer_is_unusable() -> None:
    parsed = parse_queries({"queries": ["  Fed   March cut ", "fed march CUT", "", "FOMC"]})
    assert parsed.queries == ["Fed March cut", "FOMC"]
    with pytest.raises(InvalidOutput):
        parse_queries({"queries": ["   "]})
    with pytest.raises(InvalidOutput):
        parse_queries({"query": "Fed"})


def test_gdelt_gets_plain_words_of_three_letters_or_more() -> None:
    assert gdelt_query('"EU" AND (tariffs OR duties) on U.S. steel?') == "tariffs duties U.S steel"
    assert gdelt_query("a b c") == ""


def test_times_are_read_as_aware_utc() -> None:
    assert parse_time("20260301T120000Z") == NOW
    assert parse_time("2026-03-01T13:00:00+01:00") == NOW
    assert parse_time("2026-03-01T12:00:00.000Z") == NOW
    assert parse_time(None) is None
    assert parse_time("yesterday") is None


def test_the_same_page_under_other_links_is_one_page() -> None:
    assert canonical_url("https://www.News.test/a/?utm_source=x&id=2#top") == "news.test/a?id=2"
    seen = Deduper()
    seen.keep("https://news.test/a?id=2", "Deal signed in Rabat")
    assert seen.seen_page("http://www.news.test/a/?id=2&utm_medium=rss", "Other title")
    assert seen.seen_page("https://elsewhere.test/b", "Deal signed in Rabat!")
    assert not seen.seen_page("https://elsewhere.test/b", "Talks collapse")


def test_a_syndicated_text_is_a_copy_and_a_different_one_is_not() -> None:
    story = " ".join(f"Sentence {i} of the wire story about the fisheries deal." for i in range(8))
    seen = Deduper()
    seen.keep("https://a.test/1", "One", story)
    assert seen.seen_text("Exclusive: " + story)
    assert not seen.seen_text(story.replace("fisheries deal", "tariff dispute ruling"))


def test_the_summary_prefers_relevant_sentences_in_their_order_within_the_budget() -> None:
    article = RetrievedArticle("Title", "https://a.test/1", NOW, "gdelt", "")
    text = "Weather was mild. The fisheries agreement was signed. Football results. Spain agreed."
    [short] = summarise([(article, text)], ["fisheries agreement Spain"], 52)
    [full] = summarise([(article, text)], ["fisheries agreement Spain"], 500)

    assert short.summary == "The fisheries agreement was signed."
    assert full.summary == text
    assert summarise([(article, text)], ["x"], 10) == []  # not even the headline fits


def test_later_samples_leave_out_a_different_third() -> None:
    items = list(range(6))
    assert subset(items, 0) == (0, 1, 2, 3, 4, 5)
    assert subset(items, 1) == (0, 2, 3, 5)
    assert subset(items, 2) == (0, 1, 3, 4)
    assert subset(items[:2], 1) == (0, 1)


def test_reuse_forgets_the_least_recently_used_market_and_a_changed_question() -> None:
    def asked(market: str, question: str = "Will it happen?") -> AnalysisRequest:
        found = make_market(market, question, end_date=NOW + timedelta(days=9))
        return AnalysisRequest(found, Decimal("0.5"), (), NOW)

    reused = ReusedRetrievals(timedelta(hours=1), capacity=2)
    for market in ("0xa", "0xb"):
        reused.keep(asked(market), Retrieval(("q",), "llm", ()))
    assert reused.find(asked("0xa")) is not None  # 0xa used: 0xb is now the oldest
    reused.keep(asked("0xc"), Retrieval(("q",), "llm", ()))
    reused.keep(asked("0xd"), Retrieval(("q",), "llm", ()))

    assert len(reused) == 2
    assert reused.find(asked("0xb")) is None
    assert reused.find(asked("0xd")) is not None
    assert reused.find(asked("0xd", "Will it happen by May?")) is None  # other queries

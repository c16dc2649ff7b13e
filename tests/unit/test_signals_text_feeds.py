from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from polysim.synthetic.signals import make_market
from trader.signals.feeds import FeedError, clean_text, parse_date, parse_feed, parse_xml
from trader.signals.news import match_news
from trader.signals.text import RelevanceIndex, tokenize
from trader.signals.values import NewsItem

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)

RSS = b"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">
<channel><title>Wire</title>
<item><title>Fed holds rates &amp; signals cut</title><link>https://x.test/a</link>
<guid>id-a</guid>
<description>&lt;p&gt;The &lt;b&gt;Fed&lt;/b&gt; held rates.&lt;/p&gt;</description>
<pubDate>Sun, 01 Mar 2026 10:00:00 +0100</pubDate></item>
<item><title>No date here</title><link>https://x.test/b</link>
<content:encoded><![CDATA[<div>Body text</div>]]></content:encoded></item>
</channel></rss>"""

ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Atom wire</title>
<entry><title type="html">Senate passes bill</title>
<link rel="self" href="https://x.test/self"/><link rel="alternate" href="https://x.test/c"/>
<id>urn:uuid:c</id><updated>2026-03-01T09:30:00Z</updated><summary>Vote was 51-49.</summary></entry>
</feed>"""

RDF = b"""<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
 xmlns:dc="http://purl.org/dc/elements/1.1/">
<item rdf:about="https://x.test/d"><title>RDF item</title><link>https://x.test/d</link>
<dc:date>2026-03-01T08:00:00+00:00</dc:date></item></rdf:RDF>"""


def test_tokenize_drops_stopwords_and_folds_plurals() -> None:
    assert tokenize("Will the Senate pass the tariffs bill by 2026?") == [
        "senate",
        "pass",
        "tariff",
        "bill",
        "2026",
    ]
    assert tokenize("Who's the party's candidate?") == ["party", "candidate"]


def test_relevance_index_ranks_the_matching_market_first() -> None:
    index = RelevanceIndex(
        {
            "fed": ("Will the Fed cut interest rates in March?", "FOMC decision"),
            "btc": ("Will Bitcoin close above 150k?", "crypto price"),
        }
    )
    scores = index.score("Fed officials signal an interest rate cut at the FOMC")
    assert scores["fed"] > 0.3
    assert scores.get("btc", 0.0) == 0.0
    assert index.score("completely unrelated gardening tips") == {}


def test_match_news_keeps_relevant_items_best_first_and_every_market_a_key() -> None:
    fed = make_market("fed", "Will the Fed cut interest rates in March?", end_date=NOW)
    other = make_market("other", "Will it snow in Lisbon?", end_date=NOW)

    def item(i: str, title: str) -> NewsItem:
        return NewsItem(i, title, f"https://x.test/{i}", "", NOW, "wire")

    items = [
        item("1", "Fed rate cut odds rise"),
        item("2", "Fed officials weigh interest rates cut in March"),
        item("3", "Stocks mixed"),
    ]
    matched = match_news([fed, other], items, min_relevance=0.1)
    assert [m.item.item_id for m in matched["fed"]] == ["2", "1"]
    assert matched["other"] == ()


def test_parse_rss_reads_items_strips_markup_and_normalises_dates() -> None:
    entries = parse_feed(RSS)
    assert [e.title for e in entries] == ["Fed holds rates & signals cut", "No date here"]
    assert entries[0].summary == "The Fed held rates."
    assert entries[0].guid == "id-a"
    assert entries[0].published == datetime(2026, 3, 1, 9, tzinfo=UTC)
    assert entries[1].published is None
    assert entries[1].summary == "Body text"


def test_parse_atom_prefers_the_alternate_link() -> None:
    (entry,) = parse_feed(ATOM)
    assert entry.link == "https://x.test/c"
    assert entry.guid == "urn:uuid:c"
    assert entry.published == datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


def test_parse_rdf_items() -> None:
    (entry,) = parse_feed(RDF)
    assert entry.title == "RDF item"
    assert entry.guid == "https://x.test/d"
    assert entry.published == datetime(2026, 3, 1, 8, tzinfo=UTC)


@pytest.mark.parametrize(
    "document",
    [
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]>'
        b"<rss><channel><item><title>&lol2;</title></item></channel></rss>",
        b'<!DOCTYPE rss SYSTEM "http://evil.test/x.dtd"><rss/>',
        b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><rss><channel>&e;</channel></rss>',
    ],
)
def test_documents_with_a_doctype_are_refused(document: bytes) -> None:
    with pytest.raises(FeedError, match="document type"):
        parse_feed(document)


@pytest.mark.parametrize("document", [b"", b"<rss><channel>", b"not xml", b"<html></html>"])
def test_bad_documents_raise_feed_error(document: bytes) -> None:
    with pytest.raises(FeedError):
        parse_feed(document)


def test_parse_xml_keeps_namespaces_in_element_tree_spelling() -> None:
    root = parse_xml(ATOM)
    assert root.tag == "{http://www.w3.org/2005/Atom}feed"


def test_parse_date_forms() -> None:
    assert parse_date("2026-03-01T10:00:00") == datetime(2026, 3, 1, 10, tzinfo=UTC)
    assert parse_date("Sun, 01 Mar 2026 10:00:00 GMT") == datetime(2026, 3, 1, 10, tzinfo=UTC)
    assert parse_date("2026-03-01T10:00:00-05:00") == NOW + timedelta(hours=3)
    assert parse_date("yesterday") is None
    assert parse_date("") is None


def test_clean_text_limits_length() -> None:
    assert clean_text("<p>" + "a" * 50 + "</p>", limit=10) == "a" * 10
    assert clean_text(None) == ""
    assert Decimal(len(clean_text("x " * 2000))) <= 1000

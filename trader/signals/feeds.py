"""Pure parsing of RSS 2.0 (and RDF/RSS 1.0 items) and Atom feeds, with `feedparser`.

Before feedparser reads a document, the standard library's expat checks it with every document
type declaration refused: no DTD means no entity expansion (billion laughs) and no external
entities. A feed that is not well-formed, or whose root is not a feed's, raises `FeedError`.
"""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from xml.parsers import expat

ATOM = "{http://www.w3.org/2005/Atom}"
_TAG = re.compile(r"<[^>]{0,2000}>")
_SPACE = re.compile(r"\s+")
MAX_SUMMARY = 1000


class FeedError(Exception):
    """The document is not a feed we can read (bad XML, a DTD, an unknown root)."""


@dataclass(frozen=True, slots=True)
class FeedEntry:
    title: str
    link: str
    guid: str
    summary: str
    published: datetime | None


def _qualified(name: str) -> str:
    # expat with namespace_separator="}" gives "uri}local"; ElementTree spells "{uri}local".
    return "{" + name if "}" in name else name


def parse_xml(data: bytes) -> ET.Element:
    """Parse `data`, refusing any DOCTYPE, entity declaration or external entity."""
    builder = ET.TreeBuilder()
    parser = expat.ParserCreate(namespace_separator="}")

    def refuse(*_: object) -> None:
        raise FeedError("document type declarations are refused")

    def start(name: str, attributes: dict[str, str]) -> None:
        builder.start(_qualified(name), {_qualified(k): v for k, v in attributes.items()})

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse  # type: ignore[assignment]
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartElementHandler = start
    parser.EndElementHandler = lambda name: builder.end(_qualified(name))
    parser.CharacterDataHandler = builder.data
    parser.buffer_text = True
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        raise FeedError(f"not well-formed XML: {exc}") from exc
    root = builder.close()
    if root is None:
        raise FeedError("empty document")
    return root


def clean_text(value: str | None, limit: int = MAX_SUMMARY) -> str:
    """Strip markup and entities, collapse white space, cut to `limit` characters."""
    if not value:
        return ""
    text = _SPACE.sub(" ", html.unescape(_TAG.sub(" ", value))).strip()
    return text[:limit]


def parse_date(value: str | None) -> datetime | None:
    """RFC 822 (RSS) or ISO 8601 (Atom, Dublin Core) to aware UTC; naive means UTC."""
    if not value or not value.strip():
        return None
    value = value.strip()
    parsed: datetime | None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


_FEED_ROOTS = (f"{ATOM}feed", "rss")


def _date(entry: Any) -> datetime | None:
    """feedparser's parsed time (UTC) of the entry, or its raw date text read here."""
    for key in ("published_parsed", "updated_parsed"):
        parsed = entry.get(key)
        if parsed:
            year, month, day, hour, minute, second = parsed[:6]
            return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    return parse_date(entry.get("published") or entry.get("updated"))


def _summary(entry: Any) -> str:
    summary = entry.get("summary") or ""
    if not summary and entry.get("content"):
        summary = entry["content"][0].get("value", "")
    return clean_text(summary)


def parse_feed(data: bytes) -> list[FeedEntry]:
    """Entries of an RSS 2.0, RSS 1.0 (RDF) or Atom document, in document order.

    The fields are read by `feedparser` (a kept library: the many date formats, namespaces,
    relative links and content types of real feeds). Before it sees the bytes, `parse_xml`
    refuses any DTD (so no entity expansion and no external entities reach it) and anything
    that is not well-formed XML with a feed root: feedparser would otherwise read a broken
    document leniently, and a page that is not a feed would read as a feed with no entries."""
    root = parse_xml(data)
    if root.tag not in _FEED_ROOTS and not root.tag.endswith("}RDF"):
        raise FeedError(f"unknown feed root element {root.tag!r}")
    import feedparser  # type: ignore[import-untyped]  # no hints; imported with the first feed

    parsed = feedparser.parse(data, sanitize_html=False, resolve_relative_uris=False)
    return [
        FeedEntry(
            title=clean_text(entry.get("title"), 500),
            link=entry.get("link", ""),
            guid=entry.get("id", ""),
            summary=_summary(entry),
            published=_date(entry),
        )
        for entry in parsed.entries
    ]

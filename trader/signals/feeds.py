"""Pure parsing of RSS 2.0 (and RDF/RSS 1.0 items) and Atom feeds.

XML is parsed with the standard library's expat driven into an ElementTree builder, with
every document type declaration refused: no DTD means no entity expansion (billion laughs)
and no external entities. A feed that is not well-formed raises `FeedError`.
"""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from xml.parsers import expat

ATOM = "{http://www.w3.org/2005/Atom}"
_CONTENT = "{http://purl.org/rss/1.0/modules/content/}encoded"
_DC_DATE = "{http://purl.org/dc/elements/1.1/}date"
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


def _text(element: ET.Element | None) -> str:
    return "".join(element.itertext()).strip() if element is not None else ""


def _rss_entry(item: ET.Element) -> FeedEntry:
    summary = _text(item.find("description")) or _text(item.find(_CONTENT))
    return FeedEntry(
        title=clean_text(_text(item.find("title")), 500),
        link=_text(item.find("link")),
        guid=_text(item.find("guid")),
        summary=clean_text(summary),
        published=parse_date(_text(item.find("pubDate")) or _text(item.find(_DC_DATE))),
    )


def _atom_link(entry: ET.Element) -> str:
    links = entry.findall(f"{ATOM}link")
    for link in links:
        if link.get("rel", "alternate") == "alternate" and link.get("href"):
            return link.get("href", "")
    return links[0].get("href", "") if links else ""


def _atom_entry(entry: ET.Element) -> FeedEntry:
    summary = _text(entry.find(f"{ATOM}summary")) or _text(entry.find(f"{ATOM}content"))
    published = _text(entry.find(f"{ATOM}published")) or _text(entry.find(f"{ATOM}updated"))
    return FeedEntry(
        title=clean_text(_text(entry.find(f"{ATOM}title")), 500),
        link=_atom_link(entry),
        guid=_text(entry.find(f"{ATOM}id")),
        summary=clean_text(summary),
        published=parse_date(published),
    )


def parse_feed(data: bytes) -> list[FeedEntry]:
    """Entries of an RSS 2.0, RSS 1.0 (RDF) or Atom document, in document order."""
    root = parse_xml(data)
    if root.tag == f"{ATOM}feed":
        return [_atom_entry(e) for e in root.iter(f"{ATOM}entry")]
    if root.tag == "rss":
        return [_rss_entry(i) for i in root.iter("item")]
    if root.tag.endswith("}RDF"):
        rss1 = "{http://purl.org/rss/1.0/}"
        return [
            FeedEntry(
                title=clean_text(_text(i.find(f"{rss1}title")), 500),
                link=_text(i.find(f"{rss1}link")),
                guid=i.get("{http://www.w3.org/1999/02/22-rdf-syntax-ns#}about", ""),
                summary=clean_text(_text(i.find(f"{rss1}description"))),
                published=parse_date(_text(i.find(_DC_DATE))),
            )
            for i in root.iter(f"{rss1}item")
        ]
    raise FeedError(f"unknown feed root element {root.tag!r}")

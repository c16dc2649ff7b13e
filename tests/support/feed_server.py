"""A fake news-feed server on 127.0.0.1 (aiohttp): RSS and Atom documents by path.

Each path serves a scripted body with optional ETag / Last-Modified; a request carrying the
matching `If-None-Match` or `If-Modified-Since` gets 304. A path can also answer an error
status, hang until the server closes (for client timeouts) or stream an oversized body.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from xml.sax.saxutils import escape

from aiohttp import web

from tests.support.loopback import LoopbackServer


@dataclass
class FeedDocument:
    body: bytes = b""
    status: int = 200
    etag: str | None = None
    last_modified: str | None = None
    hang: bool = False
    content_type: str = "application/rss+xml"


def rss(items: list[dict[str, str]], *, title: str = "Fake wire") -> bytes:
    """An RSS 2.0 document; item keys: title, link, guid, description, pubDate."""
    parts = []
    for item in items:
        fields = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in item.items())
        parts.append(f"<item>{fields}</item>")
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        f"<title>{escape(title)}</title>{''.join(parts)}</channel></rss>"
    ).encode()


def atom(entries: list[dict[str, str]], *, title: str = "Fake atom") -> bytes:
    """An Atom document; entry keys: title, link (href), id, summary, updated."""
    parts = []
    for entry in entries:
        link = f'<link rel="alternate" href="{escape(entry["link"])}"/>' if "link" in entry else ""
        fields = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in entry.items() if k != "link")
        parts.append(f"<entry>{link}{fields}</entry>")
    return (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>{escape(title)}</title>{''.join(parts)}</feed>"
    ).encode()


def http_date(when: datetime) -> str:
    return format_datetime(when.astimezone(UTC), usegmt=True)


class FakeFeedServer(LoopbackServer):
    def __init__(self) -> None:
        super().__init__()
        self.documents: dict[str, FeedDocument] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []  # (path, lower-cased headers)

    def serve(self, path: str, document: FeedDocument) -> str:
        self.documents[path] = document
        return self.url + path

    def requests_for(self, path: str) -> list[dict[str, str]]:
        return [headers for p, headers in self.requests if p == path]

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/{path:.*}", self._handle)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        self.requests.append((path, {k.lower(): v for k, v in request.headers.items()}))
        document = self.documents.get(path)
        if document is None:
            return web.Response(status=404, text="no such feed")
        if document.hang:
            await self._closing.wait()
            return web.Response(status=503)
        if document.status != 200:
            return web.Response(status=document.status, text="feed error")
        headers = {}
        if document.etag:
            headers["ETag"] = document.etag
        if document.last_modified:
            headers["Last-Modified"] = document.last_modified
        etag_hit = document.etag and request.headers.get("If-None-Match") == document.etag
        date_hit = (
            document.last_modified
            and request.headers.get("If-Modified-Since") == document.last_modified
        )
        if etag_hit or date_hit:
            return web.Response(status=304, headers=headers)
        return web.Response(body=document.body, headers=headers, content_type=document.content_type)

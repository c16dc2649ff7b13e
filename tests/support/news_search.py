"""Fake news search providers and an article site on 127.0.0.1 (aiohttp), for the retrieval
stage driven by the real httpx client.

- `FakeGdeltServer`: the GDELT DOC 2.0 API (`GET /api/v2/doc/doc`, mode=artlist, JSON). It
  serves the scripted `articles` whatever the window asked (so the retriever's own time rule
  is what a test checks), records each request's query parameters, and can answer an error
  status or refuse a query the way GDELT does (HTTP 200, a plain-text message).
- `FakeExaServer`: Exa's `POST /search`; answers 401 unless `x-api-key` is the expected key,
  records the JSON bodies, serves the scripted `results` (with their text).
- `FakeArticleSite`: HTML pages by path, wrapped in navigation, a cookie banner and a footer
  (what trafilatura must strip); counts requests per path; a path can answer an error status
  or redirect elsewhere (`redirect`).
"""

from __future__ import annotations

import html
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import web

from tests.support.loopback import LoopbackServer

BOILERPLATE = "Subscribe to our newsletter for the latest headlines"


def seendate(when: datetime) -> str:
    return f"{when:%Y%m%dT%H%M%SZ}"


class FakeGdeltServer(LoopbackServer):
    def __init__(self) -> None:
        super().__init__()
        self.articles: list[dict[str, Any]] = []
        self.requests: list[dict[str, str]] = []
        self.status = 200
        self.refusal: str | None = None  # a plain-text answer, as GDELT refuses a query
        self.raw: str | None = None  # a body served as it is (GDELT's JSON is not always valid)

    def add(self, url: str, title: str, seen: datetime, **extra: Any) -> None:
        self.articles.append(
            {"url": url, "title": title, "seendate": seendate(seen), "language": "English"} | extra
        )

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/api/v2/doc/doc", self._doc)

    async def _doc(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(dict(request.query))
        if self.status != 200:
            return web.Response(status=self.status, text="fake gdelt error")
        if self.refusal is not None:
            return web.Response(text=self.refusal, content_type="text/html")
        if self.raw is not None:
            return web.Response(text=self.raw, content_type="application/json")
        limit = int(request.query.get("maxrecords", "75"))
        body = {"articles": self.articles[:limit]} if self.articles else {}
        return web.json_response(body)


class FakeExaServer(LoopbackServer):
    def __init__(self, api_key: str = "exa-test-key") -> None:
        super().__init__()
        self.api_key = api_key
        self.results: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self.status = 200

    def add(self, url: str, title: str, published: datetime | None, text: str) -> None:
        self.results.append(
            {
                "id": url,
                "url": url,
                "title": title,
                "publishedDate": published.isoformat().replace("+00:00", "Z")
                if published
                else None,
                "author": None,
                "text": text,
            }
        )

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/search", self._search)

    async def _search(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        if request.headers.get("x-api-key") != self.api_key:
            return web.json_response({"error": "invalid api key"}, status=401)
        if self.status != 200:
            return web.json_response({"error": "fake exa error"}, status=self.status)
        results = self.results[: int(body.get("numResults", 10))]
        return web.json_response({"requestId": "req-fake", "results": results})


@dataclass
class Page:
    title: str
    paragraphs: list[str]
    published: str | None = None  # the page's own date, as <meta article:published_time>
    status: int = 200


def page_html(page: Page) -> str:
    meta = (
        f'<meta property="article:published_time" content="{page.published}">'
        if page.published
        else ""
    )
    body = "".join(f"<p>{html.escape(p)}</p>" for p in page.paragraphs)
    return (
        f"<!DOCTYPE html><html><head><title>{html.escape(page.title)}</title>{meta}</head><body>"
        '<nav><a href="/">Home</a> <a href="/world">World</a> <a href="/markets">Markets</a></nav>'
        f'<div class="cookie">We use cookies. {BOILERPLATE}.</div>'
        f"<article><h1>{html.escape(page.title)}</h1>{body}</article>"
        f"<footer><p>{BOILERPLATE}. Copyright Fake Wire.</p></footer></body></html>"
    )


class FakeArticleSite(LoopbackServer):
    def __init__(self) -> None:
        super().__init__()
        self.pages: dict[str, Page] = {}
        self.hits: Counter[str] = Counter()
        self.hosts: list[str] = []  # each request's Host header, in order
        self.redirects: dict[str, str] = {}

    def serve(self, path: str, page: Page) -> str:
        self.pages[path] = page
        return self.url + path

    def redirect(self, path: str, location: str) -> str:
        """`path` answers 302 to `location` (absolute, or relative to this site)."""
        self.redirects[path] = location
        return self.url + path

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/{path:.*}", self._page)

    async def _page(self, request: web.Request) -> web.StreamResponse:
        self.hits[request.path] += 1
        self.hosts.append(request.host)
        if request.path in self.redirects:
            raise web.HTTPFound(self.redirects[request.path])
        page = self.pages.get(request.path)
        if page is None:
            return web.Response(status=404, text="not found")
        if page.status != 200:
            return web.Response(status=page.status, text="error")
        return web.Response(text=page_html(page), content_type="text/html")

"""Fetch an article and reduce it to its text with trafilatura (a kept library: boilerplate,
navigation, comments and scripts are what it is built to remove).

`fetch_page` reads at most `max_bytes` of an HTML page and raises `FetchError` on an error
status, a body that is not HTML or text, a body too large, or a transport failure. Redirects
are followed by hand (at most `MAX_REDIRECTS`, within the same timeout) so that every hop is
checked by `guard.public_target` and read from the public address it checked (no second DNS
resolution to rebind). `extract` runs trafilatura on a small dedicated thread
pool (CPU work on an lxml tree), not on the default executor the database writes use, and
returns the main text and the page's own date, if it states one.

trafilatura is imported on first use: a configuration without retrieval never loads it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

import httpx

from trader.signals.retrieval.guard import (
    FetchError,
    Resolver,
    Target,
    public_target,
    system_resolver,
)

MAX_TEXT = 20_000  # characters of an article kept for summarising
MAX_REDIRECTS = 5
EXTRACT_WORKERS = 2
EXTRACT_THREAD_PREFIX = "polyops-extract"
USER_AGENT = "Polyops/0.1 (news retrieval for forecasts)"


@dataclass(frozen=True, slots=True)
class Page:
    text: str
    title: str
    date: date | None  # the page's own date (day precision), when trafilatura finds one


async def fetch_page(
    client: httpx.AsyncClient,
    url: str,
    *,
    timeout: float,  # noqa: ASYNC109  # bounds the whole read (redirects, body), as asyncio.timeout
    max_bytes: int,
    private_hosts: bool = False,
    private_origins: Collection[str] = (),
    resolve: Resolver = system_resolver,
) -> bytes:
    """The page at `url`; a link (or a redirect) to this machine or a private network is
    refused unless `private_hosts`, or its `host:port` is in `private_origins` (tests serve
    pages on 127.0.0.1): a search result must not make the trader read its own or its
    network's services."""
    headers = {
        "Accept": "text/html, application/xhtml+xml;q=0.9, text/plain;q=0.5",
        "User-Agent": USER_AGENT,
    }
    try:
        async with asyncio.timeout(timeout):
            for _ in range(MAX_REDIRECTS + 1):
                if private_hosts:
                    target = Target(url)
                else:
                    target = await public_target(url, allowed=private_origins, resolve=resolve)
                async with client.stream(
                    "GET",
                    target.url,
                    headers=headers | target.headers,
                    extensions=target.extensions,
                    follow_redirects=False,
                    timeout=timeout,
                ) as response:
                    if not response.has_redirect_location:
                        return await _body(response, max_bytes)
                    # joined to the link as named, not to the address it was read from
                    url = str(httpx.URL(url).join(response.headers["location"]))
    except TimeoutError:
        raise FetchError("timed out") from None
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise FetchError(type(exc).__name__) from exc
    raise FetchError(f"more than {MAX_REDIRECTS} redirects")


async def _body(response: httpx.Response, max_bytes: int) -> bytes:
    if response.status_code != 200:
        raise FetchError(f"HTTP {response.status_code}")
    kind = response.headers.get("content-type", "text/html").lower()
    if "html" not in kind and not kind.startswith("text/"):
        raise FetchError(f"not a page ({kind.split(';')[0]})")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise FetchError(f"page over {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _extract(html: bytes, url: str) -> Page:
    import trafilatura  # loaded only when retrieval reads a page

    document = trafilatura.bare_extraction(
        html,
        url=url,
        with_metadata=True,
        include_comments=False,
        include_tables=False,
        include_images=False,
        favor_precision=True,
    )
    if document is None or isinstance(document, dict):
        return Page("", "", None)
    text = (document.text or "").strip()[:MAX_TEXT]
    return Page(text, (document.title or "").strip(), _day(document.date))


def _day(value: object) -> date | None:
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _extractor() -> ThreadPoolExecutor:
    """The extraction pool, made on first use (again after `close_extractor`)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(EXTRACT_WORKERS, thread_name_prefix=EXTRACT_THREAD_PREFIX)
        return _pool


def close_extractor() -> None:
    """Shut the extraction pool down (the signal runtime's close); a no-op if never used.
    Queued extractions are cancelled; one that is running finishes on its thread."""
    global _pool
    with _pool_lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=False, cancel_futures=True)


async def extract(html: bytes, url: str) -> Page:
    """The page's text, off the event loop on the extraction pool (never the default executor,
    which the database writes share); `FetchError` if the extractor fails on it."""
    loop = asyncio.get_running_loop()
    try:
        return await loop.run_in_executor(_extractor(), _extract, html, url)
    except Exception as exc:  # a page that breaks the parser costs its own text only
        raise FetchError(f"not extracted ({type(exc).__name__})") from exc


def end_of_day(day: date) -> datetime:
    """A page's day-precision date as the last second of that day (UTC): the latest it could
    have been published, so an article dated today is not taken as published before now."""
    return datetime.combine(day, time(23, 59, 59), tzinfo=UTC)

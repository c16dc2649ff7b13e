"""Fetch an article and reduce it to its text with trafilatura (a kept library: boilerplate,
navigation, comments and scripts are what it is built to remove).

`fetch_page` reads at most `max_bytes` of an HTML page and raises `FetchError` on an error
status, a body that is not HTML or text, a body too large, or a transport failure. Redirects
are followed by hand (at most `MAX_REDIRECTS`, within the same timeout) so that every hop's
host is checked: a host is refused when it, or any address it resolves to, is loopback,
private, link-local, reserved, multicast or unspecified (numeric forms such as `2130706433`
or `127.1` resolve like any name). `extract` runs trafilatura on a small dedicated thread
pool (CPU work on an lxml tree), not on the default executor the database writes use, and
returns the main text and the page's own date, if it states one.

trafilatura is imported on first use: a configuration without retrieval never loads it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import threading
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from urllib.parse import urlsplit

import httpx

MAX_TEXT = 20_000  # characters of an article kept for summarising
MAX_REDIRECTS = 5
EXTRACT_WORKERS = 2
EXTRACT_THREAD_PREFIX = "polyops-extract"
USER_AGENT = "Polyops/0.1 (news retrieval for forecasts)"


class FetchError(Exception):
    pass


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
                if not private_hosts:
                    await refuse_private(url, allowed=private_origins)
                async with client.stream(
                    "GET", url, headers=headers, follow_redirects=False, timeout=timeout
                ) as response:
                    if response.next_request is None:
                        return await _body(response, max_bytes)
                    url = str(response.next_request.url)
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


async def refuse_private(url: str, *, allowed: Collection[str] = ()) -> None:
    """`FetchError` for a link that is not http(s), whose host is `localhost`, or whose host
    resolves to any address that is not public; `allowed` holds `host:port` origins let
    through (tests). The check resolves the name once; httpx resolves it again to connect."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise FetchError(f"refused scheme {parts.scheme or '(none)'}")
    host = (parts.hostname or "").casefold()
    if not host or host == "localhost" or host.endswith(".localhost"):
        raise FetchError(f"refused host {host or '(none)'}")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise FetchError(f"bad port in {host}") from exc
    if f"{host}:{port}" in allowed:
        return
    try:
        found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise FetchError(f"cannot resolve {host}") from exc
    for *_, sockaddr in found:
        address = str(sockaddr[0])
        if not _public(address):
            raise FetchError(f"refused private address {host} ({address})")


def _public(text: str) -> bool:
    address: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(
        text.split("%", 1)[0]
    )
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_reserved
        or address.is_multicast
        or address.is_unspecified
    )


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

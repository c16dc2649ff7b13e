"""Fetch an article and reduce it to its text with trafilatura (a kept library: boilerplate,
navigation, comments and scripts are what it is built to remove).

`fetch_page` reads at most `max_bytes` of an HTML page (redirects followed, within the same
timeout) and raises `FetchError` on an error status, a body that is not HTML or text, a body
too large, or a transport failure. `extract` runs trafilatura off the event loop (it is CPU
work on an lxml tree) and returns the main text and the page's own date, if it states one.

trafilatura is imported on first use: a configuration without retrieval never loads it.
"""

from __future__ import annotations

import asyncio
import ipaddress
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from urllib.parse import urlsplit

import httpx

MAX_TEXT = 20_000  # characters of an article kept for summarising
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
) -> bytes:
    """The page at `url`; a link to this machine or a private network is refused unless
    `private_hosts` (tests serve pages on 127.0.0.1): a search result must not make the trader
    read its own or its network's services."""
    if not private_hosts:
        refuse_private(url)
    headers = {
        "Accept": "text/html, application/xhtml+xml;q=0.9, text/plain;q=0.5",
        "User-Agent": USER_AGENT,
    }
    try:
        async with asyncio.timeout(timeout):
            async with client.stream(
                "GET", url, headers=headers, follow_redirects=True, timeout=timeout
            ) as response:
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
    except TimeoutError:
        raise FetchError("timed out") from None
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise FetchError(type(exc).__name__) from exc
    return b"".join(chunks)


def refuse_private(url: str) -> None:
    """`FetchError` for a link whose host is `localhost` or a loopback, private, link-local or
    reserved address. (A public name that resolves to a private address is not caught here;
    redirects are followed by httpx without this check.)"""
    host = (urlsplit(url).hostname or "").casefold()
    if not host or host == "localhost" or host.endswith(".localhost"):
        raise FetchError(f"refused host {host or '(none)'}")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return
    if address.is_private or address.is_loopback or address.is_link_local or address.is_reserved:
        raise FetchError(f"refused private address {host}")


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


async def extract(html: bytes, url: str) -> Page:
    """The page's text, off the event loop; `FetchError` if the extractor fails on it."""
    try:
        return await asyncio.to_thread(_extract, html, url)
    except Exception as exc:  # a page that breaks the parser costs its own text only
        raise FetchError(f"not extracted ({type(exc).__name__})") from exc


def end_of_day(day: date) -> datetime:
    """A page's day-precision date as the last second of that day (UTC): the latest it could
    have been published, so an article dated today is not taken as published before now."""
    return datetime.combine(day, time(23, 59, 59), tzinfo=UTC)

"""Which links retrieval may read, and where it connects to read them.

A search result or a redirect must not make the trader read its own or its network's services
(server-side request forgery). `public_target` refuses a link that is not http(s), whose host
is `localhost`, or whose host resolves to any address that is loopback, private, link-local,
reserved, multicast or unspecified (numeric forms such as `2130706433` or `127.1` resolve like
any name). It resolves the name once and the request then goes to the address it checked: the
URL names that address, the `Host` header and TLS (SNI and the certificate's check) the name.
A name that resolves to a public address for the check and to a private one for the connection
(DNS rebinding) is therefore never read from the private one: there is no second resolution.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field

import httpx

# (host, port) -> the addresses it resolves to, in the resolver's order
Resolver = Callable[[str, int], Awaitable[list[str]]]


class FetchError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Target:
    """Where one request goes: `url` (the checked address in place of the name), the headers
    that keep the name (`Host`) and the request extensions (the TLS server name)."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    extensions: dict[str, str] = field(default_factory=dict)


async def system_resolver(host: str, port: int) -> list[str]:
    found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(sockaddr[0]) for *_, sockaddr in found]


async def public_target(
    url: str, *, allowed: Collection[str] = (), resolve: Resolver = system_resolver
) -> Target:
    """The request for `url` pinned to a checked public address; `FetchError` when it may not
    be read. `allowed` holds `host:port` origins that count as public, named in the link or
    resolved (tests serve on 127.0.0.1)."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise FetchError(f"bad link ({exc})") from exc
    if parsed.scheme not in ("http", "https"):
        raise FetchError(f"refused scheme {parsed.scheme or '(none)'}")
    host = parsed.host.casefold()
    if not host or host == "localhost" or host.endswith(".localhost"):
        raise FetchError(f"refused host {host or '(none)'}")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    if f"{host}:{port}" in allowed:
        return Target(url)
    try:
        addresses = await resolve(host, port)
    except (OSError, UnicodeError) as exc:
        raise FetchError(f"cannot resolve {host}") from exc
    if not addresses:
        raise FetchError(f"cannot resolve {host}")
    for address in addresses:
        if not is_public(address) and f"{address}:{port}" not in allowed:
            raise FetchError(f"refused private address {host} ({address})")
    address = addresses[0].split("%", 1)[0]
    if address == host:  # a numeric link: nothing to pin
        return Target(url)
    pinned = str(parsed.copy_with(host=address))
    extensions = {"sni_hostname": host} if parsed.scheme == "https" else {}
    return Target(pinned, {"Host": parsed.netloc.decode("ascii")}, extensions)


def is_public(text: str) -> bool:
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

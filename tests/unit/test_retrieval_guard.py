"""Where retrieval connects to read a link: the address its check resolved, under the link's
own name (Host, TLS server name), and never a link that resolves to any private address."""

from __future__ import annotations

import re

import pytest

from trader.signals.retrieval.guard import FetchError, Resolver, public_target


def resolving(*addresses: str) -> Resolver:
    async def resolve(host: str, port: int) -> list[str]:
        return list(addresses)

    return resolve


async def test_an_https_link_is_pinned_to_its_checked_address_with_its_name_for_tls() -> None:
    target = await public_target(
        "https://news.example:8443/fed?cut=1", resolve=resolving("93.184.216.34")
    )

    assert target.url == "https://93.184.216.34:8443/fed?cut=1"
    assert target.headers == {"Host": "news.example:8443"}
    assert target.extensions == {"sni_hostname": "news.example"}


async def test_a_plain_http_link_keeps_its_name_in_the_host_header_only() -> None:
    target = await public_target("http://news.example/a", resolve=resolving("2001:4860::8888"))

    assert target.url == "http://[2001:4860::8888]/a"
    assert target.headers == {"Host": "news.example"}
    assert target.extensions == {}


async def test_a_name_with_one_private_address_among_public_ones_is_refused() -> None:
    with pytest.raises(
        FetchError, match=re.escape("refused private address news.example (10.1.2.3)")
    ):
        await public_target("http://news.example/", resolve=resolving("93.184.216.34", "10.1.2.3"))


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("file:///etc/passwd", "refused scheme file"),
        ("http://localhost:8080/", "refused host localhost"),
        ("http://api.localhost/", "refused host api.localhost"),
    ],
)
async def test_links_that_are_never_read_whatever_they_resolve_to(url: str, reason: str) -> None:
    with pytest.raises(FetchError, match=re.escape(reason)):
        await public_target(url, resolve=resolving("93.184.216.34"))


async def test_a_name_that_resolves_to_nothing_is_refused() -> None:
    with pytest.raises(FetchError, match=re.escape("cannot resolve news.example")):
        await public_target("http://news.example/", resolve=resolving())

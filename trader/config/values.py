"""The settings' shared value rules: comma-separated lists, name=value pairs, instance names,
URLs, and the constants the validators and the cross-field checks both use."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Annotated

from pydantic_settings import NoDecode

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./data/polyops.db"
DATA_DIRECTORY = Path("data")  # the default database's directory, created on first use
HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
PHONE = re.compile(r"^\d{6,15}$")
ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
# POLYMARKET_SIGNATURE_TYPE: the wallet that holds the money and makes the orders
SIGNATURE_TYPES = {
    "0": "EOA",
    "1": "Polymarket proxy",
    "2": "Gnosis Safe",
    "3": "deposit wallet, the default",
}
TELEGRAM_TOKEN = re.compile(r"\d+:[A-Za-z0-9_-]+")
# an instance's name: short, lower case, safe in buttons' callback data and in URLs
INSTANCE_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,23}$")
MIN_CONTROL_SECRET = 32
ROLES = ("operator", "viewer")
RETRIEVAL_PROVIDERS = ("gdelt", "exa")

IdList = Annotated[tuple[int, ...], NoDecode]
PhoneList = Annotated[tuple[str, ...], NoDecode]
UrlList = Annotated[tuple[str, ...], NoDecode]


def split_list(value: object) -> list[str]:
    """'a, b,,c' (or a list) -> ['a', 'b', 'c']; ValueError for anything else."""
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list | tuple):
        return [str(part).strip() for part in value if str(part).strip()]
    raise ValueError("expected a comma-separated list")


def instance_name(value: str) -> str:
    """A valid instance name or ValueError (`all` addresses every instance in the hub)."""
    name = value.strip()
    if not INSTANCE_NAME.fullmatch(name) or name == "all":
        raise ValueError(
            f"expected a short lower-case name (a-z, 0-9, - and _, not 'all'), got {value!r}"
        )
    return name


def name_pairs(value: object, what: str) -> list[tuple[str, str]]:
    """'alpha=x,beta=y' -> [('alpha', 'x'), ('beta', 'y')]: names valid and unique."""
    pairs: list[tuple[str, str]] = []
    for part in split_list(value):
        name, sep, rest = part.partition("=")
        if not sep or not rest.strip():
            raise ValueError(f"expected name=value pairs separated by commas, for {what}")
        pairs.append((instance_name(name), rest.strip()))
    names = [name for name, _ in pairs]
    if len(set(names)) != len(names):
        raise ValueError("an instance name appears twice")
    return pairs


def http_url(value: str | None) -> str | None:
    """An http(s) URL without its trailing slash (None stays None), or ValueError."""
    if value is None:
        return None
    if not value.startswith(("http://", "https://")):
        raise ValueError("expected an http:// or https:// URL")
    return value.rstrip("/")


def is_loopback(host: str) -> bool:
    """`localhost` or a loopback address (127.0.0.0/8, ::1): reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False

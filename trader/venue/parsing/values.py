"""Scalar readers for venue payloads: numbers, timestamps, sides, JSON-encoded lists.

Shared by `trader.venue.parsing.rest` (REST) and `trader.venue.parsing.stream` (WebSocket); pure.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from trader.domain import Side

Payload = Mapping[str, Any]

_EPOCH_MS_THRESHOLD = 100_000_000_000  # anything larger is milliseconds (year 5138 in seconds)


class ParseError(ValueError):
    """A payload did not have the shape the venue documents."""


def to_decimal(value: object, name: str = "value", *, default: Decimal | None = None) -> Decimal:
    """A `Decimal` from a wire number (string, int, float); `default` for None or ""."""
    if value is None or value == "":
        if default is None:
            raise ParseError(f"{name} is missing")
        return default
    if isinstance(value, bool):
        raise ParseError(f"{name} must be a number, got a bool")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int | float | str):
        try:
            result = Decimal(str(value).strip())
        except InvalidOperation as error:
            raise ParseError(f"{name} is not a number: {value!r}") from error
    else:
        raise ParseError(f"{name} must be a number, got {type(value).__name__}")
    if not result.is_finite():
        raise ParseError(f"{name} is not finite: {value!r}")
    return result


def optional_decimal(value: object, name: str = "value") -> Decimal | None:
    if value is None or value == "":
        return None
    return to_decimal(value, name)


def parse_timestamp(value: object, name: str = "timestamp") -> datetime | None:
    """Epoch seconds, epoch milliseconds or ISO 8601 to aware UTC; None for None, "" or "0"."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = str(value).strip()
    try:
        number = Decimal(text)
    except InvalidOperation:
        return _parse_iso(text, name)
    if not number.is_finite() or number <= 0:
        return None
    seconds = number / 1000 if number > _EPOCH_MS_THRESHOLD else number
    return datetime.fromtimestamp(float(seconds), UTC)


def _parse_iso(text: str, name: str) -> datetime:
    candidate = text.replace("Z", "+00:00")
    if candidate.endswith(("+00", "-00")):  # Gamma's "2020-11-02 16:31:01+00"
        candidate += ":00"
    try:
        parsed = datetime.fromisoformat(candidate)
    except ValueError as error:
        raise ParseError(f"{name} is not a timestamp: {text!r}") from error
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def require_timestamp(payload: Payload, *names: str) -> datetime:
    """The first present timestamp among `names`."""
    for name in names:
        parsed = parse_timestamp(payload.get(name), name)
        if parsed is not None:
            return parsed
    raise ParseError(f"no timestamp in any of {', '.join(names)}")


def parse_side(value: object) -> Side:
    text = str(value or "").strip().upper()
    if text in ("BUY", "SELL"):
        return Side(text)
    raise ParseError(f"side must be BUY or SELL, got {value!r}")


def json_list(value: object, name: str) -> list[Any]:
    """A list that may arrive JSON-encoded as a string (Gamma does this)."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as error:
            raise ParseError(f"{name} is not a JSON list: {value!r}") from error
    if not isinstance(value, list):
        raise ParseError(f"{name} must be a list, got {type(value).__name__}")
    return value


def as_payloads(value: object) -> Sequence[Payload]:
    """A list of objects, or one object as a list of one."""
    if isinstance(value, Mapping):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, Mapping)]
    return []

"""Pure parts of the store: JSON-safe payloads, database URLs, column type conversions."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from uuid import UUID

import pytest
from sqlalchemy.dialects import postgresql, sqlite

from trader.domain import Actor, OrderStatus, Severity, Side
from trader.store.db import dumps_json, normalize_url, safe_url, sqlite_file, to_jsonable
from trader.store.types import DecimalType, UTCDateTime


@dataclass(frozen=True)
class _Quote:
    side: Side
    price: Decimal


def test_to_jsonable_converts_money_times_enums_and_containers() -> None:
    value = {
        "price": Decimal("0.450"),
        "at": datetime(2026, 1, 1, 1, tzinfo=timezone(timedelta(hours=1))),
        "day": date(2026, 1, 2),
        "status": OrderStatus.LIVE,
        Severity.CRITICAL: {"nested": (1, 2.5, None, True)},
        "quote": _Quote(Side.SELL, Decimal("0.1")),
        "actor": Actor("telegram", "42"),
        "ids": frozenset({"a"}),
        "uuid": UUID(int=1),
        7: "int key",
    }

    assert to_jsonable(value) == {
        "price": "0.450",
        "at": "2026-01-01T00:00:00+00:00",
        "day": "2026-01-02",
        "status": "LIVE",
        "critical": {"nested": [1, 2.5, None, True]},
        "quote": {"side": "SELL", "price": "0.1"},
        "actor": {"channel": "telegram", "user_id": "42", "name": ""},
        "ids": ["a"],
        "uuid": "00000000-0000-0000-0000-000000000001",
        "7": "int key",
    }


def test_to_jsonable_makes_postgresql_safe_text() -> None:
    cleaned = to_jsonable({"nan": float("nan"), "inf": float("-inf"), "nul": "a\x00b"})

    assert cleaned == {"nan": "nan", "inf": "-inf", "nul": "ab"}
    json.loads(json.dumps(cleaned, allow_nan=False))  # strict JSON


def test_to_jsonable_refuses_naive_datetimes_and_unknown_objects() -> None:
    with pytest.raises(ValueError, match="naive"):
        to_jsonable({"at": datetime(2026, 1, 1)})  # noqa: DTZ001
    with pytest.raises(TypeError, match="Path"):
        to_jsonable([Path("data")])
    with pytest.raises(TypeError, match="key"):
        to_jsonable({(1, 2): "tuple key"})


def test_dumps_json_is_compact_and_keeps_unicode() -> None:
    assert dumps_json({"q": "Élection?", "p": Decimal("0.5")}) == '{"q":"Élection?","p":"0.5"}'


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("sqlite:///data/x.db", "sqlite+aiosqlite:///data/x.db"),
        ("sqlite+aiosqlite:////abs/x.db", "sqlite+aiosqlite:////abs/x.db"),
        ("postgres://u:pw@db:5432/polyops", "postgresql+asyncpg://u:pw@db:5432/polyops"),
        ("postgresql://u@db/polyops", "postgresql+asyncpg://u@db/polyops"),
        ("postgresql+asyncpg://u@db/polyops", "postgresql+asyncpg://u@db/polyops"),
    ],
)
def test_normalize_url_picks_the_async_driver(given: str, expected: str) -> None:
    assert normalize_url(given).render_as_string(hide_password=False) == expected


def test_normalize_url_refuses_other_databases_without_showing_the_password() -> None:
    with pytest.raises(ValueError, match="unsupported") as caught:
        normalize_url("mysql://root:hunter2@db/x")
    assert "hunter2" not in str(caught.value)


def test_safe_url_masks_the_password() -> None:
    masked = safe_url("postgresql+asyncpg://trader:s3cret@db/polyops")
    assert "s3cret" not in masked
    assert masked.startswith("postgresql+asyncpg://trader:***@db")


def test_sqlite_file_is_none_for_memory_and_uri_databases() -> None:
    assert sqlite_file(normalize_url("sqlite+aiosqlite:///./data/p.db")) == Path("data/p.db")
    assert sqlite_file(normalize_url("sqlite+aiosqlite://")) is None
    assert sqlite_file(normalize_url("sqlite+aiosqlite:///:memory:")) is None
    assert sqlite_file(normalize_url("postgresql+asyncpg://u@h/db")) is None


SQLITE = sqlite.dialect()
POSTGRESQL = postgresql.dialect()


def test_decimal_type_binds_text_on_sqlite_and_decimal_on_postgresql() -> None:
    money = DecimalType()
    assert money.process_bind_param(Decimal("0.10"), SQLITE) == "0.10"
    assert money.process_bind_param(Decimal("0.10"), POSTGRESQL) == Decimal("0.10")
    assert money.process_bind_param(3, SQLITE) == "3"
    assert money.process_result_value("0.10", SQLITE) == Decimal("0.10")
    assert money.process_bind_param(None, SQLITE) is None


@pytest.mark.parametrize("bad", [0.1, "0.1", Decimal("NaN"), Decimal("Infinity")])
def test_decimal_type_refuses_floats_text_and_non_finite(bad: object) -> None:
    with pytest.raises((TypeError, ValueError)):
        DecimalType().process_bind_param(bad, SQLITE)


def test_utc_datetime_stores_utc_and_reads_aware() -> None:
    moment = datetime(2026, 6, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    stamp = UTCDateTime()

    stored = stamp.process_bind_param(moment, SQLITE)
    assert stored == datetime(2026, 6, 1, 12, 0)  # noqa: DTZ001 - naive UTC is what SQLite keeps
    assert stamp.process_result_value(stored, SQLITE) == moment
    assert stamp.process_result_value(stored, SQLITE).tzinfo is UTC  # type: ignore[union-attr]
    assert stamp.process_bind_param(moment, POSTGRESQL) == moment

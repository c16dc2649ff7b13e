"""Column types that behave the same on SQLite and PostgreSQL.

`DecimalType` keeps money exact: NUMERIC (unconstrained, so the scale written is the scale read)
on PostgreSQL, and the Decimal's exact string in a TEXT column on SQLite, which has no decimal
type (its NUMERIC affinity would turn "0.10" into the float 0.1). The price of exactness on
SQLite: ordering, comparing or summing a money column in SQL works on text or floats there, so
do that arithmetic in Python (or on PostgreSQL only), never in a portable query.

`UTCDateTime` accepts only timezone-aware datetimes, stores UTC, and always returns aware UTC
datetimes (SQLite keeps no offset; values are written as naive UTC in one fixed format, so
comparisons and ORDER BY on them are correct there too).

`JSON_TYPE` is JSON on SQLite and JSONB on PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Integer, Numeric, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

JSON_TYPE = JSON().with_variant(JSONB(), "postgresql")
"""JSON documents: JSONB on PostgreSQL (indexable), JSON text on SQLite."""

BIG_ID = BigInteger().with_variant(Integer(), "sqlite")
"""An autoincrement key: BIGSERIAL on PostgreSQL, INTEGER (the 64-bit rowid) on SQLite."""


class DecimalType(TypeDecorator[Decimal]):
    """Exact `Decimal`: NUMERIC on PostgreSQL, the decimal string in TEXT on SQLite."""

    impl = Numeric
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(Text())
        return dialect.type_descriptor(Numeric(asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if isinstance(value, float):  # a float here already lost the exact value
            raise TypeError(f"money columns take Decimal, not float ({value!r})")
        if isinstance(value, int):
            value = Decimal(value)
        if not isinstance(value, Decimal):
            raise TypeError(f"money columns take Decimal, not {type(value).__name__}")
        if not value.is_finite():
            raise ValueError(f"refusing to store a non-finite Decimal ({value})")
        return str(value) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if isinstance(value, Decimal):
            return value
        if isinstance(value, float):  # a row written outside Polyops, by hand in SQL
            return Decimal(repr(value))
        return Decimal(value)

    def process_literal_param(self, value: Any, dialect: Dialect) -> str:
        bound = self.process_bind_param(value, dialect)
        if bound is None:
            return "NULL"
        return f"'{bound}'" if dialect.name == "sqlite" else str(bound)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in, timezone-aware UTC out, on every database."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()}: timestamps must be aware UTC")
        utc: datetime = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime from the database, got {type(value).__name__}")
        aware: datetime = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC)

"""Correlation ids: the hex of a version-4 UUID, fresh every time."""

from __future__ import annotations

import uuid

from trader.domain import new_correlation_id


def test_correlation_ids_are_uuid4_hex_and_distinct() -> None:
    ids = [new_correlation_id() for _ in range(2000)]

    parsed = [uuid.UUID(hex=value) for value in ids]

    assert all(len(value) == 32 and value == u.hex for value, u in zip(ids, parsed, strict=True))
    assert {u.version for u in parsed} == {4}
    assert {u.variant for u in parsed} == {uuid.RFC_4122}
    assert len(set(ids)) == len(ids)
    # the 122 random bits do vary: every hex digit outside the fixed ones takes many values
    assert all(len({value[i] for value in ids}) > 8 for i in range(32) if i not in (12, 16))

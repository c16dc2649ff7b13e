"""The schema check's reader of migration files (`trader.store.schema`): literals only, one
head, and a clear error for a file it cannot read (never a silent wrong answer)."""

from __future__ import annotations

from pathlib import Path

import pytest

from trader.store import schema


def _write(directory: Path, name: str, body: str) -> None:
    (directory / f"{name}.py").write_text(body, encoding="utf-8")


def test_a_chain_with_a_merge_has_one_head(tmp_path: Path) -> None:
    _write(tmp_path, "a", 'revision = "a1"\ndown_revision = None\n')
    _write(tmp_path, "b", 'revision: str = "b2"\ndown_revision: str | None = "a1"\n')
    _write(tmp_path, "c", 'revision = "c3"\ndown_revision = "a1"\n')
    _write(tmp_path, "m", 'revision = "m4"\ndown_revision = ("b2", "c3")\n')
    _write(tmp_path, "__init__", "")

    revisions = schema.read_revisions(tmp_path)

    assert set(revisions) == {"a1", "b2", "c3", "m4"}
    assert revisions["m4"].down == ("b2", "c3")
    assert schema.heads(revisions.values()) == {"m4"}


def test_two_branches_are_two_heads(tmp_path: Path) -> None:
    _write(tmp_path, "a", 'revision = "a1"\ndown_revision = None\n')
    _write(tmp_path, "b", 'revision = "b2"\ndown_revision = "a1"\n')
    _write(tmp_path, "c", 'revision = "c3"\ndown_revision = "a1"\n')

    assert schema.heads(schema.read_revisions(tmp_path).values()) == {"b2", "c3"}


def test_a_revision_that_is_not_a_literal_is_an_error_naming_the_file(tmp_path: Path) -> None:
    _write(tmp_path, "x", 'PREFIX = "ab"\nrevision = PREFIX + "1"\ndown_revision = None\n')

    with pytest.raises(RuntimeError, match=r"x\.py: `revision` is not a literal"):
        schema.read_revisions(tmp_path)


def test_a_revision_declared_twice_is_an_error(tmp_path: Path) -> None:
    _write(tmp_path, "a", 'revision = "a1"\ndown_revision = None\n')
    _write(tmp_path, "b", 'revision = "a1"\ndown_revision = None\n')

    with pytest.raises(RuntimeError, match="declared twice"):
        schema.read_revisions(tmp_path)

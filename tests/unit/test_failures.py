from __future__ import annotations

from sqlalchemy import exc

from trader.ops.failures import MAX_MESSAGE, describe_failure


def test_a_wrapped_statement_is_cut_from_any_message() -> None:
    error = RuntimeError("report failed\n[SQL: SELECT * FROM fills]\n[parameters: (1,)]")

    assert describe_failure(error) == "RuntimeError: report failed"


def test_an_integrity_error_is_words_and_its_class() -> None:
    error = exc.IntegrityError("INSERT INTO orders VALUES (?)", ("x",), Exception("UNIQUE"))

    described = describe_failure(error)

    assert described.startswith("database error: the database refused a write")
    assert "(IntegrityError)" in described
    assert "INSERT" not in described


def test_a_long_message_is_cut_short_and_a_bare_error_is_its_class() -> None:
    assert len(describe_failure(ValueError("x" * 1000))) == len("ValueError: ") + MAX_MESSAGE
    assert describe_failure(KeyError()) == "KeyError"

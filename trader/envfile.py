"""Checks on the `.env` file before the settings are read from it.

pydantic-settings reads `.env` through python-dotenv, which skips a line it cannot parse with
a warning, lets the last of two equal keys win, crashes on a file that is not UTF-8 and
silently ignores a `.env` that is a directory. Polyops promises one line per problem and exit
status 2 instead, so the file is checked here first with python-dotenv's own parser (the
same grammar the settings are then read with). A line's content is never repeated in a
problem: it may hold a secret.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

from dotenv.parser import Binding, parse_stream

ENCODING = "utf-8-sig"  # a byte-order mark some editors write is not part of the first name


def env_file_problems(path: str | Path) -> list[str]:
    """One line per problem with the settings file at `path`; none if it is absent."""
    name = str(path)
    file = Path(path)
    if not file.exists() and not file.is_symlink():
        return []  # no .env: the environment and the defaults only
    try:
        data = file.read_bytes()
    except IsADirectoryError:
        return [f"{name}: cannot be read (it is a directory, not a file)"]
    except OSError as error:
        return [f"{name}: cannot be read ({error.strerror or error})"]
    try:
        text = data.decode(ENCODING)
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        return [f"{name}: line {line} is not UTF-8 text (save the file as UTF-8)"]
    return _binding_problems(name, parse_stream(io.StringIO(text)))


def _binding_problems(name: str, bindings: Iterator[Binding]) -> list[str]:
    problems: list[str] = []
    first_line: dict[str, int] = {}
    for binding in bindings:
        line = _line_of(binding)
        if binding.error:
            problems.append(f"{name}: line {line} is not NAME=value (line not shown)")
            continue
        if binding.key is None:  # a comment or a blank line
            continue
        key = binding.key.upper()  # settings names are case-insensitive
        if key in first_line:
            problems.append(
                f"{name}: {key} is set twice (lines {first_line[key]} and {line}); keep one"
            )
        else:
            first_line[key] = line
    return problems


def _line_of(binding: Binding) -> int:
    """The line a binding starts on: python-dotenv counts the blank lines before it too."""
    text = binding.original.string
    leading = text[: len(text) - len(text.lstrip())]
    return binding.original.line + leading.count("\n")

"""The Control API's typed results as JSON and back, for the Control API over HTTP.

`encode` turns a result (a dataclass from `trader.control.types`, `trader.state` or
`trader.domain`, a list of them, a bool, a str) into plain JSON: Decimals as strings (never a
float), datetimes as ISO 8601 with their offset, enums by value, tuples as lists. `decode`
reads it back into the declared type, driven by the dataclasses' own annotations, so a new
field needs no change here. A `Path` (a chart, a report's dashboard) is a file on the trader's
machine: it travels as its bytes (base64) and is written to the reader's own directory.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import types
import typing
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar, cast

T = TypeVar("T")
MAX_FILE_BYTES = 8 * 1024 * 1024  # a dashboard PNG is a few hundred kB


class WireError(ValueError):
    """A payload that does not fit the type it should carry."""


def encode(value: object) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Path):
        return _encode_file(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [encode(item) for item in value]
    if isinstance(value, dict):
        return {str(key): encode(item) for key, item in value.items()}
    raise WireError(f"cannot encode a {type(value).__name__}")


def _encode_file(path: Path) -> dict[str, str]:
    data = path.read_bytes()
    if len(data) > MAX_FILE_BYTES:
        raise WireError(f"{path.name} is larger than {MAX_FILE_BYTES} bytes")
    return {"name": path.name, "data": base64.b64encode(data).decode("ascii")}


def decode(raw: Any, kind: Any, *, files: Path | None = None) -> Any:
    """`raw` (from `encode`) as a value of `kind`. `files`: where received files are written."""
    return _Decoder(files).value(raw, kind)


def decode_as(raw: Any, kind: type[T], *, files: Path | None = None) -> T:
    return cast(T, decode(raw, kind, files=files))


class _Decoder:
    def __init__(self, files: Path | None) -> None:
        self._files = files

    def value(self, raw: Any, kind: Any) -> Any:  # noqa: C901 - one case per type shape
        if kind is Any or kind is object:
            return raw
        origin = typing.get_origin(kind)
        if origin in (types.UnionType, typing.Union):
            return self._union(raw, typing.get_args(kind))
        if origin in (list, tuple, dict):
            return self._container(raw, origin, typing.get_args(kind))
        if raw is None:
            raise WireError(f"missing value for {getattr(kind, '__name__', kind)}")
        if kind is Decimal:
            return Decimal(str(raw))
        if kind is datetime:
            return datetime.fromisoformat(str(raw))
        if kind is date:
            return date.fromisoformat(str(raw))
        if kind is Path:
            return self._file(raw)
        if isinstance(kind, type) and issubclass(kind, Enum):
            return kind(raw)
        if kind in (bool, int, float, str):
            return self._scalar(raw, kind)
        if dataclasses.is_dataclass(kind) and isinstance(kind, type):
            return self._dataclass(raw, kind)
        raise WireError(f"cannot decode into {kind!r}")

    def _union(self, raw: Any, options: tuple[Any, ...]) -> Any:
        if raw is None and type(None) in options:
            return None
        for option in (o for o in options if o is not type(None)):
            try:
                return self.value(raw, option)
            except (WireError, ValueError, TypeError, ArithmeticError):
                continue
        raise WireError(f"{raw!r} fits none of {options}")

    def _container(self, raw: Any, origin: Any, args: tuple[Any, ...]) -> Any:
        if origin is dict:
            if not isinstance(raw, dict):
                raise WireError("expected an object")
            key, item = args or (str, Any)
            return {self.value(k, key): self.value(v, item) for k, v in raw.items()}
        if not isinstance(raw, list):
            raise WireError("expected a list")
        if origin is list:
            return [self.value(item, args[0] if args else Any) for item in raw]
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(self.value(item, args[0]) for item in raw)
        if len(args) != len(raw):
            raise WireError("a tuple of the wrong length")
        return tuple(self.value(item, arg) for item, arg in zip(raw, args, strict=True))

    @staticmethod
    def _scalar(raw: Any, kind: type) -> Any:
        if kind is float and isinstance(raw, int | float) and not isinstance(raw, bool):
            return float(raw)
        if type(raw) is not kind:
            raise WireError(f"expected {kind.__name__}, got {type(raw).__name__}")
        return raw

    def _dataclass(self, raw: Any, kind: type) -> Any:
        if not isinstance(raw, dict):
            raise WireError(f"expected an object for {kind.__name__}")
        hints = typing.get_type_hints(kind)
        values = {}
        for f in dataclasses.fields(kind):
            if f.name in raw:
                values[f.name] = self.value(raw[f.name], hints[f.name])
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise WireError(f"{kind.__name__}.{f.name} is missing")
        return kind(**values)

    def _file(self, raw: Any) -> Path:
        if self._files is None:
            raise WireError("a file arrived and there is nowhere to put it")
        if not isinstance(raw, dict) or "data" not in raw:
            raise WireError("expected a file")
        data = base64.b64decode(str(raw["data"]), validate=True)
        suffix = Path(str(raw.get("name", "file"))).suffix[:8]
        self._files.mkdir(parents=True, exist_ok=True)
        # named by content: a name from the other side never picks the path
        path = self._files / f"{hashlib.sha256(data).hexdigest()[:24]}{suffix}"
        path.write_bytes(data)
        return path

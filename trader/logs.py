"""Structured logging with an optional JSON format, and redaction of secrets.

Redaction works on the final formatted line, so a secret cannot leak through an exception
text, a repr of a request or an `extra` field. What is replaced by `[REDACTED]`:

- registered secrets, exactly, wherever they appear (with or without a `0x` prefix): the
  settings' secrets at start-up, and the L2 API credentials the venue derives when it connects;
- the credentials inside a registered URL (`url_secrets`: POLYGON_RPC_URL, RELAYER_HOST): its
  user and password, its query values, and its key-shaped path segments (Alchemy's `/v2/KEY`,
  Infura's `/v3/KEY`), so an SDK error naming the URL keeps the host and loses the key;
- strings whose shape only a secret has: Telegram bot tokens (also inside a Bot API URL),
  Anthropic API keys, Meta Graph access tokens;
- a 64-hex-digit string (with or without `0x`) only where it is labelled as a secret: right
  after `key`, `private_key`, `secret`, `passphrase`, `password`, `mnemonic`, `seed` or
  `api_key` (any case, `_`/`-`/space spelling, as `NAME=`, `NAME: `, `"NAME": "`, `NAME is `).

A bare 64-hex string is left alone: condition ids, order hashes and transaction hashes have
that shape too, and a log that hides them cannot be followed. A private key is always a
registered secret (POLYMARKET_PRIVATE_KEY), so the first rule masks it wherever it appears.
Long decimal token ids match no rule.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from urllib.parse import parse_qsl, unquote, urlsplit

from pydantic import SecretStr

REDACTED = "[REDACTED]"
_PATTERNS = (
    re.compile(r"\b\d{6,12}:[A-Za-z0-9_-]{30,}\b"),  # Telegram bot token
    re.compile(r"\bsk-ant-[A-Za-z0-9_-]{10,}\b"),  # Anthropic API key
    re.compile(r"\bEAA[A-Za-z0-9]{30,}\b"),  # Meta Graph API access token
    re.compile(r"(?i)(bot)(\d{6,12}:[A-Za-z0-9_-]{20,})"),  # token inside a Bot API URL
)
# A 32-byte hex value labelled as a secret (group 1 is the label, kept).
_LABELLED_HEX = re.compile(
    r"(?i)((?<![a-z])(?:private[_ -]?key|api[_ -]?key|key|secret|passphrase|password|mnemonic"
    r"|seed)[\"']?\s*(?:[:=]|\bis\b|\bwas\b)?\s*[\"']?)(?:0x)?[0-9a-f]{64}(?![0-9a-z])"
)
_KEY_SEGMENT_MIN = 16  # a path segment this long is a key (a 32-hex key, a 40-hex token)
_SHORT_KEY_MIN = 8  # a shorter one with a digit in it too
_STANDARD_ATTRS = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}


class Redactor:
    """Replaces registered secret values and secret-shaped strings."""

    def __init__(self) -> None:
        self._values: set[str] = set()

    def register(self, *secrets: SecretStr | str | None) -> None:
        for secret in secrets:
            value = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
            if value and len(value) >= 6:
                self._values.add(value)
                self._values.add(value.removeprefix("0x"))

    def __call__(self, text: str) -> str:
        for value in sorted(self._values, key=len, reverse=True):
            if value in text:
                text = text.replace(value, REDACTED)
        for pattern in _PATTERNS:
            text = pattern.sub(REDACTED, text)
        return _LABELLED_HEX.sub(lambda match: match.group(1) + REDACTED, text)


REDACTOR = Redactor()


def url_secrets(url: str | None) -> list[str]:
    """The parts of a provider URL that may be its key: the user and password, every query
    value, and each path segment that looks like a key (16+ characters, or 8+ with a digit);
    the scheme, host and words like `v2` or `polygon-mainnet` stay readable."""
    if not url:
        return []
    parts = urlsplit(url)
    found = [parts.username or "", parts.password or ""]
    found += [value for _, value in parse_qsl(parts.query, keep_blank_values=False)]
    for segment in (unquote(s) for s in parts.path.split("/")):
        if len(segment) >= _KEY_SEGMENT_MIN or (
            len(segment) >= _SHORT_KEY_MIN and any(c.isdigit() for c in segment)
        ):
            found.append(segment)
    return [value for value in found if value]


class _RedactingFormatter(logging.Formatter):
    def __init__(self, redactor: Redactor, *, as_json: bool) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")
        self._redactor = redactor
        self._json = as_json

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")

    def format(self, record: logging.LogRecord) -> str:
        if not self._json:
            line = super().format(record)
            extras = _extras(record)
            if extras:
                line += " " + " ".join(f"{key}={value}" for key, value in extras.items())
            return self._redactor(line)
        payload: dict[str, object] = {
            "ts": self.formatTime(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            **_extras(record),
        }
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return self._redactor(json.dumps(payload, default=str))


def _extras(record: logging.LogRecord) -> dict[str, object]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRS}


def setup_logging(
    level: str = "INFO",
    *,
    as_json: bool = False,
    secrets: Iterable[SecretStr | str | None] = (),
    stream: object = None,
) -> Redactor:
    """Configure the root logger once, at start-up (never at import time)."""
    REDACTOR.register(*secrets)
    handler = logging.StreamHandler(stream or sys.stderr)  # type: ignore[arg-type]
    handler.setFormatter(_RedactingFormatter(REDACTOR, as_json=as_json))
    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, "_polyops", False):
            root.removeHandler(existing)
    handler._polyops = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in _THIRD_PARTY:
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    return REDACTOR


# Libraries whose INFO lines are chatter to an operator (alembic's plugin set-up, every
# HTTP request, aiogram's polling notes, scheduler job runs): warnings and errors only.
# A parent covers its children unless a child sets its own level.
_THIRD_PARTY = (
    "aiogram",
    "aiohttp",
    "aiosqlite",
    "alembic",
    "anthropic",
    "apscheduler",
    "asyncio",
    "httpcore",
    "httpx",
    "sqlalchemy",
    "urllib3",
    "websockets",
    # HTTP/2 frame logs can carry request headers (API key, passphrase) at DEBUG
    "hpack",
    "h2",
)

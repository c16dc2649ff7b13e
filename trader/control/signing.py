"""HMAC-signed, timestamped requests for the Control API over HTTP.

Each trader has its own secret (CONTROL_API_SECRET); the hub holds each instance's. A request
carries three headers: the Unix time it was signed at, a random nonce, and
HMAC-SHA256(secret, "v1\\n{timestamp}\\n{nonce}\\n{METHOD}\\n{path}\\n{sha256(body)}") in hex.
The trader refuses a request that is unsigned, signed with another key or over another body,
older (or newer) than the allowed skew, or whose nonce it has already seen within that window
(a replay). The nonce cache only needs to hold a window's worth: an older nonce is refused
for its timestamp anyway.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections import OrderedDict
from dataclasses import dataclass

TIMESTAMP = "X-Polyops-Timestamp"
NONCE = "X-Polyops-Nonce"
SIGNATURE = "X-Polyops-Signature"
MAX_NONCES = 100_000


def _message(timestamp: str, nonce: str, method: str, path: str, body: bytes) -> bytes:
    digest = hashlib.sha256(body).hexdigest()
    return f"v1\n{timestamp}\n{nonce}\n{method.upper()}\n{path}\n{digest}".encode()


def sign(secret: str, method: str, path: str, body: bytes, *, now: float) -> dict[str, str]:
    """The headers for one request (a fresh nonce every time)."""
    timestamp = str(int(now))
    nonce = secrets.token_hex(16)
    mac = hmac.new(secret.encode(), _message(timestamp, nonce, method, path, body), "sha256")
    return {TIMESTAMP: timestamp, NONCE: nonce, SIGNATURE: mac.hexdigest()}


@dataclass(frozen=True, slots=True)
class Refusal:
    reason: str  # unsigned, malformed, stale, replayed, bad_signature
    detail: str


class Verifier:
    def __init__(self, secret: str, *, max_skew_s: float = 30.0) -> None:
        if not secret:
            raise ValueError("the Control API needs a secret")
        self._key = secret.encode()
        self._skew = max_skew_s
        self._seen: OrderedDict[str, float] = OrderedDict()

    def check(
        self, headers: dict[str, str], method: str, path: str, body: bytes, *, now: float
    ) -> Refusal | None:
        """None when the request is genuine and fresh (its nonce is then used up)."""
        timestamp, nonce, signature = (headers.get(h, "") for h in (TIMESTAMP, NONCE, SIGNATURE))
        if not (timestamp or nonce or signature):
            return Refusal("unsigned", "no signature headers")
        if not timestamp.isdigit() or not 16 <= len(nonce) <= 64 or len(signature) != 64:
            return Refusal("malformed", "signature headers malformed")
        expected = hmac.new(
            self._key, _message(timestamp, nonce, method, path, body), "sha256"
        ).hexdigest()
        if not hmac.compare_digest(expected, signature.lower()):
            return Refusal("bad_signature", "the signature does not match")
        skew = now - int(timestamp)
        if abs(skew) > self._skew:
            return Refusal("stale", f"signed {skew:.0f} s from now (allowed {self._skew:.0f} s)")
        self._forget(now)
        if nonce in self._seen:
            return Refusal("replayed", "this nonce was already used")
        self._seen[nonce] = now
        return None

    def _forget(self, now: float) -> None:
        horizon = now - 2 * self._skew
        while self._seen and (
            next(iter(self._seen.values())) < horizon or len(self._seen) > MAX_NONCES
        ):
            self._seen.popitem(last=False)

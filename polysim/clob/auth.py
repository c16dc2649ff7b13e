"""API keys, L1 and L2 request authentication, and the order heartbeat registry.

L1 (`POST /auth/api-key`, `GET /auth/derive-api-key`): headers `POLY_ADDRESS`,
`POLY_SIGNATURE`, `POLY_TIMESTAMP`, `POLY_NONCE`; the signature is an EIP-712 `ClobAuth`
message that must recover to `POLY_ADDRESS`. L2 (everything private): headers
`POLY_ADDRESS`, `POLY_API_KEY`, `POLY_PASSPHRASE`, `POLY_TIMESTAMP`, `POLY_SIGNATURE`, the last
being urlsafe-base64 HMAC-SHA256 over `timestamp + METHOD + path + body` keyed with the
urlsafe-base64-decoded secret; the path excludes the query string. Timestamps are seconds and
must be within `max_skew_s` of the simulator's clock.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from polysim.clob.signing import recover_clob_auth_signer


class AuthError(Exception):
    def __init__(self, message: str, *, status: int = 401) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class ApiKey:
    key: str
    secret: str
    passphrase: str
    address: str
    nonce: int

    def as_json(self) -> dict[str, str]:
        return {"apiKey": self.key, "secret": self.secret, "passphrase": self.passphrase}


class ApiKeyStore:
    def __init__(self) -> None:
        self._by_key: dict[str, ApiKey] = {}
        self._by_owner: dict[tuple[str, int], ApiKey] = {}

    def create(self, address: str, nonce: int) -> ApiKey | None:
        """A new key for (address, nonce), or None when one exists (the venue answers 400)."""
        if (address.lower(), nonce) in self._by_owner:
            return None
        return self._issue(address, nonce)

    def derive(self, address: str, nonce: int) -> ApiKey:
        return self._by_owner.get((address.lower(), nonce)) or self._issue(address, nonce)

    def get(self, key: str) -> ApiKey | None:
        return self._by_key.get(key)

    def all(self) -> list[ApiKey]:
        return list(self._by_key.values())

    def keys_for(self, address: str) -> list[ApiKey]:
        return [k for k in self._by_key.values() if k.address.lower() == address.lower()]

    def delete(self, key: str) -> bool:
        found = self._by_key.pop(key, None)
        if found is None:
            return False
        self._by_owner.pop((found.address.lower(), found.nonce), None)
        return True

    def _issue(self, address: str, nonce: int) -> ApiKey:
        issued = ApiKey(
            key=str(uuid.uuid4()),
            secret=base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
            passphrase=secrets.token_hex(32),
            address=address,
            nonce=nonce,
        )
        self._by_key[issued.key] = issued
        self._by_owner[(address.lower(), nonce)] = issued
        return issued


def hmac_signature(secret: str, message: str) -> str:
    key = base64.urlsafe_b64decode(secret + "=" * (-len(secret) % 4))
    digest = hmac.new(key, message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode()


def check_l1(
    headers: Mapping[str, str], *, chain_id: int, now: float, max_skew_s: float | None
) -> tuple[str, int]:
    """The (address, nonce) an L1 request proves control of."""
    address = _header(headers, "POLY_ADDRESS")
    signature = _header(headers, "POLY_SIGNATURE")
    timestamp = _header(headers, "POLY_TIMESTAMP")
    try:
        nonce = int(headers.get("POLY_NONCE", "0"))
    except ValueError as error:
        raise AuthError("Invalid L1 Request headers: bad POLY_NONCE") from error
    _check_timestamp(timestamp, now, max_skew_s)
    signer = recover_clob_auth_signer(
        address=address, signature=signature, timestamp=timestamp, nonce=nonce, chain_id=chain_id
    )
    if signer is None or signer.lower() != address.lower():
        raise AuthError("Invalid L1 Request headers: signature does not match POLY_ADDRESS")
    return address, nonce


def check_l2(
    store: ApiKeyStore,
    *,
    method: str,
    path: str,
    body: str,
    headers: Mapping[str, str],
    now: float,
    max_skew_s: float | None,
) -> ApiKey:
    """The API key an L2 request is signed with; AuthError (401) for anything wrong."""
    key = store.get(_header(headers, "POLY_API_KEY"))
    if key is None:
        raise AuthError("Unauthorized/Invalid api key")
    if _header(headers, "POLY_ADDRESS").lower() != key.address.lower():
        raise AuthError("Unauthorized/Invalid api key: address mismatch")
    if not hmac.compare_digest(_header(headers, "POLY_PASSPHRASE"), key.passphrase):
        raise AuthError("Unauthorized/Invalid api key: bad passphrase")
    timestamp = _header(headers, "POLY_TIMESTAMP")
    _check_timestamp(timestamp, now, max_skew_s)
    expected = hmac_signature(key.secret, f"{timestamp}{method.upper()}{path}{body}")
    if not hmac.compare_digest(_header(headers, "POLY_SIGNATURE"), expected):
        raise AuthError("Unauthorized/Invalid api key: bad signature")
    return key


def check_ws_auth(store: ApiKeyStore, auth: object) -> ApiKey | None:
    """The user channel sends the raw credentials in its first frame."""
    if not isinstance(auth, Mapping):
        return None
    key = store.get(str(auth.get("apiKey", "")))
    if key is None:
        return None
    secret_ok = hmac.compare_digest(str(auth.get("secret", "")), key.secret)
    passphrase_ok = hmac.compare_digest(str(auth.get("passphrase", "")), key.passphrase)
    return key if secret_ok and passphrase_ok else None


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    if not value:
        raise AuthError(f"Unauthorized: missing {name} header")
    return value


def _check_timestamp(value: str, now: float, max_skew_s: float | None) -> None:
    try:
        stamp = int(value)
    except ValueError as error:
        raise AuthError("Unauthorized: POLY_TIMESTAMP is not a number") from error
    if max_skew_s is not None and abs(now - stamp) > max_skew_s:
        raise AuthError("Unauthorized: POLY_TIMESTAMP is too far from the server's time")


class HeartbeatRegistry:
    """The order dead-man switch, per API key.

    The first accepted heartbeat (id "") arms it; each accepted one returns the id the next
    must carry. A send with the wrong id while armed is refused with the expected id and does
    not refresh the deadline. When the deadline passes, the owner's orders are cancelled and
    the registration ends; the next heartbeat arms it again with any id.
    """

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._expected: dict[str, str] = {}
        self._deadline: dict[str, float] = {}

    def beat(self, api_key: str, heartbeat_id: str, now: float) -> tuple[bool, str]:
        """(accepted, id): the next id when accepted, the expected one when not."""
        expected = self._expected.get(api_key)
        if expected is not None and heartbeat_id != expected:
            return False, expected
        fresh = str(uuid.uuid4())
        self._expected[api_key] = fresh
        self._deadline[api_key] = now + self.timeout_s
        return True, fresh

    def expired(self, now: float) -> list[str]:
        """API keys whose deadline passed; their registrations end."""
        lapsed = [key for key, deadline in self._deadline.items() if deadline < now]
        for key in lapsed:
            del self._deadline[key]
            del self._expected[key]
        return lapsed

    def armed(self) -> dict[str, float]:
        return dict(self._deadline)


__all__ = [
    "ApiKey",
    "ApiKeyStore",
    "AuthError",
    "HeartbeatRegistry",
    "check_l1",
    "check_l2",
    "check_ws_auth",
    "hmac_signature",
]

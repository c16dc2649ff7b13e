"""Logins for the web page: password hashes, expiring sessions, CSRF tokens, confirmations.

Passwords are kept only as PBKDF2-SHA256 hashes (`hash_password`, which `trader web-password`
prints for WEB_USERS). A login makes a session: a random token in an HttpOnly, SameSite=Strict
cookie, the user's role, its own CSRF token (every form carries it; a POST without the right
one is refused) and an absolute expiry (WEB_SESSION_MINUTES). Sessions live in memory: a
restart logs everyone out, the safe direction. A destructive action (a kill) is confirmed with
a one-time token bound to the session, the instance and the action, expiring in two minutes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from trader.clock import Clock

ITERATIONS = 200_000
CONFIRM_TTL = timedelta(minutes=2)
MAX_SESSIONS = 1000
MAX_FAILURES = 5  # wrong passwords for one name within LOCKOUT ...
LOCKOUT = timedelta(minutes=15)  # ... refuse that name's logins for this long


class WebRole(StrEnum):
    OPERATOR = "operator"
    VIEWER = "viewer"


def hash_password(password: str, *, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    encoded = base64.b64encode(digest).decode()
    return f"pbkdf2_sha256${iterations}${base64.b64encode(salt).decode()}${encoded}"


def check_password(password: str, hashed: str) -> bool:
    try:
        scheme, iterations, salt, digest = hashed.split("$")
        if scheme != "pbkdf2_sha256":
            return False
        again = hashlib.pbkdf2_hmac(
            "sha256", password.encode(), base64.b64decode(salt), int(iterations)
        )
    except ValueError:
        return False
    return hmac.compare_digest(base64.b64encode(again).decode(), digest)


@dataclass(frozen=True, slots=True)
class User:
    name: str
    role: WebRole
    password_hash: str


@dataclass(frozen=True, slots=True)
class Session:
    token: str
    user: str
    role: WebRole
    csrf: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Confirmation:
    session: str
    instance: str
    action: str
    expires_at: datetime


class Sessions:
    def __init__(self, users: dict[str, User], clock: Clock, ttl: timedelta) -> None:
        self._users = users
        self._clock = clock
        self._ttl = ttl
        self._sessions: dict[str, Session] = {}
        self._confirmations: dict[str, Confirmation] = {}
        self._failures: dict[str, list[datetime]] = {}

    def locked(self, name: str) -> bool:
        """Too many wrong passwords for `name` lately: its logins are refused for a while."""
        horizon = self._clock.now() - LOCKOUT
        recent = [at for at in self._failures.get(name, []) if at > horizon]
        self._failures[name] = recent
        return len(recent) >= MAX_FAILURES

    def login(self, name: str, password: str) -> Session | None:
        user = self._users.get(name)
        if user is None or self.locked(name):
            check_password(password, hash_password("x", iterations=1))  # similar work
            return None
        if not check_password(password, user.password_hash):
            self._failures.setdefault(name, []).append(self._clock.now())
            return None
        self._failures.pop(name, None)
        self._expire()
        while len(self._sessions) >= MAX_SESSIONS:
            self._sessions.pop(next(iter(self._sessions)))
        session = Session(
            secrets.token_urlsafe(32),
            user.name,
            user.role,
            secrets.token_urlsafe(24),
            self._clock.now() + self._ttl,
        )
        self._sessions[session.token] = session
        return session

    def get(self, token: str | None) -> Session | None:
        session = self._sessions.get(token or "")
        if session is None:
            return None
        if self._clock.now() >= session.expires_at:
            del self._sessions[session.token]
            return None
        return session

    def logout(self, token: str | None) -> None:
        self._sessions.pop(token or "", None)

    def csrf_ok(self, session: Session, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(session.csrf, str(token))

    def confirm(self, session: Session, instance: str, action: str) -> str:
        token = secrets.token_urlsafe(16)
        self._confirmations[token] = Confirmation(
            session.token, instance, action, self._clock.now() + CONFIRM_TTL
        )
        return token

    def take_confirmation(self, session: Session, token: str, instance: str, action: str) -> bool:
        found = self._confirmations.pop(token, None)
        return (
            found is not None
            and found.session == session.token
            and (found.instance, found.action) == (instance, action)
            and self._clock.now() < found.expires_at
        )

    def _expire(self) -> None:
        now = self._clock.now()
        for token, session in list(self._sessions.items()):
            if now >= session.expires_at:
                del self._sessions[token]
        for token, confirmation in list(self._confirmations.items()):
            if now >= confirmation.expires_at:
                del self._confirmations[token]


def users_from(entries: dict[str, tuple[str, str]]) -> dict[str, User]:
    return {name: User(name, WebRole(role), hashed) for name, (role, hashed) in entries.items()}

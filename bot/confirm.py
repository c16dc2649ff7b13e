"""Two-step confirmations: a destructive request is acted on only when its own buttons say so.

`issue` binds a token to one action, one user and an expiry; the buttons carry the token.
`take` hands the action back once: to the same user, before it expires. A forged token, a
replay, another user's tap or a late tap gets `None`, and the caller does nothing.

Tokens are random (unguessable) and kept in memory only: a restart voids every pending
confirmation, which is the safe direction for a kill or a limit change.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from trader.control.api import Clock
from trader.domain import Actor

DEFAULT_TTL = timedelta(minutes=2)
_MAX_PENDING = 256


@dataclass(frozen=True, slots=True)
class Pending:
    token: str
    action: str  # "kill", "flatten", "rearm", "set_limit"
    actor: Actor
    expires_at: datetime
    choices: frozenset[str]
    payload: dict[str, Any] = field(default_factory=dict)


class Refused(Exception):
    """Why a confirmation was not honoured, fit to show the user."""


class Confirmations:
    def __init__(self, clock: Clock, ttl: timedelta = DEFAULT_TTL) -> None:
        self._clock = clock
        self._ttl = ttl
        self._pending: OrderedDict[str, Pending] = OrderedDict()

    def issue(self, action: str, actor: Actor, choices: set[str], **payload: Any) -> Pending:
        self._expire()
        while len(self._pending) >= _MAX_PENDING:
            self._pending.popitem(last=False)
        pending = Pending(
            token=secrets.token_hex(6),
            action=action,
            actor=actor,
            expires_at=self._clock.now() + self._ttl,
            choices=frozenset(choices),
            payload=dict(payload),
        )
        self._pending[pending.token] = pending
        return pending

    def take(self, token: str, choice: str, actor: Actor) -> Pending:
        """The pending action for this token, removed so it cannot be used twice.

        Raises `Refused` (and leaves the entry alone, except when expired) if the token is
        unknown, belongs to someone else, has expired or does not offer `choice`.
        """
        pending = self._pending.get(token)
        if pending is None:
            raise Refused("This confirmation is no longer valid (already used or unknown).")
        if (pending.actor.channel, pending.actor.user_id) != (actor.channel, actor.user_id):
            raise Refused("Only the person who asked can confirm this.")
        if self._clock.now() >= pending.expires_at:
            del self._pending[token]
            raise Refused("This confirmation has expired; send the command again.")
        if choice not in pending.choices:
            raise Refused("That is not one of the offered choices.")
        del self._pending[token]
        return pending

    def cancel_for(self, actor: Actor, action: str) -> None:
        """Void this user's earlier pending confirmations of `action` (a newer one replaces)."""
        for token, pending in list(self._pending.items()):
            if pending.actor == actor and pending.action == action:
                del self._pending[token]

    def _expire(self) -> None:
        now = self._clock.now()
        for token, pending in list(self._pending.items()):
            if now >= pending.expires_at:
                del self._pending[token]

    def __len__(self) -> int:
        return len(self._pending)

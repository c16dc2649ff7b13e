"""Fault injection: rules that make the simulator misbehave the way the venue does.

Rules come from the scenario's `faults` list or `POST /_admin/faults` (one rule, a list, or
`{"rules": [...]}`); `GET /_admin/faults` lists them, `DELETE /_admin/faults` clears them.
Every rule may name `method` and `path` (exact, or a prefix ending in `*`) and a `count`
(how many matching requests it affects; absent: until cleared). Admin paths are never faulted.

Kinds (parameters in brackets):

- latency [ms]: delay matching requests, then serve them.
- rate_limit [retry_after, default 1]: 429 with Retry-After.
- maintenance [retry_after]: 425, the weekly engine restart.
- server_error [status, default 500]: 5xx with `{"error": "Internal server error"}`.
- http_status [status, body, retry_after]: any status and JSON body.
- hang [seconds, default 30]: never processed; 504 after `seconds` (past any client timeout).
- hang_after_accept [seconds]: processed (an order IS placed), the answer held back: the
  "unknown outcome" case.
- error_after_accept [status, default 503; body, default an HTML error page]: processed (an
  order IS placed and may fill), then answered `status` with a `text/html` body, as a proxy in
  front of the venue does when the upstream answer is lost. Both apply only to a request the
  handler served (a refused one, 4xx/5xx, leaves them for the next).
- post_only_mode [seconds, default 120]: `POST /order(s)` without postOnly answer 503
  `{"code": "post_only_mode", "retry_after_seconds": N}`.
- cancel_only_mode [seconds]: `POST /order(s)` answer 503 "cancel-only".
- reject_order [code, message, status=400]: orders refused with that code.
- refuse_cancel [reason]: a cancel request leaves its first order open, answered in
  `not_canceled` (the venue does so for an order it is matching); the others are cancelled.
- partial_fill [fraction, default 0.5]: a crossing order fills at most this fraction at
  once; the rest rests (GTC/GTD) or is killed (FAK).
- duplicate_user_events / reorder_user_events: user-channel messages sent twice / swapped
  with the next one.
- prefixed_statuses: REST statuses as ORDER_STATUS_LIVE, TRADE_STATUS_MATCHED.
- drop_ws [channel: market, user, all]: immediate, close those WebSocket connections.
- price_jump [condition_id or token_id, to]: immediate, the fair price jumps.
- resolve [condition_id, outcome]: immediate, resolve the market now.

Timed modes (`*_mode`) count seconds on the simulator's clock from when they were added.

Every time a rule changes what a client sees (a request faulted, a user message repeated or
held back, a socket closed, a price moved) the injector records a hit: the rule, the request
and, when known, the orders it touched. `GET /_admin/state` lists them as `fault_hits`, so a
chaos run counts the faults that hit, not the rules it added.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

REQUEST_KINDS = frozenset(
    {"latency", "rate_limit", "maintenance", "server_error", "http_status", "hang"}
)
HANDLER_KINDS = frozenset(
    {
        "hang_after_accept",
        "error_after_accept",
        "reject_order",
        "refuse_cancel",
        "partial_fill",
        "duplicate_user_events",
        "reorder_user_events",
        "prefixed_statuses",
    }
)
MODE_KINDS = frozenset({"post_only_mode", "cancel_only_mode"})
IMMEDIATE_KINDS = frozenset({"drop_ws", "price_jump", "resolve"})
KINDS = REQUEST_KINDS | HANDLER_KINDS | MODE_KINDS | IMMEDIATE_KINDS
ADMIN_PREFIX = "/_admin"


class FaultError(ValueError):
    """A fault rule that cannot be understood."""


@dataclass(slots=True)
class FaultRule:
    id: int
    kind: str
    method: str | None = None
    path: str | None = None
    count: int | None = None
    until: float | None = None  # for timed modes, on the simulator's clock (epoch seconds)
    params: dict[str, Any] = field(default_factory=dict)

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method != method.upper():
            return False
        if self.path is None:
            return True
        if self.path.endswith("*"):
            return path.startswith(self.path[:-1])
        return path == self.path

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "method": self.method,
            "path": self.path,
            "count": self.count,
            "until": self.until,
            **self.params,
        }


@dataclass(slots=True)
class FaultHit:
    """One request (or message, socket, market) a rule changed."""

    rule_id: int
    kind: str
    method: str
    path: str
    order_ids: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "kind": self.kind,
            "method": self.method,
            "path": self.path,
            "order_ids": list(self.order_ids),
        }


class FaultInjector:
    def __init__(self) -> None:
        self._rules: list[FaultRule] = []
        self._hits: list[FaultHit] = []
        self._ids = itertools.count(1)

    def add(self, spec: Mapping[str, Any], *, now: float) -> FaultRule:
        kind = str(spec.get("kind", ""))
        if kind not in KINDS:
            raise FaultError(f"unknown fault kind {kind!r}; known: {sorted(KINDS)}")
        count = spec.get("count")
        if count is not None and (not isinstance(count, int) or count < 1):
            raise FaultError("count must be a positive integer")
        params = {
            k: v for k, v in spec.items() if k not in ("kind", "method", "path", "count", "id")
        }
        until = None
        if kind in MODE_KINDS:
            until = now + float(params.get("seconds", 120))
        rule = FaultRule(
            id=next(self._ids),
            kind=kind,
            method=None if spec.get("method") is None else str(spec["method"]).upper(),
            path=None if spec.get("path") is None else str(spec["path"]),
            count=count,
            until=until,
            params=params,
        )
        if kind not in IMMEDIATE_KINDS:
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        self._rules.clear()

    def rules(self) -> list[FaultRule]:
        return list(self._rules)

    def hit(self, rule: FaultRule, method: str, path: str) -> FaultHit:
        """Record that `rule` changed this request (`take` and `take_any` do it themselves)."""
        hit = FaultHit(rule.id, rule.kind, method.upper(), path)
        self._hits.append(hit)
        return hit

    def touched(self, rule: FaultRule, order_ids: list[str]) -> None:
        """The orders the latest hit of `rule` touched (known once the request was served)."""
        for hit in reversed(self._hits):
            if hit.rule_id == rule.id:
                hit.order_ids.extend(o for o in order_ids if o)
                return

    def hits(self) -> list[FaultHit]:
        """Every hit since the start (clearing the rules keeps them)."""
        return list(self._hits)

    def take(
        self, kind: str, method: str, path: str, *, now: float | None = None
    ) -> FaultRule | None:
        """The first live rule of this kind matching the request; uses up one of its count."""
        for rule in self._rules:
            if rule.kind != kind or not rule.matches(method, path):
                continue
            if rule.until is not None and now is not None and now >= rule.until:
                continue
            self._spend(rule)
            self.hit(rule, method, path)
            return rule
        return None

    def take_any(self, kinds: frozenset[str], method: str, path: str) -> FaultRule | None:
        for rule in self._rules:
            if rule.kind in kinds and rule.matches(method, path):
                self._spend(rule)
                self.hit(rule, method, path)
                return rule
        return None

    def active(self, kind: str, *, now: float) -> FaultRule | None:
        """A live timed mode or toggle of this kind (does not use up a count)."""
        self._rules = [r for r in self._rules if r.until is None or r.until > now]
        return next((r for r in self._rules if r.kind == kind), None)

    def _spend(self, rule: FaultRule) -> None:
        if rule.count is None:
            return
        rule.count -= 1
        if rule.count <= 0:
            self._rules.remove(rule)


__all__ = [
    "ADMIN_PREFIX",
    "HANDLER_KINDS",
    "IMMEDIATE_KINDS",
    "KINDS",
    "MODE_KINDS",
    "REQUEST_KINDS",
    "FaultError",
    "FaultHit",
    "FaultInjector",
    "FaultRule",
]

"""The faults a chaos trial injects through the simulator's admin API (`POST /_admin/faults`).

Each kind maps to a rule the simulator understands (see polysim/clob/faults.py), drawn
with the trial's random generator so a seed replays the same choices:

- rate_limit: 429 with Retry-After on order posts
- maintenance: 425 (the weekly matching-engine restart) on order posts
- post_only_mode: 503 `post_only_mode` on order posts for a few seconds
- server_error: 500/502/503 on reads (orders, trades, books)
- submit_timeout: an order post that hangs past the client's timeout, never processed
- hang_after_accept: an order post processed (the order IS placed) whose answer never comes
- error_after_accept: an order post processed (the order IS placed, and may fill), answered
  with an HTML 503 as a proxy does when the venue's answer is lost
- latency: slow answers on every path for a while
- partial_fill: a crossing order fills only partly and the rest rests
- duplicate_user_events / reorder_user_events: the user channel repeats or swaps messages
- drop_ws: the simulator closes the market and/or user sockets
- price_jump: a market's fair price jumps

A rule added is not a fault that hit: the simulator records each request, message, socket or
market a rule changed (`fault_hits` in its admin state), and `hit_counts` turns those into
the table's figures. The three UNKNOWN_OUTCOME kinds leave an order's outcome unknown to the
app once its submit times out or its answer is an error page.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Rule = dict[str, Any]
ORDER_POSTS = "/order*"  # POST /order and POST /orders (batches)


def _rate_limit(rng: random.Random, markets: Sequence[str]) -> Rule:
    return {"kind": "rate_limit", "method": "POST", "path": ORDER_POSTS, "count": rng.randint(1, 3)}


def _maintenance(rng: random.Random, markets: Sequence[str]) -> Rule:
    return {
        "kind": "maintenance",
        "method": "POST",
        "path": ORDER_POSTS,
        "count": rng.randint(1, 2),
        "retry_after": 1,
    }


def _post_only(rng: random.Random, markets: Sequence[str]) -> Rule:
    return {"kind": "post_only_mode", "seconds": round(rng.uniform(2, 5), 1)}


def _server_error(rng: random.Random, markets: Sequence[str]) -> Rule:
    path = rng.choice(["/data/*", "/book*", "/data/trades"])
    return {
        "kind": "server_error",
        "status": rng.choice([500, 502, 503]),
        "path": path,
        "count": rng.randint(1, 4),
    }


def _submit_timeout(rng: random.Random, markets: Sequence[str]) -> Rule:
    # past the live venue's 5 s submit timeout: the client gives up, the venue never saw it
    return {"kind": "hang", "method": "POST", "path": ORDER_POSTS, "count": 1, "seconds": 6}


def _hang_after_accept(rng: random.Random, markets: Sequence[str]) -> Rule:
    return {
        "kind": "hang_after_accept",
        "method": "POST",
        "path": ORDER_POSTS,
        "count": 1,
        "seconds": 6,
    }


def _error_after_accept(rng: random.Random, markets: Sequence[str]) -> Rule:
    return {
        "kind": "error_after_accept",
        "method": "POST",
        "path": ORDER_POSTS,
        "count": 1,
        "status": rng.choice([502, 503]),
    }


def _latency(rng: random.Random, markets: Sequence[str]) -> Rule:
    return {"kind": "latency", "ms": rng.randint(200, 1500), "count": rng.randint(3, 12)}


def _partial_fill(rng: random.Random, markets: Sequence[str]) -> Rule:
    return {"kind": "partial_fill", "fraction": rng.choice([0.3, 0.5, 0.7]), "count": 2}


def _duplicate_events(rng: random.Random, markets: Sequence[str]) -> Rule:
    return {"kind": "duplicate_user_events", "count": rng.randint(2, 8)}


def _reorder_events(rng: random.Random, markets: Sequence[str]) -> Rule:
    return {"kind": "reorder_user_events", "count": rng.randint(2, 8)}


def _drop_ws(rng: random.Random, markets: Sequence[str]) -> Rule:
    return {"kind": "drop_ws", "channel": rng.choice(["market", "user", "all"])}


def _price_jump(rng: random.Random, markets: Sequence[str]) -> Rule:
    return {
        "kind": "price_jump",
        "condition_id": rng.choice(list(markets)),
        "to": f"{rng.uniform(0.15, 0.85):.2f}",
    }


CATALOG: dict[str, Callable[[random.Random, Sequence[str]], Rule]] = {
    "rate_limit": _rate_limit,
    "maintenance": _maintenance,
    "post_only_mode": _post_only,
    "server_error": _server_error,
    "submit_timeout": _submit_timeout,
    "hang_after_accept": _hang_after_accept,
    "error_after_accept": _error_after_accept,
    "latency": _latency,
    "partial_fill": _partial_fill,
    "duplicate_user_events": _duplicate_events,
    "reorder_user_events": _reorder_events,
    "drop_ws": _drop_ws,
    "price_jump": _price_jump,
}


UNKNOWN_OUTCOME = frozenset({"submit_timeout", "hang_after_accept", "error_after_accept"})
ORDER_PATHS = ("/order", "/orders")


@dataclass
class HitCount:
    """One fault kind over a run: rules injected, rules that hit at least once, requests (or
    messages, sockets, markets) changed, and of those the order posts."""

    injected: int = 0
    hit: int = 0
    hits: int = 0
    order_hits: int = 0


def hit_counts(
    injected: Mapping[int, str], hits: Sequence[Mapping[str, Any]]
) -> dict[str, HitCount]:
    """Per kind, from the rules injected (simulator rule id -> kind) and the simulator's
    `fault_hits`; hits of rules not injected by this run are ignored."""
    counts = {kind: HitCount() for kind in sorted(set(injected.values()))}
    for kind in injected.values():
        counts[kind].injected += 1
    seen: set[int] = set()
    for hit in hits:
        rule_id = int(hit["rule_id"])
        of = injected.get(rule_id)
        if of is None:
            continue
        count = counts[of]
        count.hits += 1
        if hit.get("order_ids") or hit.get("path") in ORDER_PATHS:
            count.order_hits += 1
        if rule_id not in seen:
            seen.add(rule_id)
            count.hit += 1
    return counts


class FaultDeck:
    """Deals fault kinds like cards: every kind once, in a shuffled order, before any repeats,
    so that a run of a dozen faults or more covers the whole catalog."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._deck: list[str] = []

    def draw(self, markets: Sequence[str], count: int) -> list[tuple[str, Rule]]:
        """`count` faults, each as (kind, simulator rule)."""
        dealt = []
        for _ in range(count):
            if not self._deck:
                self._deck = sorted(CATALOG)
                self._rng.shuffle(self._deck)
            kind = self._deck.pop()
            dealt.append((kind, CATALOG[kind](self._rng, markets)))
        return dealt


__all__ = [
    "CATALOG",
    "ORDER_POSTS",
    "UNKNOWN_OUTCOME",
    "FaultDeck",
    "HitCount",
    "Rule",
    "hit_counts",
]

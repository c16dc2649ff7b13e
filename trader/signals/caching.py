"""Prompt caching for the Messages API: where the breakpoints go, and priming before a batch.

A request is laid out stable first (the API caches by prefix, in the order tools, system,
messages): the forced tool and the system prompt, the same for every market, end at the first
`cache_control` breakpoint (`prefix_ttl`, an hour by default: with cycles less than an hour apart
each read renews it, so it is written about once a run); the market's context (question, end
date, rules, news, retrieved articles: the same for all samples of one market, and for a later
cycle's while that evidence is unchanged) ends at the second (`context_ttl`, five minutes, since
the samples of a market analysed directly follow each other within seconds;
`batch_context_ttl`, an hour, for a market whose samples are batched, which may be processed
minutes after the first sample, the direct call that primes the prefix included; a read renews
it, so a later cycle within the hour reads an unchanged context again). The current time and the
sample's own instruction come last and are billed as plain input: the time there, not in the
context, keeps a context the same from cycle to cycle. A cache write costs 1.25x the input price
(2x for an hour) and a read 0.1x, so a context read by two later samples costs 1.45x (2.2x
batched) where three plain sends cost 3x.

The shared prefix is cached on its own only when it reaches the model's minimum cacheable length
(`MIN_CACHEABLE`, as published: 2,048 tokens for Sonnet 4.6, 4,096 for Haiku 4.5). Below it the
API silently caches nothing there, and the next breakpoint (the market's context) writes the
prefix again with every market: the analysis system prompt is kept above it (see
`trader.signals.system_prompts`).

`PrimingGate`: the requests of one batch cannot be counted on to read what another of the same
batch writes (the API shares them on a best-effort basis), and direct calls sent together
cannot either (an entry is readable once the first response begins), so before the first call
of a kind (model and purpose) the shared prefix is written by one direct call, and the calls
queued meanwhile wait for it (one answer's time, once in the prefix's lifetime). Warm means: a
call of that kind read or wrote the cache within its lifetime (nine-tenths of it, by the
injected clock). A kind whose prefix came back neither read
nor written is below the model's minimum cacheable length (Haiku 4.5 caches from 4,096 tokens),
so it is never primed; a kind whose prefix is clearly below it (`below_minimum`, the screens') is
known so from the start (`never_cached`), and its first batched call is not sent directly.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from trader.clock import Clock

if TYPE_CHECKING:  # the SDK is imported when a client is made (an API key is set), not before
    from anthropic.types import Usage

T = TypeVar("T")
Lifetime = Literal["5m", "1h"]
LIFETIME_SECONDS: dict[str, float] = {"5m": 300.0, "1h": 3600.0}
# The API's minimum cacheable prompt length per model, in tokens (any other: 1,024).
MIN_CACHEABLE: dict[str, int] = {
    "claude-sonnet-4-6": 2048,
    "claude-haiku-4-5": 4096,
    "claude-opus-4-5": 4096,
    "claude-opus-4-6": 4096,
    "claude-3-5-haiku-latest": 2048,
    "claude-3-haiku-20240307": 2048,
}
DEFAULT_MIN_CACHEABLE = 1024
TOOL_USE_TOKENS = 346  # the most the API's tool-use system prompt adds (Claude 4 models)
TOKEN_KINDS = (
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
)


@dataclass(frozen=True, slots=True)
class CacheConfig:
    prefix_ttl: Lifetime = "1h"
    context_ttl: Lifetime = "5m"
    batch_context_ttl: Lifetime = "1h"

    def __post_init__(self) -> None:
        # the API requires longer-lived breakpoints to come before shorter-lived ones
        order = ("1h", "5m")
        if order.index(self.prefix_ttl) > min(
            order.index(self.context_ttl), order.index(self.batch_context_ttl)
        ):
            raise ValueError("the shared prefix cannot be cached for less than a market context")


def min_cacheable(model: str) -> int:
    return MIN_CACHEABLE.get(model, DEFAULT_MIN_CACHEABLE)


def prefix_tokens(system: str, tool: dict[str, Any], *, chars_per_token: float) -> int:
    """The shared prefix (the tool-use system prompt, the tool, the system prompt) in tokens, at
    `chars_per_token`: 3 overcounts English, 5 undercounts it."""
    text = system + json.dumps(tool, sort_keys=True)
    return TOOL_USE_TOKENS + math.ceil(len(text) / chars_per_token)


def below_minimum(model: str, system: str, tool: dict[str, Any]) -> bool:
    """True when the shared prefix is short of the model's minimum even counted high."""
    return prefix_tokens(system, tool, chars_per_token=3) < min_cacheable(model)


def _control(ttl: Lifetime) -> dict[str, str]:
    return {"type": "ephemeral", "ttl": ttl}


def request_params(
    *,
    model: str,
    system: str,
    user: str,
    max_tokens: int,
    tool: dict[str, Any],
    config: CacheConfig,
    context: str | None = None,
    batch: bool = False,
) -> dict[str, Any]:
    """The keyword arguments of `messages.create` (and of one batch request): the tool and the
    system prompt up to the first breakpoint, then `context` up to the second, then `user`.
    `batch`: the market's samples go through the Message Batches API (this request, or the
    later samples of a market whose first one primes the prefix directly), so its context lives
    `batch_context_ttl`."""
    content: str | list[dict[str, Any]] = user
    if context is not None:
        ttl = config.batch_context_ttl if batch else config.context_ttl
        content = [
            {"type": "text", "text": context, "cache_control": _control(ttl)},
            {"type": "text", "text": user},
        ]
    return {
        "model": model,
        "max_tokens": max_tokens,
        "system": [{"type": "text", "text": system, "cache_control": _control(config.prefix_ttl)}],
        "messages": [{"role": "user", "content": content}],
        "tools": [tool],
        "tool_choice": {"type": "tool", "name": tool["name"]},
    }


def usage_tokens(usage: Usage | None) -> dict[str, int]:
    """A reply's usage as `ModelPrice.cost` takes it (zeros for no reply)."""
    if usage is None:
        return dict.fromkeys(TOKEN_KINDS, 0)
    hour = usage.cache_creation.ephemeral_1h_input_tokens if usage.cache_creation else 0
    return {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cache_read_tokens": usage.cache_read_input_tokens or 0,
        "cache_write_tokens": usage.cache_creation_input_tokens or 0,
        "cache_write_1h_tokens": hour or 0,
    }


class PrimingGate:
    def __init__(self, clock: Clock, ttl: Lifetime) -> None:
        self._clock = clock
        self._lifetime = LIFETIME_SECONDS[ttl] * 0.9  # the entry's clock started a little earlier
        self._warm_until: dict[tuple[str, str], float] = {}
        self._uncacheable: set[tuple[str, str]] = set()
        self._priming: dict[tuple[str, str], asyncio.Event] = {}
        self.primed = 0  # calls sent alone to prime the cache for the calls that wait

    def never_cached(self, kind: tuple[str, str]) -> None:
        """This kind's prefix is known to be too short to cache: its batches need no priming."""
        self._uncacheable.add(kind)

    def warm(self, kind: tuple[str, str]) -> bool:
        if kind in self._uncacheable:
            return True
        return self._warm_until.get(kind, float("-inf")) > self._clock.monotonic()

    def saw(self, kind: tuple[str, str], tokens: dict[str, int]) -> None:
        """A reply of this kind came back with these tokens."""
        if tokens["cache_read_tokens"] or tokens["cache_write_tokens"]:
            self._warm_until[kind] = self._clock.monotonic() + self._lifetime
            self._uncacheable.discard(kind)
        elif tokens["input_tokens"]:
            self._uncacheable.add(kind)

    async def route(
        self, kind: tuple[str, str], batch: bool, send: Callable[[bool], Awaitable[T]]
    ) -> T:
        """`send(batched)`: batched unless the shared prefix must be primed by this call. The
        calls that arrive while a priming call runs wait for it, then go out together; if it
        failed (the cache is still cold), one of them primes instead. Direct calls are primed
        too: calls sent together all miss the cache and each writes the prefix."""
        while not self.warm(kind):
            running = self._priming.get(kind)
            if running is None:
                done = self._priming[kind] = asyncio.Event()
                self.primed += 1
                try:
                    return await send(False)
                finally:
                    del self._priming[kind]
                    done.set()
            await running.wait()
        return await send(batch)

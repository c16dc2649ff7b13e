"""Prompt caching as the Messages API bills it, for the fake Anthropic server.

The prompt is read in the API's order: the tool-use system prompt and the tool definitions, then
the system blocks, then each message's content blocks. A block carrying `cache_control` is a
breakpoint (at most four in a request; a fifth is a 400). A breakpoint's prefix is everything up
to and including its block; it is cached per model, and only when it is at least the model's
minimum cacheable length (a shorter one is silently not cached, as the API does).

For each request the longest breakpoint prefix still in the cache is read
(`cache_read_input_tokens`) and its lifetime refreshed; the tokens from there to the last
breakpoint are written (`cache_creation_input_tokens`, split by TTL in `cache_creation`: each
span goes to the TTL of the entry that ends it, a breakpoint too short to be an entry adding its
span to the next) when that prefix is long enough; what comes after the last breakpoint is
`input_tokens`. Lifetimes are "5m" (the default) or "1h", timed
by `now` (seconds, monotonic).

Tokens are about four characters each; a request with tools also pays the tool-use system
prompt the API adds (313 tokens with a forced tool, 346 otherwise, as published for Claude 4
models). The hit is only looked for at breakpoints (the API also looks up to 20 blocks back).

Batches: every request of one batch is answered against the cache as it stood when the batch
was created, and its writes land after: a request never reads what another request of the same
batch wrote. The real API shares them on a best-effort basis; assuming none is the cautious
reading (`snapshot`).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

CHARS_PER_TOKEN = 4
TOOL_USE_FORCED = 313  # tool_choice "any" or "tool"
TOOL_USE_AUTO = 346  # tool_choice "auto" or "none"
TTL_SECONDS = {"5m": 300.0, "1h": 3600.0}
MAX_BREAKPOINTS = 4
# The API's minimum cacheable prompt length per model (tokens); others: 1,024. Sonnet 4.6 caches
# from 2,048 (first documented as 1,024; measured at 2,048 by its users, a prefix of 2,038 tokens
# not cached and one of 2,067 cached, and documented so since). Written out here, not imported
# from `trader.signals.caching.MIN_CACHEABLE`: the fake stands for the API, so a wrong minimum
# in the product (1,024 for Sonnet 4.6, say) must meet the API's own and fail the caching tests.
MIN_CACHEABLE = {
    "claude-sonnet-4-6": 2048,
    "claude-haiku-4-5": 4096,
    "claude-opus-4-5": 4096,
    "claude-opus-4-6": 4096,
    "claude-3-5-haiku-latest": 2048,
    "claude-3-haiku-20240307": 2048,
}
DEFAULT_MIN_CACHEABLE = 1024


class TooManyBreakpoints(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Segment:
    tokens: int
    text: str  # what identifies the block's content (its JSON without cache_control)
    ttl: str | None = None  # set on a breakpoint


def _tokens(text: str) -> int:
    return len(text) // CHARS_PER_TOKEN


def _block(block: dict[str, Any]) -> Segment:
    control = block.get("cache_control")
    ttl = (control.get("ttl") or "5m") if isinstance(control, dict) else None
    bare = {k: v for k, v in block.items() if k != "cache_control"}
    text = bare["text"] if bare.get("type") == "text" else json.dumps(bare, sort_keys=True)
    return Segment(_tokens(text), json.dumps(bare, sort_keys=True), ttl)


def _content(content: str | list[dict[str, Any]]) -> Iterator[Segment]:
    if isinstance(content, str):
        yield Segment(_tokens(content), json.dumps(content))
        return
    yield from (_block(block) for block in content)


def segments(body: dict[str, Any]) -> list[Segment]:
    """The request's prompt, block by block, in the order the API caches it."""
    out: list[Segment] = []
    tools = body.get("tools") or []
    if tools:
        forced = (body.get("tool_choice") or {}).get("type") in {"any", "tool"}
        out.append(Segment(TOOL_USE_FORCED if forced else TOOL_USE_AUTO, "tool-use-system"))
        out.extend(_block(tool) for tool in tools)
    system = body.get("system") or []
    out.extend(_content(system) if system else ())
    for message in body.get("messages", []):
        out.append(Segment(0, message.get("role", "")))
        out.extend(_content(message.get("content", "")))
    return out


@dataclass
class PromptCache:
    now: Callable[[], float] = time.monotonic
    min_cacheable: dict[str, int] = field(default_factory=lambda: dict(MIN_CACHEABLE))
    entries: dict[tuple[str, str], tuple[float, str]] = field(default_factory=dict)

    def minimum(self, model: str) -> int:
        return self.min_cacheable.get(model, DEFAULT_MIN_CACHEABLE)

    def _alive(self, key: tuple[str, str], at: float) -> bool:
        entry = self.entries.get(key)
        return entry is not None and entry[0] > at

    def usage(self, body: dict[str, Any], *, snapshot: PromptCache | None = None) -> dict[str, Any]:
        """The request's input usage; the cache is updated at once (reads refresh, writes
        store). With `snapshot`, hits are looked up there (a batch's cache at its creation)."""
        usage, writes = self.lookup(body, snapshot=snapshot)
        self.entries.update(writes)
        return usage

    def lookup(
        self, body: dict[str, Any], *, snapshot: PromptCache | None = None
    ) -> tuple[dict[str, Any], dict[tuple[str, str], tuple[float, str]]]:
        """The usage, and the entries the request writes: the API makes them readable once the
        response begins, so requests already in flight do not see them."""
        model = str(body.get("model", ""))
        parts = segments(body)
        breakpoints = [i for i, s in enumerate(parts) if s.ttl]
        if len(breakpoints) > MAX_BREAKPOINTS:
            raise TooManyBreakpoints(f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control")
        digest, keys, ends, total = hashlib.sha256(), [], [], 0
        for part in parts:
            digest.update(part.text.encode())
            keys.append((model, digest.hexdigest()))
            total += part.tokens
            ends.append(total)
        at, lookup = self.now(), snapshot or self
        hit = next((i for i in reversed(breakpoints) if lookup._alive(keys[i], at)), None)
        read = ends[hit] if hit is not None else 0
        if hit is not None:  # a hit refreshes the entry's lifetime at no cost
            ttl = lookup.entries[keys[hit]][1]
            self.entries[keys[hit]] = (at + TTL_SECONDS[ttl], ttl)
        written, stored = {"5m": 0, "1h": 0}, {}
        # a breakpoint short of the minimum is no cache point: its span is written with the
        # next one's entry, at that one's TTL
        later = [
            i for i in breakpoints if (hit is None or i > hit) and ends[i] >= self.minimum(model)
        ]
        start = read
        for i in later:
            ttl = parts[i].ttl or "5m"
            written[ttl] += ends[i] - start
            start = ends[i]
            stored[keys[i]] = (at + TTL_SECONDS[ttl], ttl)
        write = written["5m"] + written["1h"]
        usage = {
            "input_tokens": total - read - write,
            "cache_read_input_tokens": read,
            "cache_creation_input_tokens": write,
            "cache_creation": {
                "ephemeral_5m_input_tokens": written["5m"],
                "ephemeral_1h_input_tokens": written["1h"],
            },
        }
        return usage, stored

    def copy(self) -> PromptCache:
        return PromptCache(self.now, self.min_cacheable, dict(self.entries))

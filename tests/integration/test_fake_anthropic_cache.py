"""The fake Messages API bills prompt caching as the API does, driven by the real SDK."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest

from tests.support.anthropic_cache import TOOL_USE_FORCED
from tests.support.anthropic_fixtures import client, server
from tests.support.anthropic_server import FakeAnthropicServer

__all__ = ["client", "server"]  # fixtures used by name below

LONG = "Stable instructions shared by every request. " * 240  # 10,800 chars: 2,700 tokens
TOOL = {
    "name": "answer",
    "description": "Answer.",
    "input_schema": {"type": "object", "properties": {"x": {"type": "string"}}},
}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _params(
    system: str = LONG,
    user: str = "What now?",
    *,
    model: str = "claude-sonnet-4-6",
    ttl: str | None = None,
    user_breakpoint: str | None = None,
) -> dict[str, Any]:
    control: dict[str, Any] = {"type": "ephemeral", **({"ttl": ttl} if ttl else {})}
    content: list[dict[str, Any]] = [{"type": "text", "text": user}]
    if user_breakpoint is not None:
        block = {"type": "text", "text": user_breakpoint, "cache_control": {"type": "ephemeral"}}
        content.insert(0, block)
    return {
        "model": model,
        "max_tokens": 100,
        "system": [{"type": "text", "text": system, "cache_control": control}],
        "messages": [{"role": "user", "content": content}],
    }


async def _usage(client: anthropic.AsyncAnthropic, **kwargs: Any) -> anthropic.types.Usage:
    message = await client.messages.create(**_params(**kwargs))
    return message.usage


async def test_a_prefix_is_written_then_read_and_what_follows_the_breakpoint_is_input(
    client: anthropic.AsyncAnthropic,
) -> None:
    first = await _usage(client, user="First question?")
    second = await _usage(client, user="A different, longer second question?")

    system_tokens = len(LONG) // 4
    assert (first.cache_creation_input_tokens, first.cache_read_input_tokens) == (system_tokens, 0)
    assert first.cache_creation is not None
    assert first.cache_creation.ephemeral_5m_input_tokens == system_tokens
    assert (second.cache_creation_input_tokens, second.cache_read_input_tokens) == (
        0,
        system_tokens,
    )
    assert second.input_tokens > first.input_tokens  # the question is billed as input


async def test_a_changed_prefix_or_another_model_misses_the_cache(
    client: anthropic.AsyncAnthropic,
) -> None:
    await _usage(client)
    changed = await _usage(client, system=LONG + "One more rule.")
    other_model = await _usage(client, model="claude-opus-4-1")

    assert changed.cache_read_input_tokens == 0
    assert changed.cache_creation_input_tokens == len(LONG + "One more rule.") // 4
    assert other_model.cache_read_input_tokens == 0


async def test_a_prefix_below_the_models_minimum_is_not_cached(
    client: anthropic.AsyncAnthropic,
) -> None:
    # Haiku 4.5 caches from 4,096 tokens: 2,700 is silently billed as plain input
    first = await _usage(client, model="claude-haiku-4-5")
    second = await _usage(client, model="claude-haiku-4-5")

    for usage in (first, second):
        assert (usage.cache_creation_input_tokens, usage.cache_read_input_tokens) == (0, 0)
        assert usage.input_tokens >= len(LONG) // 4


async def test_sonnet_4_6_caches_from_2048_tokens_where_opus_4_1_caches_from_1024(
    client: anthropic.AsyncAnthropic,
) -> None:
    short = LONG[: 1_900 * 4]  # 1,900 tokens: above 1,024, below 2,048
    usages = {}
    for model in ("claude-sonnet-4-6", "claude-opus-4-1"):
        await _usage(client, system=short, model=model)
        usages[model] = await _usage(client, system=short, model=model)

    assert usages["claude-sonnet-4-6"].cache_read_input_tokens == 0
    assert usages["claude-sonnet-4-6"].input_tokens >= 1_900
    assert usages["claude-opus-4-1"].cache_read_input_tokens == 1_900


async def test_a_breakpoint_too_short_to_cache_adds_its_span_to_the_next_entry(
    client: anthropic.AsyncAnthropic,
) -> None:
    short, market = LONG[: 1_900 * 4], "Market context. " * 100  # 1,900 + 400 tokens
    first = await _usage(client, system=short, ttl="1h", user_breakpoint=market)
    second = await _usage(client, system=short, ttl="1h", user_breakpoint=market + "Other.")

    # Sonnet 4.6: the 1-hour prefix alone is no entry; the market's 5-minute one holds it all
    assert first.cache_creation is not None
    assert first.cache_creation.ephemeral_1h_input_tokens == 0
    assert first.cache_creation.ephemeral_5m_input_tokens == 1_900 + len(market) // 4
    assert second.cache_read_input_tokens == 0  # another market writes the prefix again
    assert second.cache_creation_input_tokens >= 1_900


async def test_a_second_breakpoint_reads_the_first_and_writes_only_its_own_span(
    client: anthropic.AsyncAnthropic,
) -> None:
    market = "Market-specific context shared by the samples of one market. " * 10
    await _usage(client)  # the shared prefix alone
    first = await _usage(client, user_breakpoint=market, user="Sample one.")
    second = await _usage(client, user_breakpoint=market, user="Sample two.")

    assert first.cache_read_input_tokens == len(LONG) // 4
    assert 0 < first.cache_creation_input_tokens <= len(market) // 4 + 1
    assert second.cache_read_input_tokens == len(LONG) // 4 + first.cache_creation_input_tokens
    assert second.cache_creation_input_tokens == 0


async def test_tools_come_first_in_the_cached_prefix(
    server: FakeAnthropicServer, client: anthropic.AsyncAnthropic
) -> None:
    params = {**_params(), "tools": [TOOL], "tool_choice": {"type": "tool", "name": "answer"}}
    first = (await client.messages.create(**params)).usage
    changed = {**params, "tools": [{**TOOL, "description": "Answer now."}]}
    second = (await client.messages.create(**changed)).usage

    assert first.cache_creation_input_tokens is not None
    assert first.cache_creation_input_tokens > len(LONG) // 4 + TOOL_USE_FORCED
    assert second.cache_read_input_tokens == 0  # a changed tool invalidates the system's cache


async def test_a_5_minute_entry_expires_unless_read_and_a_1_hour_entry_lasts(
    server: FakeAnthropicServer, client: anthropic.AsyncAnthropic
) -> None:
    clock = Clock()
    server.cache.now = clock
    await _usage(client)
    clock.now += 240
    refreshed = await _usage(client)  # read at 4 min: the lifetime starts again
    clock.now += 240
    still = await _usage(client)
    clock.now += 301
    expired = await _usage(client)
    await _usage(client, system=LONG + "Hourly.", ttl="1h")
    clock.now += 3000
    hourly = await _usage(client, system=LONG + "Hourly.", ttl="1h")

    assert refreshed.cache_read_input_tokens == still.cache_read_input_tokens == len(LONG) // 4
    assert expired.cache_read_input_tokens == 0
    assert expired.cache_creation_input_tokens == len(LONG) // 4
    assert hourly.cache_read_input_tokens == len(LONG + "Hourly.") // 4


async def test_a_1_hour_write_is_reported_apart(client: anthropic.AsyncAnthropic) -> None:
    usage = await _usage(client, ttl="1h")

    assert usage.cache_creation is not None
    assert usage.cache_creation.ephemeral_1h_input_tokens == len(LONG) // 4
    assert usage.cache_creation.ephemeral_5m_input_tokens == 0


async def test_requests_of_one_batch_do_not_read_each_others_writes(
    server: FakeAnthropicServer, client: anthropic.AsyncAnthropic
) -> None:
    server.batch_polls = 0

    async def batch(count: int) -> list[anthropic.types.Usage]:
        requests: Any = [{"custom_id": f"r{i}", "params": _params()} for i in range(count)]
        created = await client.messages.batches.create(requests=requests)
        usages = []
        async for item in await client.messages.batches.results(created.id):
            assert item.result.type == "succeeded"
            usages.append(item.result.message.usage)
        return usages

    first = await batch(3)
    second = await batch(2)

    assert [u.cache_creation_input_tokens for u in first] == [len(LONG) // 4] * 3
    assert [u.cache_read_input_tokens for u in second] == [len(LONG) // 4] * 2


async def test_a_fifth_breakpoint_is_refused(client: anthropic.AsyncAnthropic) -> None:
    blocks: Any = [
        {"type": "text", "text": f"part {i}", "cache_control": {"type": "ephemeral"}}
        for i in range(5)
    ]
    with pytest.raises(anthropic.BadRequestError, match="maximum of 4"):
        await client.messages.create(
            model="claude-sonnet-4-6",
            max_tokens=10,
            system=blocks,
            messages=[{"role": "user", "content": "hi"}],
        )

"""The keyed send queue behind the chat outboxes: order per key, keys independent, errors
through the hook, close settles what is pending."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from bot.sendqueue import KeyedSendQueue
from tests.support.waiting import eventually


class Known(Exception):
    """An error the hook turns into a result."""


def handle(key: str, error: Exception) -> list[str]:
    if isinstance(error, Known):
        return [f"{key}: {error}"]
    raise error


def make() -> KeyedSendQueue[str, list[str]]:
    return KeyedSendQueue(on_error=handle, unsent=list, task_name=lambda key: f"test-{key}")


def job(
    log: list[str], name: str, gate: asyncio.Event | None = None
) -> Callable[[], Awaitable[list[str]]]:
    async def run() -> list[str]:
        log.append(f"start {name}")
        if gate is not None:
            await gate.wait()
        await asyncio.sleep(0)  # let any other worker run in between
        log.append(f"end {name}")
        return [name]

    return run


async def test_jobs_under_one_key_run_one_after_another_in_order() -> None:
    queue = make()
    log: list[str] = []
    futures = [queue.submit("a", job(log, f"a{index}")) for index in range(5)]
    assert [await future for future in futures] == [[f"a{index}"] for index in range(5)]
    assert log == [f"{what} a{index}" for index in range(5) for what in ("start", "end")]
    await queue.close()


async def test_a_blocked_key_does_not_hold_up_another() -> None:
    queue, gate = make(), asyncio.Event()
    log: list[str] = []
    blocked = queue.submit("a", job(log, "a1", gate))
    behind = queue.submit("a", job(log, "a2"))
    other = queue.submit("b", job(log, "b1"))
    assert await asyncio.wait_for(other, timeout=5) == ["b1"]
    assert not blocked.done()
    assert not behind.done()
    assert "start a2" not in log
    gate.set()
    assert await blocked == ["a1"]
    assert await behind == ["a2"]
    await queue.drain()
    await queue.close()


async def test_errors_go_through_the_hook_and_the_worker_carries_on() -> None:
    queue = make()
    log: list[str] = []

    async def known() -> list[str]:
        raise Known("unreachable")

    async def unknown() -> list[str]:
        raise ValueError("boom")

    handled = queue.submit("a", known)
    failed = queue.submit("a", unknown)
    after = queue.submit("a", job(log, "a3"))
    assert await handled == ["a: unreachable"]
    with pytest.raises(ValueError, match="boom"):
        await failed
    assert await after == ["a3"]
    await queue.close()


async def test_close_stops_the_workers_and_settles_pending_futures() -> None:
    queue, gate = make(), asyncio.Event()
    log: list[str] = []
    in_hand = queue.submit("a", job(log, "a1", gate))
    queued = [queue.submit("a", job(log, "a2")), queue.submit("b", job(log, "b1", gate))]
    await eventually(lambda: log == ["start a1", "start b1"])  # both workers are busy
    assert await queue.close() == 1  # a2 was still queued
    assert queue.closed
    assert in_hand.result() == []
    assert [future.result() for future in queued] == [[], []]
    assert "end a1" not in log
    assert "start a2" not in log

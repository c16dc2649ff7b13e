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


async def test_run_on_an_idle_key_runs_in_the_callers_task() -> None:
    queue = make()
    ran_in: list[asyncio.Task[object] | None] = []

    async def where() -> list[str]:
        ran_in.append(asyncio.current_task())
        return ["here"]

    assert await queue.run("a", where) == ["here"]
    assert ran_in == [asyncio.current_task()]
    await queue.close()


async def test_run_keeps_the_order_with_queued_jobs_either_way() -> None:
    queue, gate = make(), asyncio.Event()
    log: list[str] = []
    first = queue.submit("a", job(log, "a1", gate))  # queued, then in the worker's hand
    behind = asyncio.create_task(queue.run("a", job(log, "a2")))  # the key is busy: queued
    await eventually(lambda: log == ["start a1"])
    gate.set()
    assert await behind == ["a2"]
    assert await first == ["a1"]

    gate.clear()
    in_place = asyncio.create_task(queue.run("a", job(log, "a3", gate)))  # idle: in place
    await eventually(lambda: "start a3" in log)
    later = queue.submit("a", job(log, "a4"))  # the worker waits for the job in place
    await asyncio.sleep(0.01)
    assert "start a4" not in log
    gate.set()
    assert await in_place == ["a3"]
    assert await later == ["a4"]
    assert log == [f"{what} a{index}" for index in range(1, 5) for what in ("start", "end")]
    await queue.close()


async def test_run_sends_errors_through_the_hook() -> None:
    queue = make()

    async def known() -> list[str]:
        raise Known("unreachable")

    async def unknown() -> list[str]:
        raise ValueError("boom")

    assert await queue.run("a", known) == ["a: unreachable"]
    with pytest.raises(ValueError, match="boom"):
        await queue.run("a", unknown)
    await queue.close()


async def test_drain_and_close_see_a_job_run_in_place() -> None:
    queue, gate = make(), asyncio.Event()
    log: list[str] = []

    async def caller() -> tuple[list[str], int]:
        result = await queue.run("a", job(log, "a1", gate))
        task = asyncio.current_task()
        return result, task.cancelling() if task else -1

    in_place = asyncio.create_task(caller())
    await eventually(lambda: log == ["start a1"])

    drained = asyncio.create_task(queue.drain())
    await asyncio.sleep(0.01)
    assert not drained.done()  # the job in the caller's hand is not handled yet

    assert await queue.close() == 0
    # stopped, answered as an unsent queued job is, and the caller's task not left cancelling
    assert await in_place == ([], 0)
    assert "end a1" not in log
    await asyncio.wait_for(drained, timeout=5)


async def test_a_caller_cancelled_by_someone_else_stays_cancelled() -> None:
    queue, gate = make(), asyncio.Event()
    log: list[str] = []
    in_place = asyncio.create_task(queue.run("a", job(log, "a1", gate)))
    await eventually(lambda: log == ["start a1"])

    in_place.cancel()

    with pytest.raises(asyncio.CancelledError):
        await in_place
    assert await queue.run("a", job(log, "a2")) == ["a2"]  # the key is free again
    await queue.close()


async def test_nothing_runs_once_the_queue_is_closed() -> None:
    queue = make()
    log: list[str] = []
    await queue.close()

    assert await asyncio.wait_for(queue.submit("a", job(log, "late")), timeout=5) == []
    assert await asyncio.wait_for(queue.run("a", job(log, "later")), timeout=5) == []
    assert log == []
    assert queue.after_close == 2


async def test_an_outside_cancel_survives_the_close_that_cancels_the_same_caller() -> None:
    queue, gate = make(), asyncio.Event()
    log: list[str] = []
    in_place = asyncio.create_task(queue.run("a", job(log, "a1", gate)))
    await eventually(lambda: log == ["start a1"])

    in_place.cancel()  # someone else's cancel, not yet delivered...
    await queue.close()  # ...when the close cancels the same caller

    with pytest.raises(asyncio.CancelledError):
        await in_place


async def test_a_job_run_in_place_may_send_more_without_waiting_for_itself() -> None:
    queue = make()
    log: list[str] = []

    async def outer() -> list[str]:
        same = await queue.run("a", job(log, "a-more"))  # part of this job: runs at once
        other = await queue.run("b", job(log, "b1"))  # another key: its own queue
        return ["outer", *same, *other]

    result = await asyncio.wait_for(queue.run("a", outer), timeout=5)

    assert result == ["outer", "a-more", "b1"]
    assert await asyncio.wait_for(queue.run("a", job(log, "a2")), timeout=5) == ["a2"]
    await queue.close()

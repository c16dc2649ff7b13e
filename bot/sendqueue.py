"""One ordered queue and one worker task per recipient, for the chat outboxes.

A job submitted under a key runs after every earlier job under that key, and a slow key does
not hold up another: each key has its own FIFO queue and its own worker, started on the first
job (and again if it has stopped). The caller gets a future, settled with what the job
returned. A job that raises goes to `on_error`, which either returns the result to settle
with (a failure it knows, such as an unreachable recipient) or raises, and the future then
carries that exception (already retrieved, so a failed message does not warn on garbage
collection).

Rate limits, retries and the transport's own errors stay with the outbox that owns the queue:
its jobs pace and retry their requests themselves, and its `on_error` counts and logs.

`run` is `submit` for a caller that waits for the result anyway (a command's answer): when the
key is idle it runs the job in the caller's task, saving the two task switches to the worker
and back (a measurable part of a `/status` round trip); otherwise it queues and waits. Either
way the order holds: a key's jobs, in the worker or in a caller, hold the key's lock in turn,
and a job is run in place only when none is queued or in hand. `drain` and `close` see both.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
R = TypeVar("R")


def _future() -> asyncio.Future[R]:
    return asyncio.get_running_loop().create_future()


@dataclass
class _Job(Generic[R]):
    run: Callable[[], Awaitable[R]]
    done: asyncio.Future[R] = field(default_factory=_future)


class KeyedSendQueue(Generic[K, R]):
    def __init__(
        self,
        *,
        on_error: Callable[[K, Exception], R],
        unsent: Callable[[], R],
        task_name: Callable[[K], str],
    ) -> None:
        """`on_error(key, error)`: the result for a job that raised `error`, or raise to fail
        its future; `unsent()`: the result for a job still pending when the queue closes;
        `task_name(key)`: the name of the key's worker task."""
        self._on_error = on_error
        self._unsent = unsent
        self._task_name = task_name
        self._queues: dict[K, asyncio.Queue[_Job[R]]] = {}
        self._workers: dict[K, asyncio.Task[None]] = {}
        self._locks: dict[K, asyncio.Lock] = {}
        self._pending: set[asyncio.Future[R]] = set()
        # a caller running a job in place: its key, and a future set when the job is done
        self._in_place: dict[asyncio.Task[object], tuple[K, asyncio.Future[None]]] = {}
        self._stopped: set[asyncio.Task[object]] = set()  # callers `close` cancelled
        self.closed = False
        self.after_close = 0  # jobs refused because the queue was closed

    def submit(self, key: K, run: Callable[[], Awaitable[R]]) -> asyncio.Future[R]:
        """Queue `run` behind `key`'s earlier jobs; the future settles with its result. Once
        the queue is closed nothing runs: the future is settled with `unsent()` at once."""
        job: _Job[R] = _Job(run)
        if self.closed:
            self.after_close += 1
            job.done.set_result(self._unsent())
            return job.done
        self._pending.add(job.done)
        job.done.add_done_callback(self._pending.discard)
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = asyncio.Queue()
        queue.put_nowait(job)
        worker = self._workers.get(key)
        if worker is None or worker.done():
            self._workers[key] = asyncio.create_task(
                self._work(key, queue), name=self._task_name(key)
            )
        return job.done

    async def run(self, key: K, run: Callable[[], Awaitable[R]]) -> R:
        """`await submit(key, run)`, run in the caller's task when `key` is idle. Called again
        from inside a job it runs in place, it runs at once for the same key (it is part of
        that job) and queues for another."""
        task = asyncio.current_task()
        if self.closed or task is None:
            return await self.submit(key, run)
        inside = self._in_place.get(task)
        if inside is not None:  # a job run in place asks again: never wait for ourselves
            return await (self._attempt(key, run) if inside[0] == key else self.submit(key, run))
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        queue = self._queues.get(key)
        if lock.locked() or (queue is not None and queue.qsize()):
            return await self.submit(key, run)
        done = asyncio.get_running_loop().create_future()
        self._in_place[task] = (key, done)
        try:
            async with lock:  # a job queued meanwhile waits in the worker for this one
                return await self._attempt(key, run)
        except asyncio.CancelledError:
            if task not in self._stopped:
                raise
            self._stopped.discard(task)
            if task.uncancel() > 0:  # cancelled by someone else as well: theirs stands
                raise
            return self._unsent()  # our own stop: answered as a queued job is
        finally:
            self._stopped.discard(task)
            del self._in_place[task]
            done.set_result(None)

    async def drain(self) -> None:
        """Wait until every queued job, and every job run in place, has been handled."""
        for queue in list(self._queues.values()):
            await queue.join()
        if self._in_place:
            await asyncio.wait([asyncio.shield(done) for _, done in self._in_place.values()])

    async def close(self) -> int:
        """Stop the workers and the jobs run in place (their callers get `unsent()`), and
        settle every future still pending with `unsent()`; returns how many jobs were still
        queued (not counting one a worker or a caller had in hand)."""
        self.closed = True
        for task in self._workers.values():
            task.cancel()
        me = asyncio.current_task()
        callers = {caller: done for caller, (_, done) in self._in_place.items() if caller is not me}
        for caller in callers:
            self._stopped.add(caller)
            caller.cancel()
        if callers:
            await asyncio.wait([asyncio.shield(done) for done in callers.values()])
        for task in self._workers.values():
            with contextlib.suppress(asyncio.CancelledError):
                await task
        left = sum(queue.qsize() for queue in self._queues.values())
        self._workers.clear()
        for future in list(self._pending):
            _settle(future, self._unsent())
        return left

    async def _attempt(self, key: K, run: Callable[[], Awaitable[R]]) -> R:
        """The job's result, or `on_error`'s for what it raised (which may raise in turn)."""
        try:
            return await run()
        except Exception as error:
            return self._on_error(key, error)

    async def _work(self, key: K, queue: asyncio.Queue[_Job[R]]) -> None:
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        while True:
            job = await queue.get()
            try:
                async with lock:
                    result = await self._attempt(key, job.run)
            except Exception as error:
                if not job.done.done():
                    job.done.set_exception(error)
                    job.done.exception()  # retrieved: a failed alert must not warn on GC
            else:
                _settle(job.done, result)
            finally:
                queue.task_done()


def _settle(future: asyncio.Future[R], result: R) -> None:
    if not future.done():
        future.set_result(result)

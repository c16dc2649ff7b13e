"""Non-urgent analyses through the Message Batches API, at half the price.

`BatchSender.send(params)` queues one Messages request; the first request of a batch starts a
timer, and after `window` seconds every request queued by then goes out as one batch
(`client.messages.batches.create`). The batch is polled every `poll` seconds until it has ended,
then its results are streamed (`batches.results`) and each caller gets its own `Message`, or a
`BatchItemFailed` for a request that errored, expired or was cancelled. A failure to create or
poll the batch raises the SDK's `APIError` to every caller of that batch, as a direct call would.

All waits are on the injected clock, so tests move time instead of sleeping.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast

from trader.clock import Clock

if TYPE_CHECKING:  # the SDK is loaded with a client (an API key is set), not by this module
    import anthropic
    from anthropic.types import Message
    from anthropic.types.messages.batch_create_params import Request

log = logging.getLogger(__name__)
BATCH_DISCOUNT = Decimal("0.5")  # batched requests are billed at half the list price


class BatchItemFailed(Exception):
    """One request of a batch came back without a message."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"batch request {kind}{': ' + detail if detail else ''}")
        self.kind = kind


@dataclass(frozen=True, slots=True)
class BatchConfig:
    window: float = 2.0  # seconds to gather requests into one batch
    poll: float = 30.0  # seconds between status checks
    max_requests: int = 10_000  # the API's limit per batch is far above a cycle's needs


class BatchSender:
    def __init__(
        self, client: anthropic.AsyncAnthropic, clock: Clock, config: BatchConfig | None = None
    ) -> None:
        self._client = client
        self._clock = clock
        self.config = config or BatchConfig()
        self._pending: list[tuple[str, dict[str, Any], asyncio.Future[Message]]] = []
        self._flush: asyncio.Task[None] | None = None
        self._ids = itertools.count(1)
        self.batches_sent = 0

    async def send(self, params: dict[str, Any]) -> Message:
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._pending.append((f"r{next(self._ids)}", params, future))
        if self._flush is None or self._flush.done():
            self._flush = asyncio.create_task(self._after_window(), name="llm-batch")
        return await future

    async def _after_window(self) -> None:
        await self._clock.sleep(self.config.window)
        while self._pending:
            taken = self._pending[: self.config.max_requests]
            del self._pending[: len(taken)]
            try:
                await self._run(taken)
            except Exception as exc:  # every caller of the batch learns what went wrong
                for _, _, future in taken:
                    if not future.done():
                        future.set_exception(exc)

    async def _run(self, taken: list[tuple[str, dict[str, Any], asyncio.Future[Message]]]) -> None:
        # the params are the same keyword arguments `messages.create` takes, built in llm.py
        requests = [
            cast("Request", {"custom_id": cid, "params": params}) for cid, params, _ in taken
        ]
        batch = await self._client.messages.batches.create(requests=requests)
        self.batches_sent += 1
        log.info("LLM batch %s sent with %d request(s)", batch.id, len(requests))
        while batch.processing_status != "ended":
            await self._clock.sleep(self.config.poll)
            batch = await self._client.messages.batches.retrieve(batch.id)
        futures = {cid: future for cid, _, future in taken}
        async for item in await self._client.messages.batches.results(batch.id):
            future = futures.pop(item.custom_id, None)
            if future is None or future.done():
                continue
            result = item.result
            if result.type == "succeeded":
                future.set_result(result.message)
            elif result.type == "errored":
                future.set_exception(BatchItemFailed("errored", result.error.error.message))
            else:
                future.set_exception(BatchItemFailed(result.type))
        for future in futures.values():  # no line for it in the results
            if not future.done():
                future.set_exception(BatchItemFailed("missing from the results"))

"""Several markets screened in one call of the triage model.

A screen's fixed part (the tool-use system prompt the API adds, the tool and the system prompt:
about 530 tokens) is longer than a market's own part (its question, price and headlines), and
the triage model does not cache it (Haiku 4.5 caches prompts of 4,096 tokens or more), so one
call a market pays it once a market. `ScreenGroups` gathers the screens asked for within
`window` seconds into calls of up to `size` markets, one list of numbered markets each,
answered by one forced `screen_markets` call with a verdict per market. Direct and batched
screens are grouped apart. Each market is charged its share of the call (`shares`: the tokens
split evenly, the remainder to the first), so the shares add up to what the call cost. A market
the answer leaves out has a failed screen (it is analysed anyway, as after any failed screen);
a call that fails fails the screen of every market in it.

All waits are on the injected clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from trader.clock import Clock
from trader.signals.prompts import ScreenOutput
from trader.signals.values import AnalysisRequest, SampleOutcome

ScreenResult = ScreenOutput | SampleOutcome
Flush = Callable[[Sequence[AnalysisRequest], bool], Awaitable[Sequence[ScreenResult]]]


@dataclass(frozen=True, slots=True)
class ScreenGroupConfig:
    size: int = 10  # markets a call (the answer grows with it: a verdict is ~25 tokens)
    window: float = 0.2  # seconds to gather the screens of one cycle's markets

    def __post_init__(self) -> None:
        if self.size < 1 or self.window < 0:
            raise ValueError("a screen group needs size >= 1 and window >= 0")


def shares(tokens: dict[str, int], parts: int) -> list[dict[str, int]]:
    """`tokens` split into `parts` integer shares that add up to it."""
    out = [dict.fromkeys(tokens, 0) for _ in range(parts)]
    for kind, total in tokens.items():
        each, left = divmod(total, parts)
        for n, share in enumerate(out):
            share[kind] = each + (left if n == 0 else 0)
    return out


class ScreenGroups:
    def __init__(self, flush: Flush, clock: Clock, config: ScreenGroupConfig) -> None:
        self._flush = flush
        self._clock = clock
        self.config = config
        self._pending: dict[bool, list[tuple[AnalysisRequest, asyncio.Future[ScreenResult]]]] = {
            False: [],
            True: [],
        }
        self._timers: dict[bool, asyncio.Task[None]] = {}
        self.calls = 0

    async def screen(self, request: AnalysisRequest, batch: bool) -> ScreenResult:
        future: asyncio.Future[ScreenResult] = asyncio.get_running_loop().create_future()
        self._pending[batch].append((request, future))
        timer = self._timers.get(batch)
        if timer is None or timer.done():
            self._timers[batch] = asyncio.create_task(self._after_window(batch), name="screens")
        return await future

    async def _after_window(self, batch: bool) -> None:
        await self._clock.sleep(self.config.window)
        taken, self._pending[batch] = self._pending[batch], []
        del self._timers[batch]  # a screen asked for from now on starts the next window
        size = self.config.size
        groups = [taken[i : i + size] for i in range(0, len(taken), size)]
        await asyncio.gather(*(self._run(group, batch) for group in groups))

    async def _run(
        self, group: list[tuple[AnalysisRequest, asyncio.Future[ScreenResult]]], batch: bool
    ) -> None:
        self.calls += 1
        try:
            results = await self._flush([request for request, _ in group], batch)
        except Exception as exc:  # every market of the call learns what went wrong
            for _, future in group:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), result in zip(group, results, strict=True):
            if not future.done():
                future.set_result(result)

"""/status round trip through Telegram: update in (getUpdates) to reply out (sendMessage).

Both bots run the real aiogram client against the fake Bot API server on loopback:
- `polyops_*`: the Polyops transport (auth and audit middlewares, per-feature routers, the
  command core, a real Control API over memory, the outbox). Its flood control is raised out
  of the way, so the figure is processing, not the one-message-a-second chat pacing.
- `echo_*`: a minimal aiogram echo bot on aiogram's own polling loop: the floor.

One request at a time (send, wait for the reply, next), so each figure is a latency. The two
bots run side by side in one event loop, each against its own fake server, and take turns
(one /status to Polyops, one to the echo bot, ...): on a shared machine the load changes
from second to second, and alternating puts both under the same conditions. `ratio_p50` is
Polyops' p50 over the echo bot's (target: at most 1.2); `*_cpu_ms` is the process CPU time
per round trip (time.process_time), which the machine's load disturbs less than wall time.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from collections.abc import AsyncIterator

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Message
from pydantic import SecretStr

from bot.commands.core import CommandCore
from bot.notifier import Notifier
from bot.telegram import FloodPolicy, PollingConfig, build_telegram
from tests.support.chat_stack import FakeDesk, FakeTelegramSettings
from tests.support.memory import MemoryEvents, MemoryStore
from tests.support.telegram_server import (
    OPERATOR_ID,
    FakeBotAPI,
)
from trader.clock import SystemClock
from trader.control.api import ControlAPI
from trader.domain import TradingMode
from trader.state import ControlState

ROUNDS = 300
WARMUP = 30
UNTHROTTLED = FloodPolicy(
    global_rate=1e6,
    global_burst=1e6,
    private_rate=1e6,
    private_burst=1e6,
    group_rate=1e6,
    group_burst=1e6,
)


async def _round(api: FakeBotAPI, text: str) -> tuple[float, float]:
    """One request to one bot: (wall ms, CPU ms) from the update to the reply."""
    count = len(api.to(OPERATOR_ID))
    cpu, started = time.process_time(), time.perf_counter()
    api.send_text(OPERATOR_ID, text)
    await api.wait_sent(OPERATOR_ID, count + 1)
    return (time.perf_counter() - started) * 1000, (time.process_time() - cpu) * 1000


async def _polyops(api: FakeBotAPI) -> AsyncIterator[None]:
    clock = SystemClock()
    events = MemoryEvents(clock)
    state = ControlState(MemoryStore(), clock)
    await state.load()
    control = ControlAPI(
        state=state,
        events=events,
        event_reader=events,
        clock=clock,
        mode=TradingMode.PAPER,
        desk=FakeDesk(state, clock),
    )
    notifier = Notifier(clock)
    core = CommandCore(control, clock=clock, notifier=notifier)
    settings = FakeTelegramSettings(
        SecretStr(api.token), api.base_url, frozenset({OPERATOR_ID}), frozenset()
    )
    transport = build_telegram(
        settings, core, notifier, clock, flood=UNTHROTTLED, polling=PollingConfig(timeout=1)
    )
    await transport.start()
    polling = asyncio.create_task(transport.run())
    try:
        yield
    finally:
        polling.cancel()
        await asyncio.gather(polling, return_exceptions=True)
        await transport.stop()


async def _echo(api: FakeBotAPI) -> AsyncIterator[None]:
    bot = Bot(api.token, session=AiohttpSession(api=TelegramAPIServer.from_base(api.base_url)))
    dispatcher = Dispatcher()

    @dispatcher.message()
    async def echo(message: Message) -> None:
        await message.answer(message.text or ".")

    polling = asyncio.create_task(
        dispatcher.start_polling(bot, handle_signals=False, polling_timeout=1)
    )
    try:
        yield
    finally:
        await dispatcher.stop_polling()
        await polling


async def _side_by_side() -> dict[str, list[tuple[float, float]]]:
    samples: dict[str, list[tuple[float, float]]] = {"polyops": [], "echo": []}
    async with (
        FakeBotAPI() as polyops_api,
        FakeBotAPI() as echo_api,
        contextlib.asynccontextmanager(_polyops)(polyops_api),
        contextlib.asynccontextmanager(_echo)(echo_api),
    ):
        for i in range(ROUNDS + WARMUP):
            for name, api in (("polyops", polyops_api), ("echo", echo_api)):
                sample = await _round(api, "/status")
                if i >= WARMUP:
                    samples[name].append(sample)
    return samples


def _figures(prefix: str, samples: list[tuple[float, float]]) -> dict[str, float]:
    ordered = sorted(wall for wall, _ in samples)
    return {
        f"{prefix}_p50_ms": round(statistics.median(ordered), 2),
        f"{prefix}_p95_ms": round(ordered[int(len(ordered) * 0.95) - 1], 2),
        f"{prefix}_cpu_ms": round(statistics.median(cpu for _, cpu in samples), 3),
    }


def run() -> dict[str, float]:
    samples = asyncio.run(_side_by_side())
    figures = {**_figures("polyops", samples["polyops"]), **_figures("echo", samples["echo"])}
    figures["overhead_p50_ms"] = round(figures["polyops_p50_ms"] - figures["echo_p50_ms"], 2)
    figures["ratio_p50"] = round(figures["polyops_p50_ms"] / figures["echo_p50_ms"], 2)
    figures["rounds"] = float(ROUNDS)
    return figures


if __name__ == "__main__":
    for name, value in run().items():
        print(f"{name:>18}: {value}")

"""/status round trip through Telegram: update in (getUpdates) to reply out (sendMessage).

Both bots run the real aiogram client against the fake Bot API server on loopback:
- `polyops_*`: the Polyops transport (auth and audit middlewares, per-feature routers, the
  command core, a real Control API over memory, the outbox). Its flood control is raised out
  of the way, so the figure is processing, not the one-message-a-second chat pacing.
- `echo_*`: a minimal aiogram echo bot on aiogram's own polling loop: the floor.

One request at a time (send, wait for the reply, next), so each figure is a latency.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable

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


async def _measure(api: FakeBotAPI, text: str) -> list[float]:
    samples: list[float] = []
    for i in range(ROUNDS + WARMUP):
        count = len(api.to(OPERATOR_ID))
        started = time.perf_counter()
        api.send_text(OPERATOR_ID, text)
        await api.wait_sent(OPERATOR_ID, count + 1)
        if i >= WARMUP:
            samples.append((time.perf_counter() - started) * 1000)
    return samples


async def _polyops(api: FakeBotAPI) -> list[float]:
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
        return await _measure(api, "/status")
    finally:
        polling.cancel()
        await asyncio.gather(polling, return_exceptions=True)
        await transport.stop()


async def _echo(api: FakeBotAPI) -> list[float]:
    bot = Bot(api.token, session=AiohttpSession(api=TelegramAPIServer.from_base(api.base_url)))
    dispatcher = Dispatcher()

    @dispatcher.message()
    async def echo(message: Message) -> None:
        await message.answer(message.text or ".")

    polling = asyncio.create_task(
        dispatcher.start_polling(bot, handle_signals=False, polling_timeout=1)
    )
    try:
        return await _measure(api, "/status")
    finally:
        await dispatcher.stop_polling()
        await polling


async def _with_server(body: Callable[[FakeBotAPI], Awaitable[list[float]]]) -> list[float]:
    async with FakeBotAPI() as api:
        return await body(api)


def _figures(prefix: str, samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        f"{prefix}_p50_ms": round(statistics.median(ordered), 2),
        f"{prefix}_p95_ms": round(ordered[int(len(ordered) * 0.95) - 1], 2),
    }


def run() -> dict[str, float]:
    polyops = asyncio.run(_with_server(_polyops))
    echo = asyncio.run(_with_server(_echo))
    figures = {**_figures("polyops", polyops), **_figures("echo", echo)}
    figures["overhead_p50_ms"] = round(figures["polyops_p50_ms"] - figures["echo_p50_ms"], 2)
    figures["rounds"] = float(ROUNDS)
    return figures


if __name__ == "__main__":
    for name, value in run().items():
        print(f"{name:>18}: {value}")

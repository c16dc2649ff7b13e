"""The hub over the fake Bot API: two traders' Control APIs served over signed HTTP on
127.0.0.1 (in-memory parts, tests/support/remote_rig.py), reached by `RemoteControl`s, and
the hub's chat (`HubCore`, one notifier, the relays and the instance watch) on the real
aiogram client. `hub_stack(api, tmp)` yields a `HubStack`; everything is stopped after.
`clock` and `backtests` (an instance's name: its `BacktestRunner`) are for /backtest; an
instance not in `backtests` has none.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from bot.hub.alerts import InstanceRelays, InstanceWatch
from bot.hub.core import HubCore
from bot.notifier import Notifier
from bot.telegram import PollingConfig, build_telegram
from tests.support.chat_stack import FakeTelegramSettings, MemoryControl, memory_control
from tests.support.remote_rig import Served, served
from tests.support.telegram_server import OPERATOR_ID, VIEWER_ID, FakeBotAPI
from tests.support.waiting import eventually
from trader.clock import FakeClock
from trader.control.types import BacktestRunner


@dataclass
class HubStack:
    api: FakeBotAPI
    clock: FakeClock
    memories: dict[str, MemoryControl]
    served: dict[str, Served]
    core: HubCore
    notifier: Notifier
    watch: InstanceWatch


@asynccontextmanager
async def hub_stack(
    api: FakeBotAPI,
    tmp: Path,
    names: tuple[str, ...] = ("alpha", "beta"),
    *,
    clock: FakeClock | None = None,
    backtests: Mapping[str, BacktestRunner] | None = None,
) -> AsyncIterator[HubStack]:
    clock = clock or FakeClock()
    api.clock = clock
    runners = backtests or {}
    async with AsyncExitStack() as stack:
        memories = {
            name: await memory_control(clock, name=name, backtests=runners.get(name))
            for name in names
        }
        rigs = {
            name: await stack.enter_async_context(served(memories[name], clock, tmp, name=name))
            for name in names
        }
        remotes = [rigs[name].remote for name in names]
        notifier = Notifier(clock)
        core = HubCore(remotes, clock=clock, notifier=notifier, answer_within_s=3)
        relays = InstanceRelays(remotes, notifier, clock, retry_s=0.2)
        watch = InstanceWatch(remotes, notifier, interval_s=3600, timeout_s=3)
        settings = FakeTelegramSettings(
            SecretStr(api.token), api.base_url, frozenset({OPERATOR_ID}), frozenset({VIEWER_ID})
        )
        transport = build_telegram(
            settings, core, notifier, clock, polling=PollingConfig(timeout=1, conflict_retry=0.05)
        )
        await transport.start()
        tasks = [asyncio.create_task(transport.run()), asyncio.create_task(relays.run())]
        try:
            await eventually(
                lambda: all(
                    m.desk.alert_streams and m.desk.approval_streams for m in memories.values()
                )
            )
            yield HubStack(api, clock, memories, rigs, core, notifier, watch)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await transport.stop()

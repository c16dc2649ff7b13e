"""What the end-to-end days share: quiet simulator markets, fast cycles and a fake model that
answers per market question (for `FakeAnthropicServer(responder=...)`)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.anthropic_server import FakeAnthropicServer, Reply
from tests.support.processes import (
    AppSettings,
    NewsFeed,
    Processes,
    Simulator,
    address_of,
    migrate,
    random_key,
    start_simulator,
)
from tests.support.telegram_server import OPERATOR_ID, FakeBotAPI

FAST_CYCLES = {  # the app's schedule compressed into seconds
    "SIGNAL_CYCLE_S": "2",
    "MARKET_REFRESH_S": "30",
    "RECONCILE_S": "2",
    "EQUITY_SNAPSHOT_S": "5",
    "HEALTH_CHECK_S": "30",
    "HEARTBEAT_INTERVAL_S": "1",
}


def quiet_market(question: str, slug: str, fair: str) -> dict[str, Any]:
    """A simulator market whose prices move only when the test moves them."""
    return {
        "question": question,
        "slug": slug,
        "fair_price": fair,
        "volatility": 0,
        "flow_rate": 0,
        "depth": 5,
        "level_size": "400",
        "end_in_s": 30 * 86400,
        "volume": "900000",
        "liquidity": "50000",
    }


def scenario(seed: int, *markets: dict[str, Any]) -> dict[str, Any]:
    return {
        "seed": seed,
        "tick_interval_s": 0.5,
        "heartbeat_timeout_s": 60,
        "settlement_delay_s": 0.5,
        "initial_collateral": "10000",
        "markets": list(markets),
    }


class Views:
    """The fake model's YES probability per market question (0.5 for any other); a test
    changes its mind by changing `probability`."""

    def __init__(self, probability: dict[str, float]) -> None:
        self.probability = dict(probability)

    def __call__(self, body: dict[str, Any]) -> Reply:
        text = json.dumps(body)
        question = next((q for q in self.probability if json.dumps(q)[1:-1] in text), None)
        return Reply.answer(self.probability.get(question or "", 0.5), confidence=0.8)


@dataclass
class DayParts:
    """One end-to-end day's servers and settings (the app itself is started by the test)."""

    processes: Processes
    api: FakeBotAPI
    llm: FakeAnthropicServer
    views: Views
    sim: Simulator
    settings: AppSettings
    address: str  # the live key's wallet address


@asynccontextmanager
async def day_parts(
    workdir: Path,
    world: dict[str, Any],
    views: Views,
    headlines: list[str],
    extra: dict[str, str],
) -> AsyncIterator[DayParts]:
    """The fake Bot API, the fake Anthropic server answering with `views`, an RSS feed of
    `headlines`, the simulator with `world` and a migrated database for a live-mode app (the
    Polymarket SDK with a random key) configured with `extra`; all closed on the way out."""
    processes = Processes(workdir)
    api, llm = await FakeBotAPI().start(), FakeAnthropicServer(responder=views)
    await llm.start()
    feed = await NewsFeed(list(headlines)).start()
    sim: Simulator | None = None
    try:
        sim = await start_simulator(processes, world, seed=int(world["seed"]))
        key = random_key()
        settings = AppSettings(
            workdir / "polyops.db",
            sim.url,
            live_key=key,
            telegram=(api.token, api.base_url, OPERATOR_ID),
            anthropic_url=llm.url,
            news_feed=feed.url,
            extra=extra,
        )
        await migrate(processes, settings)
        yield DayParts(processes, api, llm, views, sim, settings, address_of(key))
    finally:
        await processes.close()
        if sim is not None:
            await sim.close()
        await feed.close()
        await llm.close()
        await api.stop()

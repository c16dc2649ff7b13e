"""What the end-to-end days share: quiet simulator markets, fast cycles, a fake model that
answers per market question, and `chat_day`: the servers, the settings and the chat helpers."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from chaos.invariants import venue_view
from tests.support.anthropic_server import FakeAnthropicServer, Reply
from tests.support.processes import (
    AppSettings,
    Child,
    NewsFeed,
    Processes,
    Simulator,
    migrate,
    random_key,
    setup_wallet,
    start_app,
    start_simulator,
)
from tests.support.telegram_server import OPERATOR_ID, FakeBotAPI, Sent
from tests.support.waiting import eventually

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
        "new_accounts": "all",  # opened since CLOB V2: EOA orders refused, as production does
        "chain_confirm_s": 0.2,  # relayed transactions (deployment, approvals) confirm quickly
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


WAIT_S = 45.0  # generous: replies queue behind alerts at Telegram's one message a second


@dataclass
class ChatDay:
    """One end-to-end day's servers and settings, the app once started, and the chat."""

    processes: Processes
    api: FakeBotAPI
    llm: FakeAnthropicServer
    views: Views
    sim: Simulator
    settings: AppSettings
    address: str  # the live key's deposit wallet (`trader setup` deployed it)
    app: Child | None = None

    # the chat ---------------------------------------------------------------------------

    def messages(self, chat: int = OPERATOR_ID) -> list[Sent]:
        return self.api.to(chat)

    async def message(
        self,
        predicate: Callable[[Sent], bool],
        after: int,
        edited: Sent | None = None,
        *,
        chat: int = OPERATOR_ID,
    ) -> Sent:
        """The first message to `chat` since index `after` (or `edited`, edited in place)
        that fits."""
        found: list[Sent] = []

        def arrived() -> bool:
            found[:] = [m for m in self.messages(chat)[after:] if predicate(m)]
            if edited is not None and predicate(edited):
                found.append(edited)
            return bool(found)

        try:
            await eventually(arrived, timeout=WAIT_S, interval=0.1)
        except AssertionError:
            raise AssertionError(self.explain("no such message", chat)) from None
        return found[0]

    async def say(self, text: str, expect: str, *, chat: int = OPERATOR_ID) -> Sent:
        mark = len(self.messages(chat))
        self.api.send_text(chat, text)
        return await self.message(lambda m: expect in m.plain, mark, chat=chat)

    def explain(self, what: str, chat: int = OPERATOR_ID) -> str:
        lines = "\n".join(f"> {m.plain[:300]}" for m in self.messages(chat)[-12:])
        return f"{what}\n--- chat\n{lines}\n{self.processes.logs()}"

    # the venue --------------------------------------------------------------------------

    async def condition(self, question: str) -> tuple[str, str]:
        """(condition id, YES token id) of a market."""
        found = next(m for m in (await self.sim.state())["markets"] if m["question"] == question)
        return found["condition_id"], found["token_ids"][0]

    async def our_orders(self) -> list[dict[str, Any]]:
        return venue_view(await self.sim.state(), self.address).orders

    # the app ----------------------------------------------------------------------------

    async def start(self) -> Child:
        mark = len(self.messages())
        self.app = await start_app(self.processes, self.settings)
        await self.message(lambda m: m.plain.split("\n")[0].endswith(" started"), mark)
        return self.app

    async def crash(self) -> None:
        assert self.app is not None
        await self.app.kill()


DayT = TypeVar("DayT", bound=ChatDay)


@asynccontextmanager
async def chat_day(
    kind: type[DayT],
    workdir: Path,
    world: dict[str, Any],
    views: Views,
    headlines: list[str],
    extra: dict[str, str],
) -> AsyncIterator[DayT]:
    """The fake Bot API, the fake Anthropic server answering with `views`, an RSS feed of
    `headlines`, the simulator with `world` and a migrated database for a live-mode app (the
    Polymarket SDK with a random key) configured with `extra`; all closed on the way out."""
    processes = Processes(workdir)
    # the day's fake model changes its mind (`Views`) without new news, which a real model's
    # samples on the same evidence would not: the same evidence is drawn again, not reused
    extra = {"LLM_FORECAST_REUSE_S": "0", **extra}
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
            wallet="deposit",  # a new account on the default settings
            telegram=(api.token, api.base_url, OPERATOR_ID),
            anthropic_url=llm.url,
            news_feed=feed.url,
            extra=extra,
        )
        await migrate(processes, settings)
        wallet = await setup_wallet(processes, sim, settings)  # `trader setup`
        yield kind(processes, api, llm, views, sim, settings, wallet)
    finally:
        await processes.close()
        if sim is not None:
            await sim.close()
        await feed.close()
        await llm.close()
        await api.stop()

"""A trading day compressed into about a minute, every part a real process on loopback.

Processes: the CLOB simulator (`trader sim`), the app in live mode (`trader run --no-console`,
the real Polymarket SDK with a random key), the watchdog (`trader watchdog`). In this test's
loop: the fake Telegram Bot API (driven by the app's real aiogram client), the fake Anthropic
Messages API (the real `anthropic` SDK) and an RSS feed. Signal cycles run every 2 s.

The day: the first cycle trades; the operator asks for /status, turns approval mode on and
approves a trade with its button; kills trading with /kill and its confirm button; a cycle
while killed sends nothing; the app is SIGKILLed (the watchdog says so) and restarted: still
KILLED, positions back and equal to the venue's, no duplicate order, no lost fill; /rearm with
its confirm button; the app is SIGKILLed again right after an order reached the venue, and
restarts without sending it twice; a market resolves (admin resolve): the position is settled
and the alert reaches the chat; a graceful stop. Assertions read the fake servers' recorded
traffic, the simulator's /_admin/state and the database.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from chaos.invariants import check_all, failures, read_ledger, venue_view
from tests.support.market_day import (
    FAST_CYCLES,
    WAIT_S,
    ChatDay,
    Views,
    chat_day,
    quiet_market,
    scenario,
)
from tests.support.telegram_server import OPERATOR_ID, Sent
from tests.support.waiting import eventually

pytestmark = pytest.mark.slow

FED = "Will the Fed cut rates at its next meeting?"
MERGER = "Will the merger receive regulatory approval by year end?"
FINAL = "Will the home team win tonight's final?"


SCENARIO = scenario(
    5,
    quiet_market(FED, "fed-cut", "0.62"),
    quiet_market(MERGER, "merger-approval", "0.41"),
    quiet_market(FINAL, "final-home-win", "0.55"),
)
HEADLINES = [
    "Fed officials signal support for a rate cut at the next meeting",
    "Merger approval advances as regulators clear the final review",
    "Home team leads the final at half time",
]
FAST_DAY = FAST_CYCLES | {"WATCHDOG_TIMEOUT_S": "4", "LLM_ENSEMBLE_SAMPLES": "1"}


def day_views() -> Views:
    """Bullish on the Fed from the start, the market's own price (no edge) for the others
    until the test changes its mind."""
    return Views({FED: 0.85, MERGER: 0.41, FINAL: 0.55})


class Day(ChatDay):
    async def press(self, message: Sent, label: str, expect: str) -> Sent:
        """Tap the button whose label contains `label`; the answer is a new message or the
        same message edited."""
        mark = len(self.messages())
        data = next(d for text, d in message.buttons if label in text)
        query = self.api.press(OPERATOR_ID, message, data)
        reply = await self.message(lambda m: expect in m.plain, mark, edited=message)
        assert self.api.answer_for(query) is not None  # the button's spinner was answered
        return reply

    async def consistent(self) -> None:
        """Wait (reconciliation runs every 2 s) until the database agrees with the venue:
        every invariant of chaos.invariants holds."""
        last: dict[str, list[str]] = {}

        async def agrees() -> bool:
            ledger = await asyncio.to_thread(read_ledger, self.settings.database)
            last.clear()
            last.update(
                failures(check_all(ledger, venue_view(await self.sim.state(), self.address)))
            )
            return not last

        try:
            await eventually(agrees, timeout=WAIT_S, interval=0.25)
        except AssertionError:
            raise AssertionError(self.explain(f"invariants failed: {last}")) from None

    async def events(self, kind: str) -> list[Any]:
        ledger = await asyncio.to_thread(read_ledger, self.settings.database)
        return [e for e in ledger.events if e.type == kind]


@pytest.fixture
async def day(tmp_path: Path) -> AsyncIterator[Day]:
    async with chat_day(Day, tmp_path, SCENARIO, day_views(), HEADLINES, FAST_DAY) as day:
        yield day


async def test_a_trading_day_with_commands_crashes_and_a_resolution(day: Day) -> None:
    api, sim = day.api, day.sim
    _, fed_yes = await day.condition(FED)
    merger, merger_yes = await day.condition(MERGER)
    final, final_yes = await day.condition(FINAL)

    # Morning: the app starts; the watchdog watches it; /status; the first cycle trades.
    await day.start()
    watchdog = await day.processes.trader("watchdog", "watchdog", env=day.settings.env())
    status = await day.say("/status", "Polyops status")
    assert "Mode: live" in status.plain
    assert "Trading: RUNNING" in status.plain
    assert "Approval mode: off" in status.plain
    await day.message(lambda m: "Filled: BUY" in m.plain and "Fed" in m.plain, 0)
    assert [o["asset_id"] for o in await day.our_orders()] == [fed_yes]
    assert day.llm.requests  # the cycle asked the (fake) model

    # Approval mode: the next trade asks first; the Approve button places it.
    await day.say("/approve on", "Approval mode off → on")
    mark = len(day.messages())
    day.views.probability[MERGER] = 0.8
    await sim.price(merger, "0.35")  # news for the model: a new price to analyse
    card = await day.message(lambda m: "Approve this trade?" in m.plain, mark)
    assert "merger" in card.plain
    assert len(await day.our_orders()) == 1  # asked, not sent
    decided = await day.press(card, "Approve", "Approved by")
    assert "order placed" in decided.plain
    assert decided.buttons == []  # the card was closed: no second tap
    orders = await day.our_orders()
    assert sorted(o["asset_id"] for o in orders) == sorted([fed_yes, merger_yes])
    await day.say("/approve off", "Approval mode on → off")

    # Kill: two steps, then a cycle that finds an edge sends nothing.
    prompt = await day.say("/kill end of morning", "Kill switch")
    mark = len(day.messages())
    reply = await day.press(prompt, "Cancel orders and halt", "🛑 Trading KILLED")
    assert "Trade again with /rearm" in reply.plain
    alert = await day.message(lambda m: "🚨 Trading KILLED by telegram:1001" in m.plain, mark)
    await day.press(alert, "Acknowledge", "Acknowledged")  # a critical repeats until acked
    denied_before = len(await day.events("intent_denied"))
    day.views.probability[FINAL] = 0.85
    await sim.price(final, "0.50")

    async def denied_while_killed() -> bool:
        events = await day.events("intent_denied")
        return any(e.payload.get("rule") == "killed" for e in events[denied_before:])

    await eventually(denied_while_killed, timeout=WAIT_S, interval=0.25)
    assert len(await day.our_orders()) == 2

    # Crash while killed: the watchdog notices; the restart keeps KILLED and the positions.
    mark = len(day.messages())
    await day.crash()
    await day.message(lambda m: "app silent" in m.plain, mark)
    await day.start()
    await day.message(lambda m: "recovered" in m.plain, mark)
    status = await day.say("/status", "Polyops status")
    assert "Trading: KILLED" in status.plain
    positions = await day.say("/positions", "osition")
    assert "Fed" in positions.plain
    assert "merger" in positions.plain
    await day.consistent()
    ledger = await asyncio.to_thread(read_ledger, day.settings.database)
    assert set(ledger.positions) == {fed_yes, merger_yes}

    # Re-arm, then a crash right after an order reached the venue: sent once, filled once.
    prompt = await day.say("/rearm", "Re-arm trading?")
    await day.press(prompt, "Re-arm", "Re-armed: trading RUNNING")
    await sim.price(final, "0.48")

    async def final_order_sent() -> bool:
        return any(o["asset_id"] == final_yes for o in await day.our_orders())

    await eventually(final_order_sent, timeout=WAIT_S, interval=0.02)
    await day.crash()
    await day.start()
    await day.consistent()
    orders = await day.our_orders()
    assert sorted(o["asset_id"] for o in orders) == sorted([fed_yes, merger_yes, final_yes])

    # Evening: the final resolves YES at the venue; the position is settled and reported.
    mark = len(day.messages())
    await sim.resolve(final, "Yes")
    resolved = await day.message(lambda m: "Market resolved" in m.plain, mark)
    assert "home team" in resolved.plain

    async def settled() -> bool:  # the event log is written in batches, off the hot path
        return [e.payload["market"] for e in await day.events("market_settled")] == [final]

    await eventually(settled, timeout=WAIT_S, interval=0.1)
    await day.consistent()
    ledger = await asyncio.to_thread(read_ledger, day.settings.database)
    assert set(ledger.positions) == {fed_yes, merger_yes}

    # Night: a graceful stop says so in the chat; no secret in any log.
    assert day.app is not None
    mark = len(day.messages())
    assert await day.app.stop() == 0
    await day.message(lambda m: "Polyops stopping" in m.plain, mark)
    assert await watchdog.stop() == 0
    final_check = check_all(
        await asyncio.to_thread(read_ledger, day.settings.database),
        venue_view(await sim.state(), day.address),
    )
    assert failures(final_check) == {}
    logs = day.processes.logs(chars=10**7)
    assert day.settings.live_key is not None
    assert day.settings.live_key.removeprefix("0x") not in logs
    assert api.token not in logs

"""/why end to end, every part a real process on loopback: the CLOB simulator (`trader sim`),
the app in live mode (`trader run --no-console`, the real Polymarket SDK), the fake Telegram
Bot API (the app's real aiogram client), the fake Anthropic Messages API (the real `anthropic`
SDK) and an RSS feed.

A cycle trades the Fed market; the fill's alert carries a Why button; the chain behind the
order (by its button, by its order id) names the news title, each sample, the blend, the
sizing cap that bound the stake and the fill. Paused, the next intent is denied: `/why denied`
and `/why <market>` show the rule. The app is SIGKILLed and restarted: the earlier order's
chain is still complete, in the chat, from `trader why` and from GET /why. A viewer may ask;
a stranger learns nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from chaos.invariants import read_ledger
from tests.support.market_day import (
    FAST_CYCLES,
    WAIT_S,
    ChatDay,
    Views,
    chat_day,
    quiet_market,
    scenario,
)
from tests.support.telegram_server import OPERATOR_ID, STRANGER_ID, VIEWER_ID, Sent
from tests.support.waiting import eventually

pytestmark = pytest.mark.slow

FED = "Will the Fed cut rates at its next meeting?"
MERGER = "Will the merger receive regulatory approval by year end?"
FED_NEWS = "Fed officials signal support for a rate cut at the next meeting"
MERGER_NEWS = "Merger approval advances as regulators clear the final review"


SCENARIO = scenario(
    7, quiet_market(FED, "fed-cut", "0.62"), quiet_market(MERGER, "merger-approval", "0.41")
)
FAST = FAST_CYCLES | {
    "LLM_ENSEMBLE_SAMPLES": "3",
    "MAX_ORDER_NOTIONAL_USD": "40",
    "TELEGRAM_VIEWER_IDS": str(VIEWER_ID),
}


class Rig(ChatDay):
    async def order_ids(self, token: str) -> list[str]:
        return [str(o["id"]) for o in await self.our_orders() if o["asset_id"] == token]


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    views = Views({FED: 0.85, MERGER: 0.41})  # bullish on the Fed, no view on the merger
    news = [FED_NEWS, MERGER_NEWS]
    async with chat_day(Rig, tmp_path, SCENARIO, views, news, FAST) as rig:
        yield rig


def assert_complete_fed_chain(text: str) -> None:
    """The chain of the Fed buy: the news, the samples, the blend, the cap, the fill."""
    assert FED in text
    assert FED_NEWS in text
    assert "Samples: 0.85, 0.85, 0.85 → 0.85" in text
    assert "Blend: model 0.85 at 15% with market 0.6" in text  # the YES mid, around 0.62
    assert "cap $40.00" in text
    assert "bound by the max order notional cap" in text
    assert "Risk: passed" in text
    assert "Fill " in text
    assert "→ position" in text
    assert "missing" not in text


async def test_why_explains_a_trade_a_denial_and_survives_a_crash(rig: Rig) -> None:
    api = rig.api
    _, fed_yes = await rig.condition(FED)
    merger, _ = await rig.condition(MERGER)

    # A cycle trades the Fed market; the fill's alert has a Why button.
    await rig.start()
    fill = await rig.message(lambda m: "Filled: BUY" in m.plain, 0)
    why = next(data for label, data in fill.buttons if "Why" in label)
    mark = len(api.to(OPERATOR_ID))
    api.press(OPERATOR_ID, fill, why)
    by_button = await rig.message(lambda m: m.plain.startswith("Why:"), mark, chat=OPERATOR_ID)
    assert_complete_fed_chain(by_button.plain)

    # The viewer asks by the order id; the stranger asks and learns nothing.
    (order_id,) = await rig.order_ids(fed_yes)
    answer = await rig.say(f"/why {order_id}", "Why:", chat=VIEWER_ID)
    assert_complete_fed_chain(answer.plain)
    assert order_id[:12] in answer.plain
    mark = len(api.to(STRANGER_ID))
    api.send_text(STRANGER_ID, f"/why {order_id}")
    refusal = await rig.message(lambda m: "Not authorised" in m.plain, mark, chat=STRANGER_ID)
    assert FED not in refusal.plain
    query = api.press(STRANGER_ID, None, why)  # the button, pressed by a stranger
    await eventually(lambda: api.answer_for(query) is not None, timeout=WAIT_S)
    assert all(not m.plain.startswith("Why:") for m in api.to(STRANGER_ID))

    # Paused, the next intent is denied: /why denied and /why <market> show the rule.
    await rig.say("/pause", "Paused", chat=OPERATOR_ID)
    rig.views.probability[MERGER] = 0.8
    await rig.sim.price(merger, "0.35")
    denied = await _eventually_says(rig, "/why denied", "paused:")
    assert "merger" in denied.plain
    chain = await rig.say("/why merger", "Why:", chat=VIEWER_ID)
    assert "Risk: DENIED by paused" in chain.plain
    assert MERGER_NEWS in chain.plain
    assert "Order" not in chain.plain  # denied: nothing was sent, and nothing is missing
    assert "missing" not in chain.plain

    # SIGKILL and restart: the earlier order's chain is still complete.
    assert rig.app is not None
    await rig.app.kill()
    await rig.start()
    after = await rig.say(f"/why {order_id[:16]}", "Why:", chat=OPERATOR_ID)
    assert_complete_fed_chain(after.plain)

    # The same text from `trader why` and from GET /why on the loopback HTTP server.
    cli = await rig.processes.trader("why", "why", order_id, env=rig.settings.env())
    assert await asyncio.wait_for(cli.process.wait(), 60) == 0
    assert_complete_fed_chain(cli.log.read_text())
    async with httpx.AsyncClient() as client:
        base = rig.settings.health_url.removesuffix("/health")
        page = await client.get(f"{base}/why/{order_id}")
        proxied = await client.get(f"{base}/why/{order_id}", headers={"X-Forwarded-For": "1.2.3.4"})
    assert page.status_code == 200
    assert_complete_fed_chain(page.text)
    assert proxied.status_code == 403
    assert FED not in proxied.text
    ledger = await asyncio.to_thread(read_ledger, rig.settings.database)
    assert any(e.type == "market_analysed" for e in ledger.events)


async def _eventually_says(rig: Rig, command: str, expect: str) -> Sent:
    """Ask until the answer holds `expect` (the denial comes with the next cycle)."""
    found: list[Sent] = []

    async def answered() -> bool:
        reply = await rig.say(command, "enial", chat=OPERATOR_ID)
        found[:] = [reply]
        return expect in reply.plain

    await eventually(answered, timeout=WAIT_S, interval=1.0)
    return found[0]

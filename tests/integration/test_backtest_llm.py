"""`llm` mode: the backtest calls the model (the fake Anthropic server, through the real SDK) only
for markets opened after its training cut-off, and only with news published before the
simulated now; the report says so. Asserted on the prompts the server received."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic import SecretStr

from tests.support.anthropic_server import FakeAnthropicServer, Reply
from tests.support.backtest_history import START, history, market, news, prices
from tests.support.news_search import FakeExaServer
from trader.backtest.history import History
from trader.backtest.kernel import BacktestConfig, BacktestError, run_backtest
from trader.backtest.results import summarise
from trader.backtest.signals import LLMBacktestConfig
from trader.signals.retrieval.assembly import SearchSettings
from trader.signals.runtime import SignalRuntimeConfig

CUTOFF = START - timedelta(days=2)
END = START + timedelta(hours=6)
HALF = Decimal("0.50")


def world() -> History:
    """fresh opened after the cut-off, stale before it; fresh has an article before the run,
    one during it (START + 3 h) and one after its end (END + 1 h): the last is never seen."""
    fresh = market("fresh", end=START + timedelta(days=5), opened=START - timedelta(days=1))
    stale = market("stale", end=START + timedelta(days=5), opened=START - timedelta(days=3))
    flat = [(START - timedelta(days=3), HALF)]
    items = [
        news("fresh", START - timedelta(hours=2), "EARLYWORD inspected", number=1),
        news("fresh", START + timedelta(hours=3), "MIDWORD inspected", number=2),
        news("fresh", END + timedelta(hours=1), "LATEWORD inspected", number=3),
        news("stale", START - timedelta(hours=2), "inspected", number=4),
    ]
    return history([fresh, stale], {**prices(fresh, flat), **prices(stale, flat)}, items)


@pytest.fixture
async def server() -> AsyncIterator[FakeAnthropicServer]:
    async with FakeAnthropicServer(default=Reply.answer(0.8, confidence=0.9)) as fake:
        yield fake


def config(server: FakeAnthropicServer) -> BacktestConfig:
    return BacktestConfig(
        start=START,
        end=END,
        cycle_s=3600,
        forecasts="llm",
        llm=LLMBacktestConfig(
            api_key=SecretStr("sk-ant-test"), training_cutoff=CUTOFF, base_url=server.url
        ),
        signals=SignalRuntimeConfig(max_order_notional=Decimal(20)),
    )


def prompt(body: dict[str, Any]) -> str:
    return json.dumps(body["messages"])


async def test_llm_mode_asks_only_about_markets_opened_after_the_cutoff_with_past_news(
    server: FakeAnthropicServer,
) -> None:
    run = await run_backtest(world(), config(server))

    prompts = [prompt(body) for body in server.requests]
    assert prompts  # the model was called
    assert all("Will the fresh harbour bridge" in p for p in prompts)
    assert not any("Will the stale harbour bridge" in p for p in prompts)  # before the cut-off
    assert any("EARLYWORD" in p for p in prompts)
    assert not any("LATEWORD" in p for p in prompts)  # published after the run's end
    # MIDWORD (START + 3 h) only in prompts sent from the 3 h cycle on: the triage re-analyses
    # on fresh news, so the first prompts lack it and a later one has it
    assert "MIDWORD" not in prompts[0]
    assert any("MIDWORD" in p for p in prompts)
    # the simulated now reaches the model: the run's start first, the 3 h cycle's with MIDWORD
    assert f"Current time: {START:%Y-%m-%d %H:%M} UTC" in prompts[0]
    later = next(p for p in prompts if "MIDWORD" in p)
    assert f"Current time: {START + timedelta(hours=3):%Y-%m-%d %H:%M} UTC" in later
    summary = summarise(run)
    (note,) = summary["notes"]
    assert "training cut-off" in note
    assert CUTOFF.isoformat() in note
    assert "1 asked, 1 opened before it got none" in note
    assert summary["forecasts"] == "llm"
    assert {f["market"] for f in summary["fills"]} <= {"0xfresh"}


async def test_llm_mode_without_its_settings_is_refused(server: FakeAnthropicServer) -> None:
    bare = dataclasses.replace(config(server), llm=None)

    with pytest.raises(BacktestError, match="LLM_TRAINING_CUTOFF"):
        await run_backtest(world(), bare)
    assert server.requests == []


async def test_llm_mode_searches_the_news_but_never_shows_an_undated_or_later_article(
    server: FakeAnthropicServer,
) -> None:
    async with FakeExaServer() as exa:
        exa.add("https://exa.test/dated", "DATEDWORD harbour", START - timedelta(hours=5), "A.")
        exa.add("https://exa.test/undated", "UNDATEDWORD harbour", None, "B.")
        exa.add("https://exa.test/later", "LATERWORD harbour", END + timedelta(days=1), "C.")
        search = SearchSettings(
            providers=("exa",), exa_api_key=SecretStr("exa-test-key"), exa_base_url=exa.url
        )
        signals = SignalRuntimeConfig(max_order_notional=Decimal(20), search=search)

        await run_backtest(world(), dataclasses.replace(config(server), signals=signals))

    assert exa.requests  # the search ran, asked for nothing after the simulated now
    assert {r["endPublishedDate"][:10] for r in exa.requests} == {f"{START:%Y-%m-%d}"}
    prompts = [prompt(body) for body in server.requests if "submit_forecast" in prompt(body)]
    assert prompts
    assert all("DATEDWORD" in p for p in prompts)
    assert not any("UNDATEDWORD" in p or "LATERWORD" in p for p in prompts)

"""The heuristic never trades real money unless the operator allows it.

In live mode a heuristic forecast is recorded with the reason it was not traded and becomes
no intent; with allow_heuristic_live on it trades; in paper mode it always trades."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.commands.core import CommandCore
from bot.notifier import Notifier
from bot.reply import Role
from polysim.synthetic.signals import StaticBooks, StaticNews, universe
from tests.support.chat_stack import memory_control
from tests.support.memory import MemoryEvents, MemoryStore
from tests.unit.test_bot_commands import ADA, button
from tests.unit.test_signals_pipeline import NOW, heuristic_pipeline
from trader.clock import FakeClock
from trader.domain import TradingMode
from trader.signals.strategies import HEURISTIC_NOT_LIVE, heuristic_gate
from trader.signals.values import Source
from trader.state import ControlState

BANKROLL = Decimal(1000)


async def test_live_mode_records_a_heuristic_forecast_but_publishes_no_intent() -> None:
    world = universe(6, NOW)
    pipeline, forecasts = heuristic_pipeline(StaticBooks(dict(world.books)), StaticNews(world.news))

    result = await pipeline.run_cycle(world.markets, bankroll=BANKROLL, mode=TradingMode.LIVE)

    assert result.groups == ()
    assert len(forecasts.records) == 6  # shown and recorded all the same
    assert {r.decision for r in forecasts.records} == {"skip"}
    held_back = [r for r in forecasts.records if r.reason == HEURISTIC_NOT_LIVE]
    assert held_back  # the markets paper mode would have traded
    assert not result.report.trades
    assert any(m.reason == HEURISTIC_NOT_LIVE for m in result.report.markets)
    assert HEURISTIC_NOT_LIVE == (
        "heuristic forecast: not traded in live mode (allow_heuristic_live off)"
    )


@pytest.mark.parametrize(
    ("mode", "allowed"), [(TradingMode.LIVE, True), (TradingMode.PAPER, False)]
)
async def test_a_heuristic_forecast_trades_when_allowed_or_in_paper_mode(
    mode: TradingMode, allowed: bool
) -> None:
    world = universe(6, NOW)
    pipeline, forecasts = heuristic_pipeline(StaticBooks(dict(world.books)), StaticNews(world.news))

    result = await pipeline.run_cycle(
        world.markets, bankroll=BANKROLL, mode=mode, allow_heuristic_live=allowed
    )

    assert result.groups
    assert all(r.reason != HEURISTIC_NOT_LIVE for r in forecasts.records)


def test_only_a_heuristic_forecast_in_live_mode_is_held_back() -> None:
    assert heuristic_gate(Source.HEURISTIC, TradingMode.LIVE, allowed=False) == HEURISTIC_NOT_LIVE
    assert heuristic_gate(Source.HEURISTIC, TradingMode.LIVE, allowed=True) == ""
    assert heuristic_gate(Source.HEURISTIC, TradingMode.PAPER, allowed=False) == ""
    assert heuristic_gate(Source.LLM, TradingMode.LIVE, allowed=False) == ""


# --- /set allow_heuristic_live: operator only, confirmed, audited, persisted, in /status ----


async def make(store: MemoryStore) -> tuple[CommandCore, ControlState, MemoryEvents]:
    clock = FakeClock()
    memory = await memory_control(clock, store=store, mode=TradingMode.LIVE)
    core = CommandCore(memory.control, clock=clock, notifier=Notifier(clock))
    return core, memory.state, memory.events


async def test_set_allow_heuristic_live_needs_confirmation_and_is_kept_and_shown() -> None:
    store = MemoryStore()
    core, state, events = await make(store)

    prompt = await core.handle("/set allow_heuristic_live on", ADA, Role.OPERATOR)
    unchanged = state.allow_heuristic_live
    done = await core.handle(button(prompt, "Set allow_heuristic_live on"), ADA, Role.OPERATOR)
    status = await core.handle("/status", ADA, Role.VIEWER)

    assert "off → on" in prompt.text
    assert unchanged is False  # nothing changes before the confirmation
    assert "Set allow_heuristic_live: off → on" in done.text
    assert state.allow_heuristic_live is True
    restarted = ControlState(store, FakeClock())
    await restarted.load()
    assert restarted.allow_heuristic_live is True  # persisted in control_state
    assert "Heuristic forecasts in live mode: traded (allow_heuristic_live on)" in status.text
    changed = events.of_type("allow_heuristic_live_changed")
    assert [(e.actor, e.payload) for e in changed] == [(str(ADA), {"on": True})]


async def test_a_viewer_cannot_set_allow_heuristic_live() -> None:
    store = MemoryStore()
    core, state, events = await make(store)

    refused = await core.handle("/set allow_heuristic_live on", ADA, Role.VIEWER)
    status = await core.handle("/status", ADA, Role.VIEWER)

    assert "/set needs the operator role" in refused.text
    assert not refused.buttons  # no confirmation offered
    assert "allow_heuristic_live" not in store.values
    assert events.of_type("allow_heuristic_live_changed") == []
    assert state.allow_heuristic_live is False
    assert "Heuristic forecasts in live mode: not traded" in status.text

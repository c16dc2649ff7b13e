"""/backtest over the fake Bot API: the run is a child process, the progress message is edited
as it goes, the PNG arrives, and /status is answered while the backtest runs."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from tests.integration.test_backtest import two_markets
from tests.support.backtest_history import START
from tests.support.chat_stack import ChatStack, ask, start_chat_stack
from tests.support.telegram_server import OPERATOR_ID, VIEWER_ID, FakeBotAPI
from tests.support.waiting import eventually
from trader.backtest.history import history_to_json
from trader.backtest.job import BacktestJobs
from trader.clock import FakeClock
from trader.config import load_settings

pytestmark = pytest.mark.slow
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
async def stack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[FakeBotAPI, ChatStack]]:
    monkeypatch.setattr("bot.commands.backtest.POLL_S", 0.2)
    cache = tmp_path / "venue.json"
    cache.write_text(json.dumps(history_to_json(two_markets())))
    settings = load_settings(
        None,
        backtest_history_cache=cache,
        recorder_dir=tmp_path / "no-recording",
        signal_cycle_s=1800,  # two days: 97 cycles, long enough to be seen running
        max_order_notional_usd=Decimal(50),
    )
    clock = FakeClock(START + timedelta(days=2))
    jobs = BacktestJobs(settings, clock, tmp_path / "backtests")
    async with FakeBotAPI() as api:
        chat = await start_chat_stack(api, clock=clock, backtests=jobs)
        try:
            yield api, chat
        finally:
            jobs.close()
            await chat.stop()


async def test_backtest_edits_its_progress_sends_the_png_and_status_still_answers(
    stack: tuple[FakeBotAPI, ChatStack],
) -> None:
    api, _ = stack

    first = await ask(api, OPERATOR_ID, "/backtest llm_edge 2")
    status = await ask(api, OPERATOR_ID, "/status")
    photos_when_status_answered = [m for m in api.to(OPERATOR_ID) if m.photo]

    assert first.plain.startswith("Backtest llm_edge over 2 days: starting")
    assert "Paper" in status.plain or "paper" in status.plain  # the /status screen
    assert photos_when_status_answered == []  # answered while the backtest ran
    await eventually(lambda: any(m.photo for m in api.to(OPERATOR_ID)), timeout=120)
    photo = next(m for m in api.to(OPERATOR_ID) if m.photo)
    assert photo.photo is not None
    assert photo.photo.startswith(PNG)
    assert first.edits >= 2  # at least one progress figure, then the result
    assert first.plain.startswith("Backtest llm_edge over 2 days: done")
    assert "PnL" in first.plain
    assert "Brier" in first.plain


async def test_backtest_is_refused_to_a_viewer_and_for_an_unknown_strategy(
    stack: tuple[FakeBotAPI, ChatStack],
) -> None:
    api, _ = stack

    viewer = await ask(api, VIEWER_ID, "/backtest llm_edge 2")
    unknown = await ask(api, OPERATOR_ID, "/backtest moonshot 2")
    too_long = await ask(api, OPERATOR_ID, "/backtest llm_edge 400")

    assert "needs the operator role" in viewer.plain
    assert "unknown strategy 'moonshot'" in unknown.plain
    assert "between 1 and 90" in too_long.plain

"""/backtest through the hub, end to end: the fake Bot API and the real aiogram client, the
hub's chat, and two traders' Control APIs over signed HTTP on 127.0.0.1; `alpha` has a real
`BacktestJobs` (a child process over a cached venue history), `beta` has none.

`/backtest alpha llm_edge 2` edits its progress message, tagged `[alpha]` from the first word
to the last, then the PNG arrives (its bytes carried in the signed answer, the same as alpha's
file) with the same tag; the hub answers /status while it runs. An instance that stops
answering mid-run is said so in the progress message. `/backtest beta ...` says beta cannot
run backtests (or, for a trader older than the hub, that it does not offer the call); a bare
/backtest asks which instance; a viewer cannot start one; absurd days are answered with the
range at the hub, and refused by the instance itself when a call carries them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.backtest_child import hang
from tests.support.backtest_history import START
from tests.support.backtest_jobs import two_day_jobs
from tests.support.chat_stack import ask
from tests.support.hub_stack import HubStack, hub_stack
from tests.support.remote_rig import signed_call
from tests.support.telegram_server import OPERATOR_ID, VIEWER_ID, FakeBotAPI
from tests.support.waiting import eventually
from trader.backtest.job import BacktestJobs
from trader.clock import FakeClock
from trader.config import load_settings
from trader.control.api import ControlError
from trader.control.server import CALLS
from trader.domain import Actor

PNG = b"\x89PNG\r\n\x1a\n"
OPERATOR = Actor("telegram", str(OPERATOR_ID), "Ann")


@pytest.fixture
async def hub(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[FakeBotAPI, HubStack]]:
    monkeypatch.setattr("bot.commands.backtest.POLL_S", 0.2)
    jobs, clock = two_day_jobs(tmp_path)
    async with FakeBotAPI() as api:
        try:
            async with hub_stack(
                api, tmp_path / "hub", clock=clock, backtests={"alpha": jobs}
            ) as stack:
                yield api, stack
        finally:
            jobs.close()


@pytest.fixture
async def hung_hub(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[FakeBotAPI, HubStack]]:
    monkeypatch.setattr("bot.commands.backtest.POLL_S", 0.1)
    jobs = BacktestJobs(load_settings(None), FakeClock(START), tmp_path / "backtests", hang)
    async with FakeBotAPI() as api:
        try:
            async with hub_stack(api, tmp_path / "hub", backtests={"alpha": jobs}) as stack:
                yield api, stack
        finally:
            jobs.close()


@pytest.mark.slow
async def test_backtest_through_the_hub_edits_its_tagged_progress_and_sends_the_png(
    hub: tuple[FakeBotAPI, HubStack], tmp_path: Path
) -> None:
    api, stack = hub

    first = await ask(api, OPERATOR_ID, "/backtest alpha llm_edge 2")
    started = first.plain
    status = await ask(api, OPERATOR_ID, "/status")
    photos_when_status_answered = [m for m in api.to(OPERATOR_ID) if m.photo]
    await eventually(lambda: any(m.photo for m in api.to(OPERATOR_ID)), timeout=120)
    photo = next(m for m in api.to(OPERATOR_ID) if m.photo)
    (chart,) = (tmp_path / "backtests").glob("*/backtest.png")  # on alpha's side

    assert started.startswith("[alpha] Backtest llm_edge over 2 days: starting")
    assert status.plain.startswith("Polyops · 2 instances")  # the hub's summary
    assert photos_when_status_answered == []  # answered while the backtest ran
    assert first.edits >= 2  # at least one progress figure, then the result
    assert first.plain.startswith("[alpha] Backtest llm_edge over 2 days: done")
    assert "PnL" in first.plain
    assert "Brier" in first.plain
    assert photo.photo is not None
    assert photo.photo.startswith(PNG)
    assert photo.photo == chart.read_bytes()  # the same bytes, through the signed HTTP
    assert photo.plain.startswith("[alpha] Backtest llm_edge, 2 days")
    assert (f"hub.telegram:{OPERATOR_ID}", "backtest") in stack.memories["alpha"].events.audited()
    assert "backtest" not in [c for _a, c in stack.memories["beta"].events.audited()]


async def test_the_hub_stops_following_a_backtest_whose_instance_stops_answering_and_says_so(
    hung_hub: tuple[FakeBotAPI, HubStack],
) -> None:
    api, stack = hung_hub

    first = await ask(api, OPERATOR_ID, "/backtest alpha llm_edge 2")
    await eventually(lambda: "1 of 97 cycles" in first.plain, timeout=30)
    await stack.served["alpha"].server.stop()
    await eventually(lambda: "stopped following" in first.plain, timeout=30)

    assert first.plain.startswith("[alpha] Backtest llm_edge over 2 days: no answer")
    assert "alpha is not answering" in first.plain


async def test_backtest_on_an_instance_without_a_runner_says_so(
    hub: tuple[FakeBotAPI, HubStack],
) -> None:
    api, _ = hub

    reply = await ask(api, OPERATOR_ID, "/backtest beta llm_edge 2")

    assert reply.plain == "[beta] Backtests cannot run on this trader (it has no backtest runner)."


async def test_backtest_on_an_instance_whose_control_api_is_older_says_so(
    hub: tuple[FakeBotAPI, HubStack], monkeypatch: pytest.MonkeyPatch
) -> None:
    api, _ = hub
    monkeypatch.delitem(CALLS, "start_backtest")  # a trader from before /backtest

    reply = await ask(api, OPERATOR_ID, "/backtest beta llm_edge 2")

    assert reply.plain == (
        "[beta] The start_backtest call is not offered by beta"
        " (its Control API is older than the hub's)."
    )


async def test_a_backtest_naming_no_instance_asks_which_and_starts_nothing(
    hub: tuple[FakeBotAPI, HubStack], tmp_path: Path
) -> None:
    api, _ = hub

    which = await ask(api, OPERATOR_ID, "/backtest llm_edge 2")

    assert which.plain.startswith("Which instance? /backtest <instance> llm_edge 2")
    assert "Instances: alpha, beta" in which.plain
    assert not list((tmp_path / "backtests").glob("*"))


async def test_backtest_through_the_hub_is_refused_to_a_viewer(
    hub: tuple[FakeBotAPI, HubStack], tmp_path: Path
) -> None:
    api, stack = hub

    viewer = await ask(api, VIEWER_ID, "/backtest alpha llm_edge 2")

    assert "needs the operator role" in viewer.plain
    assert not list((tmp_path / "backtests").glob("*"))  # nothing started
    assert "backtest" not in [c for _a, c in stack.memories["alpha"].events.audited()]


@pytest.mark.parametrize("days", ["0", "-3", "100000", "abc"])
async def test_absurd_days_at_the_hub_are_answered_with_the_range(
    hub: tuple[FakeBotAPI, HubStack], tmp_path: Path, days: str
) -> None:
    api, stack = hub

    reply = await ask(api, OPERATOR_ID, f"/backtest alpha llm_edge {days}")

    assert reply.plain.startswith("[alpha] ")
    assert "between 1 and 90" in reply.plain
    assert "Usage: /backtest" in reply.plain
    assert not list((tmp_path / "backtests").glob("*"))  # nothing started
    assert "backtest" not in [c for _a, c in stack.memories["alpha"].events.audited()]


@pytest.mark.parametrize("days", [0, -3, 100_000, 10**40])
async def test_absurd_days_sent_to_the_instance_are_refused_by_it(
    hub: tuple[FakeBotAPI, HubStack], tmp_path: Path, days: int
) -> None:
    _, stack = hub

    with pytest.raises(ControlError, match="between 1 and 90"):
        await stack.served["alpha"].remote.start_backtest(OPERATOR, "llm_edge", days)

    assert not list((tmp_path / "backtests").glob("*"))


@pytest.mark.parametrize("days", ["abc", "7", 2.5, True, None, [7]])
async def test_days_that_are_not_a_whole_number_are_refused_by_the_instance(
    hub: tuple[FakeBotAPI, HubStack], tmp_path: Path, days: object
) -> None:
    _, stack = hub

    answer = await signed_call(
        stack.served["alpha"], "start_backtest", {"strategy": "llm_edge", "days": days}
    )

    assert answer.status_code == 400
    assert answer.json()["ok"] is False
    assert "days" in answer.json()["error"]["message"]
    assert not list((tmp_path / "backtests").glob("*"))

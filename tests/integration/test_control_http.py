"""The Control API over HTTP: the real aiohttp server and the real httpx client on 127.0.0.1.

RemoteControl gives the same typed results as the ControlAPI in the trader's own process,
audits the person who asked (through the hub), carries refusals as `ControlError`, streams
alerts; unsigned, forged, stale and replayed requests are refused and recorded.
"""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from tests.support.chat_stack import memory_control, position
from tests.support.remote_rig import served, signed_call
from trader.clock import FakeClock
from trader.control.api import ControlError, NotConfiguredError, PnlPeriod, Stage
from trader.control.remote import RemoteControl, UnreachableError
from trader.control.signing import sign
from trader.domain import Actor, Alert, Severity, TradingState

OPERATOR = Actor("telegram", "42", "Ann")


async def test_remote_status_is_the_same_typed_snapshot_as_in_process(tmp_path: Path) -> None:
    clock = FakeClock()
    memory = await memory_control(clock)
    memory.desk.positions_.append(position("Will it rain?", "10", "0.40", "0.45"))
    async with served(memory, clock, tmp_path) as rig:
        remote = await rig.remote.status(OPERATOR)
        local = await memory.control.status(OPERATOR)
        positions = await rig.remote.positions(OPERATOR)
        pnl = await rig.remote.pnl(OPERATOR, PnlPeriod.WEEK)

    assert remote == local
    assert remote.portfolio is not None
    assert isinstance(remote.portfolio.equity, Decimal)
    assert positions == await memory.control.positions(OPERATOR)
    assert pnl.period is PnlPeriod.WEEK


async def test_remote_pause_and_kill_act_and_are_audited_with_the_person_at_the_hub(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    memory = await memory_control(clock)
    async with served(memory, clock, tmp_path) as rig:
        paused = await rig.remote.pause(OPERATOR, "news")
        report = await rig.remote.kill(OPERATOR, flatten=False, reason="test")

    assert paused.after is TradingState.PAUSED
    assert report.state is TradingState.KILLED
    assert memory.desk.trading.state is TradingState.KILLED
    assert ("hub.telegram:42", "pause") in memory.events.audited()
    assert ("hub.telegram:42", "kill") in memory.events.audited()


async def test_remote_strategies_and_a_stage_change_through_the_hub(tmp_path: Path) -> None:
    """/strategies, /promote and its confirmation work through the hub like in process, and a
    stale confirmation is refused there too."""
    clock = FakeClock()
    memory = await memory_control(clock)
    async with served(memory, clock, tmp_path) as rig:
        views = await rig.remote.strategies(OPERATOR)
        local = await memory.control.strategies(OPERATOR)
        step = await rig.remote.stage_step(OPERATOR, "llm_edge", up=True)
        moved = await rig.remote.set_stage(OPERATOR, "llm_edge", step.after, expected=step.before)
        with pytest.raises(ControlError, match="nothing changed"):
            await rig.remote.set_stage(OPERATOR, "llm_edge", "live", expected="paper")
        with pytest.raises(ControlError, match="unknown strategy 'nope'"):
            await rig.remote.stage_step(OPERATOR, "nope", up=True)

    assert views == local
    assert views[0].stage is Stage.PAPER
    assert (step.before, step.after) == ("paper", "live")
    assert moved.after == "live"
    assert memory.state.stages.stage_of("llm_edge") is Stage.LIVE
    assert ("hub.telegram:42", "set_stage") in memory.events.audited()


async def test_remote_why_denied_is_the_typed_list(tmp_path: Path) -> None:
    clock = FakeClock()
    memory = await memory_control(clock)
    async with served(memory, clock, tmp_path) as rig:
        with pytest.raises(ControlError, match="between 1 and 20"):
            await rig.remote.why_denied(OPERATOR, 50)


async def test_a_refusal_comes_back_as_a_control_error_with_its_message(tmp_path: Path) -> None:
    clock = FakeClock()
    memory = await memory_control(clock)
    async with served(memory, clock, tmp_path) as rig:
        with pytest.raises(ControlError, match="the period is day, week or month"):
            await rig.remote.pnl(OPERATOR, "year")
        with pytest.raises(ControlError, match="must be a positive number"):
            await rig.remote.approve(OPERATOR, "ap-1", "-3")


async def test_alerts_stream_over_http(tmp_path: Path) -> None:
    clock = FakeClock()
    memory = await memory_control(clock)
    async with served(memory, clock, tmp_path) as rig:
        stream = rig.remote.subscribe_alerts(OPERATOR)
        received: list[Alert] = []

        async def read() -> None:
            async for alert in stream:
                received.append(alert)
                return

        reader = asyncio.create_task(read())
        for _ in range(100):  # the subscription reaches the desk once the request arrives
            if memory.desk.alert_streams:
                break
            await asyncio.sleep(0.02)
        memory.desk.publish_alert(Alert("venue_errors", Severity.WARNING, "Venue slow", "5 errors"))
        await asyncio.wait_for(reader, 5)
        stream.close()

    assert received[0].title == "Venue slow"
    assert received[0].severity is Severity.WARNING


async def test_a_trader_that_is_not_there_is_unreachable(tmp_path: Path) -> None:
    clock = FakeClock()
    async with httpx.AsyncClient() as http:
        remote = RemoteControl(
            "beta", "http://127.0.0.1:9", "x" * 32, http, clock, files=tmp_path, timeout_s=1
        )
        with pytest.raises(UnreachableError, match="beta is not answering"):
            await remote.status(OPERATOR)


# --- refusals -------------------------------------------------------------------------------


def _body() -> bytes:
    return json.dumps({"actor": {"channel": "telegram", "user_id": "42"}, "args": {}}).encode()


PATH = "/control/v1/call/pause"


async def _post(http: httpx.AsyncClient, url: str, headers: dict[str, str]) -> httpx.Response:
    return await http.post(url + PATH, content=_body(), headers=headers)


def _refusals(memory_events: object) -> list[str]:
    rows = memory_events.of_type("control_api_refused")  # type: ignore[attr-defined]
    return [str(row.payload["reason"]) for row in rows]


async def test_unsigned_forged_stale_and_replayed_requests_are_refused_and_audited(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    memory = await memory_control(clock)
    now = clock.now().timestamp()
    async with served(memory, clock, tmp_path) as rig:
        unsigned = await _post(rig.http, rig.url, {})
        forged = await _post(
            rig.http, rig.url, sign("not-the-secret" * 3, "POST", PATH, _body(), now=now)
        )
        stale = await _post(
            rig.http, rig.url, sign(rig.secret, "POST", PATH, _body(), now=now - 120)
        )
        genuine = sign(rig.secret, "POST", PATH, _body(), now=now)
        first = await _post(rig.http, rig.url, genuine)
        replayed = await _post(rig.http, rig.url, genuine)
        other_body = await rig.http.post(
            rig.url + PATH,
            content=_body().replace(b"42", b"43"),
            headers=sign(rig.secret, "POST", PATH, _body(), now=now),
        )

    assert [r.status_code for r in (unsigned, forged, stale, replayed, other_body)] == [401] * 5
    assert first.status_code == 200
    assert first.json()["ok"] is True
    assert _refusals(memory.events) == [
        "unsigned",
        "bad_signature",
        "stale",
        "replayed",
        "bad_signature",
    ]
    rows = memory.events.of_type("control_api_refused")
    assert all(row.actor == "http:127.0.0.1" for row in rows)
    # only the genuine request paused trading, once
    assert memory.events.audited("hub.") == [("hub.telegram:42", "pause")]


async def test_a_remote_with_the_wrong_secret_is_told_it_was_refused(tmp_path: Path) -> None:
    clock = FakeClock()
    memory = await memory_control(clock)
    async with served(memory, clock, tmp_path) as rig:
        wrong = RemoteControl("main", rig.url, "y" * 40, rig.http, clock, files=tmp_path)
        with pytest.raises(ControlError, match="refused the hub's signature"):
            await wrong.pause(OPERATOR)
    assert memory.desk.trading.state is TradingState.RUNNING


async def test_remote_backtest_is_served_and_refused_as_in_process(tmp_path: Path) -> None:
    clock = FakeClock()
    memory = await memory_control(clock)  # no backtest runner in this process
    async with served(memory, clock, tmp_path) as rig:
        with pytest.raises(ControlError, match="unknown strategy 'nope'"):
            await rig.remote.start_backtest(OPERATOR, "nope", 7)
        with pytest.raises(ControlError, match="between 1 and 90"):
            await rig.remote.start_backtest(OPERATOR, "llm_edge", 400)
        with pytest.raises(NotConfiguredError, match="backtests cannot run"):
            await rig.remote.start_backtest(OPERATOR, "llm_edge", 7)
        with pytest.raises(NotConfiguredError, match="backtests cannot run"):
            await rig.remote.backtest_status(OPERATOR, "bt-0")

    assert ("hub.telegram:42", "backtest") in memory.events.audited()


@pytest.mark.parametrize("days", ["abc", "7", 2.5, True, None, [7]])
async def test_a_call_argument_of_the_wrong_type_is_refused_naming_it(
    tmp_path: Path, days: object
) -> None:
    clock = FakeClock()
    memory = await memory_control(clock)
    async with served(memory, clock, tmp_path) as rig:
        answer = await signed_call(rig, "start_backtest", {"strategy": "llm_edge", "days": days})

    assert answer.status_code == 400
    assert answer.json()["error"]["message"].startswith("bad argument days: ")
    assert memory.events.audited() == []  # refused before the Control API saw it

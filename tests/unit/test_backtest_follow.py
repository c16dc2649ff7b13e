"""`/backtest`'s follower when a check fails: a few refused or unanswered checks in a row (a
hub's instance restarting) are tried again, and `MAX_POLL_FAILURES` of them end the follow with
a reply that says why."""

from __future__ import annotations

import pytest

from bot.commands.backtest import MAX_POLL_FAILURES, BacktestCommands
from bot.commands.core import CommandCore
from tests.support.chat_stack import memory_control
from trader.clock import FakeClock
from trader.control.api import BacktestStatus, ControlError
from trader.domain import Actor

ANN = Actor("telegram", "42", "Ann")


class FlakyRunner:
    """Refuses the first `failures` checks, then says the run is done."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.checks = 0

    def start(self, strategy: str, days: int) -> BacktestStatus:
        return BacktestStatus("bt-1", strategy, days, "running")

    def status(self, job_id: str) -> BacktestStatus:
        self.checks += 1
        if self.checks <= self.failures:
            raise ControlError("alpha is not answering (ConnectError)")
        return BacktestStatus(job_id, "llm_edge", 2, "done", 97, 97, ("PnL +$1.00",))


async def follow(failures: int) -> tuple[list[str], FlakyRunner]:
    runner = FlakyRunner(failures)
    memory = await memory_control(FakeClock(), backtests=runner)
    commands = BacktestCommands(CommandCore(memory.control), poll_s=0)
    first = await commands.backtest(ANN, ["llm_edge", "2"])
    assert first.follow is not None
    return [reply.text async for reply in first.follow()], runner


async def test_a_few_failed_checks_are_tried_again_and_the_result_still_arrives() -> None:
    texts, runner = await follow(MAX_POLL_FAILURES - 1)

    assert runner.checks == MAX_POLL_FAILURES
    assert texts == ["Backtest llm_edge over 2 days: done\nPnL +$1.00"]


@pytest.mark.parametrize("failures", [MAX_POLL_FAILURES, 1000])
async def test_failed_checks_in_a_row_end_the_follow_saying_why(failures: int) -> None:
    texts, runner = await follow(failures)

    assert runner.checks == MAX_POLL_FAILURES  # never polls on
    assert texts == [
        "Backtest llm_edge over 2 days: no answer\n"
        "alpha is not answering (ConnectError)\n"
        f"stopped following bt-1 after {MAX_POLL_FAILURES} failed checks"
    ]

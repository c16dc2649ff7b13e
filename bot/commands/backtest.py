"""`/backtest <strategy> <days>` (operator): a backtest in a separate process, followed in chat.

The command starts the run through the Control API and answers at once ("started"); the reply
follows the run (`Reply.follow`): every `poll_s` seconds of the loop's time it asks the Control
API how far the run got and, when that changed, the progress message is edited; once done it
is edited to the headline figures and the PNG is sent. The follower gives up after
`FOLLOW_MAX_S` (longer than the longest `BACKTEST_TIMEOUT_S`, past which the run is stopped and
reported failed) and says so: it never polls forever. A check the Control API refuses or does
not answer (a hub's instance restarting) is tried again; `MAX_POLL_FAILURES` in a row and the
follower says so and stops, rather than leave the message at its last figure. The chat
answers every other command meanwhile (`/status` included): nothing here waits on the run but
the follower. Operator-only, as `/cycle` is: a backtest costs the server minutes of CPU.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from bot.commands.base import Command, UsageError, int_arg
from bot.reply import Reply, Role
from trader.control.api import MAX_BACKTEST_DAYS, BacktestStatus, ControlError
from trader.domain import Actor

if TYPE_CHECKING:
    from bot.commands.core import CommandCore

POLL_S = 2.0
FOLLOW_MAX_S = 21_600.0 + 600.0  # the highest BACKTEST_TIMEOUT_S, and ten minutes
USAGE = "/backtest <strategy> <days>"
MAX_POLL_FAILURES = 5  # checks refused or unanswered in a row before the follower gives up


class BacktestCommands:
    def __init__(
        self, core: CommandCore, poll_s: float | None = None, max_follow_s: float | None = None
    ) -> None:
        self._context = core.context
        self.poll_s = POLL_S if poll_s is None else poll_s
        self.max_follow_s = max_follow_s  # None: FOLLOW_MAX_S

    async def backtest(self, actor: Actor, args: list[str]) -> Reply:
        if len(args) != 2:
            raise UsageError("Give a strategy and a number of days, like /backtest llm_edge 7.")
        days = int_arg(args[1:], default=0, low=1, high=MAX_BACKTEST_DAYS, what="number of days")
        status = await self._context.control.start_backtest(actor, args[0], days)
        reply = progress(status)
        return Reply(reply.title, reply.lines, follow=lambda: self._follow(actor, status))

    async def _follow(self, actor: Actor, started: BacktestStatus) -> AsyncIterator[Reply]:
        shown = progress(started).text
        loop = asyncio.get_running_loop()
        limit = FOLLOW_MAX_S if self.max_follow_s is None else self.max_follow_s
        deadline = loop.time() + limit  # chat plumbing: real time, like the sleep
        failures = 0
        while loop.time() < deadline:
            await asyncio.sleep(self.poll_s)  # chat plumbing: real time, not the trading clock
            try:
                status = await self._context.control.backtest_status(actor, started.job_id)
            except ControlError as error:  # a hub's instance restarting, or its link down
                failures += 1
                if failures >= MAX_POLL_FAILURES:
                    yield _gone(started, error)
                    return
                continue
            failures = 0
            reply = progress(status)
            if reply.text != shown:
                shown = reply.text
                yield reply
            if status.finished:
                if status.image_path is not None:
                    yield Reply(
                        f"Backtest {status.strategy}, {status.days} days",
                        images=(status.image_path,),
                    )
                return
        yield Reply(
            f"Backtest {started.strategy} over {started.days} days: timed out",
            (f"no result after {limit:g} s: stopped following {started.job_id}",),
        )


def _gone(started: BacktestStatus, error: ControlError) -> Reply:
    return Reply(
        f"Backtest {started.strategy} over {started.days} days: no answer",
        (
            str(error),
            f"stopped following {started.job_id} after {MAX_POLL_FAILURES} failed checks",
        ),
    )


def progress(status: BacktestStatus) -> Reply:
    head = f"Backtest {status.strategy} over {status.days} days"
    if status.state == "done":
        return Reply(f"{head}: done", status.lines)
    if status.state == "failed":
        return Reply(f"{head}: failed", status.lines or ("no reason given",))
    if not status.cycles_total:
        return Reply(f"{head}: starting ({status.job_id})")
    share = status.cycles_done / status.cycles_total
    return Reply(
        f"{head}: {share:.0%}",
        (f"{status.cycles_done} of {status.cycles_total} cycles ({status.job_id})",),
    )


def install(core: CommandCore) -> None:
    commands = BacktestCommands(core)
    core.register(
        Command(
            "backtest",
            Role.OPERATOR,
            "backtest a strategy over the last days (progress here, then the chart)",
            USAGE,
            commands.backtest,
            feature="backtest",
        )
    )

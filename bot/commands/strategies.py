"""Strategy stages from the chat: `/strategies` (viewer), `/promote` and `/demote` (operator).

A stage moves one step at a time (development -> paper -> live) and only after a confirmation
that shows the old and the new stage; the confirmation carries the stage the operator saw, so
a second tap or a change made by someone else in between moves nothing (the Control API
refuses it and says why).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.commands.base import Command, confirm_buttons, token_arg
from bot.confirm import Pending
from bot.render import trading as render_trading
from bot.reply import Reply, Role
from trader.control.api import Stage
from trader.domain import Actor

if TYPE_CHECKING:
    from bot.commands.core import CommandCore

_EFFECT = {
    Stage.DEVELOPMENT: "It then runs in backtests only: no orders in paper or live mode.",
    Stage.PAPER: "It then trades in paper mode only: no real money.",
    Stage.LIVE: "It then trades REAL MONEY whenever the trader runs in live mode.",
}


class StrategyCommands:
    def __init__(self, core: CommandCore) -> None:
        self._context = core.context

    async def overview(self, actor: Actor, args: list[str]) -> Reply:
        return render_trading.strategies(await self._context.control.strategies(actor))

    async def promote(self, actor: Actor, args: list[str]) -> Reply:
        return await self._ask(actor, args, up=True)

    async def demote(self, actor: Actor, args: list[str]) -> Reply:
        return await self._ask(actor, args, up=False)

    async def _ask(self, actor: Actor, args: list[str], *, up: bool) -> Reply:
        name = token_arg(args, "strategy name").casefold()
        step = await self._context.control.stage_step(actor, name, up=up)
        if not up and Stage(step.before) is Stage.LIVE:
            note = "Its open positions stay; it may still sell them, never buy."
        else:
            note = "From the next cycle on."
        confirmations = self._context.confirmations
        confirmations.cancel_for(actor, "set_stage")
        pending = confirmations.issue(
            "set_stage", actor, {"set", "abort"}, name=name, target=step.after, expected=step.before
        )
        verb = "Promote" if up else "Demote"
        return Reply(
            f"{verb} {name}?",
            (f"{step.before} → {step.after}", _EFFECT[Stage(step.after)], note),
            buttons=confirm_buttons(pending.token, (f"✅ {verb} {name} to {step.after}", "set")),
        )

    async def on_set_stage(self, pending: Pending, choice: str, actor: Actor) -> Reply:
        name = str(pending.payload["name"])
        target, expected = str(pending.payload["target"]), str(pending.payload["expected"])
        change = await self._context.control.set_stage(actor, name, target, expected=expected)
        return render_trading.setting_changed(change)


def install(core: CommandCore) -> None:
    commands = StrategyCommands(core)
    for command in (
        Command(
            "strategies",
            Role.VIEWER,
            "strategies, their stages and records",
            "/strategies",
            commands.overview,
            feature="strategies",
        ),
        Command(
            "promote",
            Role.OPERATOR,
            "move a strategy one stage up (development → paper → live)",
            "/promote <strategy>",
            commands.promote,
            feature="strategies",
        ),
        Command(
            "demote",
            Role.OPERATOR,
            "move a strategy one stage down",
            "/demote <strategy>",
            commands.demote,
            feature="strategies",
        ),
    ):
        core.register(command)
    core.on_confirm("set_stage", commands.on_set_stage)

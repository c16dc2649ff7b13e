"""`/redeem` and `/merge`: resolved markets' shares back to pUSD, YES+NO pairs merged.

Without arguments anyone may look (viewer): what is redeemable or mergeable, numbered, and the
latest operations. With a number (or a condition id, or its first characters) an operator
asks for one, confirmed first with what it pays; the Control API sends it once (refused while
one is in flight). The trader also does both by itself (the `redemption` job).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

from bot.commands.base import Command, UsageError, confirm_buttons
from bot.confirm import Pending
from bot.render import chain as render_chain
from bot.render.trading import money, shares, short
from bot.reply import Reply, Role
from trader.control.api import parse_amount
from trader.domain import Actor

if TYPE_CHECKING:
    from bot.commands.core import CommandCore

_MIN_PREFIX = 6  # characters of a condition id that pick a market


class ChainCommands:
    def __init__(self, core: CommandCore) -> None:
        self._context = core.context

    async def redeem(self, actor: Actor, args: list[str]) -> Reply:
        control = self._context.control
        overview = await control.chain_overview(actor)
        if not args:
            return render_chain.redeemable(overview, self._context.render)
        markets = [item.market for item in overview.redeemable]
        market = _pick(args[0], markets, "redeemable market")
        item = next(i for i in overview.redeemable if i.market == market)
        confirmations = self._context.confirmations
        confirmations.cancel_for(actor, "redeem")
        pending = confirmations.issue("redeem", actor, {"go", "abort"}, market=market)
        return Reply(
            f"Redeem {short(item.question)}?",
            (
                f"{render_chain.holding(item.shares)} pay {money(item.payout)}",
                "Sent once; cash rises when the chain confirms it.",
            ),
            buttons=confirm_buttons(pending.token, (f"✅ Redeem for {money(item.payout)}", "go")),
        )

    async def on_redeem(self, pending: Pending, choice: str, actor: Actor) -> Reply:
        done = await self._context.control.redeem(actor, str(pending.payload["market"]))
        return render_chain.operation(done)

    async def merge(self, actor: Actor, args: list[str]) -> Reply:
        control = self._context.control
        overview = await control.chain_overview(actor)
        if not args:
            return render_chain.mergeable(overview, self._context.render)
        if len(args) > 2:
            raise UsageError("Give the market's number and, if you like, how many pairs.")
        market = _pick(args[0], [p.market for p in overview.mergeable], "mergeable market")
        pair = next(p for p in overview.mergeable if p.market == market)
        pairs = pair.pairs
        if len(args) == 2:
            try:
                pairs = parse_amount("the number of pairs", args[1])
            except ValueError as error:
                raise UsageError(str(error)) from None
            if pairs > pair.pairs:
                raise UsageError(f"At most {shares(pair.pairs)} pairs are free to merge.")
        confirmations = self._context.confirmations
        confirmations.cancel_for(actor, "merge")
        pending = confirmations.issue(
            "merge", actor, {"go", "abort"}, market=market, pairs=str(pairs)
        )
        sale = pair.sale * pairs / pair.pairs if pair.pairs else Decimal(0)
        return Reply(
            f"Merge {shares(pairs)} pairs of {short(pair.question)}?",
            (
                f"{shares(pairs)} Yes + {shares(pairs)} No become {money(pairs)} pUSD",
                f"Sold at the bids they would bring about {money(sale)}",
            ),
            buttons=confirm_buttons(pending.token, (f"✅ Merge for {money(pairs)}", "go")),
        )

    async def on_merge(self, pending: Pending, choice: str, actor: Actor) -> Reply:
        payload = pending.payload
        done = await self._context.control.merge(
            actor, str(payload["market"]), str(payload["pairs"])
        )
        return render_chain.operation(done)


def _pick(reference: str, markets: Sequence[str], what: str) -> str:
    """A listed market by its number (1-based) or its condition id (or the id's start)."""
    if not markets:
        raise UsageError(f"There is no {what} now.")
    if reference.isdigit():
        number = int(reference)
        if not 1 <= number <= len(markets):
            raise UsageError(f"Give a number from 1 to {len(markets)}.")
        return markets[number - 1]
    wanted = reference.casefold()
    found = [m for m in markets if m.casefold() == wanted] or (
        [m for m in markets if m.casefold().startswith(wanted)]
        if len(wanted) >= _MIN_PREFIX
        else []
    )
    if len(found) != 1:
        raise UsageError(f"No single {what} matches {reference[:20]}: give its number.")
    return found[0]


def install(core: CommandCore) -> None:
    commands = ChainCommands(core)
    operator = Role.OPERATOR
    for command in (
        Command(
            "redeem",
            Role.VIEWER,
            "resolved markets to redeem (an operator redeems one)",
            "/redeem [number]",
            commands.redeem,
            feature="trading",
            role_with_args=operator,
        ),
        Command(
            "merge",
            Role.VIEWER,
            "YES+NO pairs to merge into pUSD (an operator merges one)",
            "/merge [number [pairs]]",
            commands.merge,
            feature="trading",
            role_with_args=operator,
        ),
    ):
        core.register(command)
    core.on_confirm("redeem", commands.on_redeem)
    core.on_confirm("merge", commands.on_merge)

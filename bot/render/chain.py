"""Text for `/redeem` and `/merge`: resolved markets still held (what redeeming pays), pairs
that could be merged (merged against sold at the bids), and the latest redemptions and merges.
Plain text only (transports escape)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from bot.render.common import RenderContext
from bot.render.trading import money, shares, short
from bot.reply import Reply
from trader.control.api import ChainOperationView, ChainOverview

_STATE = {
    "requested": "requested",
    "sent": "sent, waiting for the chain",
    "confirmed": "confirmed",
    "failed": "failed",
}


def holding(parts: Sequence[tuple[str, Decimal]]) -> str:
    return ", ".join(f"{shares(size)} {outcome}" for outcome, size in parts)


def redeemable(overview: ChainOverview, ctx: RenderContext) -> Reply:
    if not overview.available:
        return Reply("Redemption is not available on this venue")
    if not overview.redeemable:
        lines = ["Nothing to redeem: no resolved market is still held."]
        return Reply("Redeem", (*lines, *_recent(overview.recent, ctx, "redeem")))
    lines = []
    for number, item in enumerate(overview.redeemable, 1):
        lines.append(
            f"{number}. {short(item.question)}: {holding(item.shares)} pay {money(item.payout)}"
        )
        if item.last is not None and item.last.state != "failed":
            lines.append(f"   {_STATE.get(item.last.state, item.last.state)}")
        elif item.last is not None:
            lines.append(f"   last try failed: {short(item.last.message, 80)}")
    lines.append("Redeem one now: /redeem <number>")
    return Reply("Redeem", (*lines, *_recent(overview.recent, ctx, "redeem")))


def mergeable(overview: ChainOverview, ctx: RenderContext) -> Reply:
    if not overview.available:
        return Reply("Merging is not available on this venue")
    if not overview.mergeable:
        lines = ["Nothing to merge: no market is held on both sides."]
        return Reply("Merge", (*lines, *_recent(overview.recent, ctx, "merge")))
    lines = []
    for number, pair in enumerate(overview.mergeable, 1):
        verdict = "merging pays more" if pair.gain > 0 else "selling pays more"
        lines.append(
            f"{number}. {short(pair.question)}: {shares(pair.pairs)} pairs merge into "
            f"{money(pair.pairs)}, sold at the bids {money(pair.sale)} ({verdict})"
        )
    lines.append("Merge one now: /merge <number> [pairs]")
    return Reply("Merge", (*lines, *_recent(overview.recent, ctx, "merge")))


def operation(op: ChainOperationView) -> Reply:
    what = "Redemption" if op.kind == "redeem" else "Merge"
    lines = [
        f"{short(op.question)}: {holding(op.shares)} for {money(op.payout)}",
        f"State: {_STATE.get(op.state, op.state)}",
    ]
    if op.tx_id:
        lines.append(f"Transaction {op.tx_id[:24]}")
    if op.message:
        lines.append(short(op.message, 120))
    return Reply(f"{what} {op.state}", tuple(lines))


def _recent(ops: Sequence[ChainOperationView], ctx: RenderContext, kind: str) -> list[str]:
    mine = [op for op in ops if op.kind == kind][-5:]
    if not mine:
        return []
    lines = ["Latest:"]
    for op in mine:
        lines.append(
            f"· {ctx.local(op.created_at)} {short(op.question, 40)}: {money(op.payout)}, {op.state}"
        )
    return lines

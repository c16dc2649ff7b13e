"""Passive entries: how the edge strategy asks for a maker order instead of taking the ask.

With `MAKER_ENTRY` on, a sized BUY becomes a maker intent (`OrderIntent.maker`): the same
shares' worth of the planned spend, a limit no worse than the worst level the taker plan used,
resting post-only at or inside the touch (the execution core's maker desk prices it, reprices
it every maker cycle and cancels it when the intent lapses, `MAKER_TTL_S` after the cycle that
sized it). It is urgent when its edge at the best ask after fees is at least
`MAKER_URGENT_EDGE`: then, when it cannot rest, it takes at its limit rather than wait. Sells
(a view turned against a holding) stay fill-and-kill: an exit does not wait.

Nothing here does I/O; the strategy applies `passive_entry` to what sizing returned.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal

from trader.domain import MakerEntry, OrderIntent, OrderType, Side


@dataclass(frozen=True, slots=True)
class MakerPolicy:
    improve_ticks: int = 1
    urgent_edge: Decimal = Decimal("0.10")
    ttl: timedelta = timedelta(seconds=900)

    def __post_init__(self) -> None:
        if self.improve_ticks < 0:
            raise ValueError("improve_ticks must be zero or more")
        if not Decimal(0) < self.urgent_edge < Decimal(1):
            raise ValueError("urgent_edge must be in (0, 1)")
        if self.ttl <= timedelta(0):
            raise ValueError("ttl must be positive")


def passive_entry(
    intent: OrderIntent, policy: MakerPolicy, edge: Decimal | None, now: datetime
) -> OrderIntent:
    """`intent` as a maker entry lapsing at `now + ttl`; a SELL is returned as it is."""
    if intent.side is not Side.BUY:
        return intent
    urgent = edge is not None and edge >= policy.urgent_edge
    return replace(
        intent,
        order_type=OrderType.GTC,  # the maker desk chooses GTD when the lapse is far enough
        post_only=True,
        expires_at=now + policy.ttl,
        maker=MakerEntry(improve_ticks=policy.improve_ticks, urgent=urgent),
        reason=f"{intent.reason}; maker entry{' (urgent)' if urgent else ''}",
    )

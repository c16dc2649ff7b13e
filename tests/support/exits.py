"""What the exit tests share: the clock's now, the rain market's tokens, and one of our
resting orders as the exit watch sees it (`ExitWatch(resting=...)`)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from trader.domain import FeeSchedule, Market, OutcomeToken, Side

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
YES, NO = "tok-yes", "tok-no"


@dataclasses.dataclass(frozen=True)
class Resting:
    """One of our resting orders, as the exits see it."""

    token_id: str
    side: Side
    price: Decimal
    remaining: Decimal


def rain_market(end_in: timedelta = timedelta(days=10), fees: FeeSchedule | None = None) -> Market:
    """ "Will it rain?" (0xm), ending `end_in` after NOW."""
    market = Market(
        condition_id="0xm",
        question="Will it rain?",
        tokens=(OutcomeToken(YES, "Yes"), OutcomeToken(NO, "No")),
        end_date=NOW + end_in,
    )
    return market if fees is None else dataclasses.replace(market, fees=fees)

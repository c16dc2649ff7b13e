"""Marks that can be realised (issue #16): what selling a position now would bring in.

Equity, unrealized PnL, peak equity and drawdown, the day's PnL (the daily loss limit) and the
equity snapshots value a position at the token's latest book's bids, best first, walked for
the position's size, each level net of the taker fee the sale would pay (`trader.fees`, with
the market's schedule from a `FeeLookup`). Shares beyond the bids' depth, and a book with no
bid at all, are worth zero: a book nobody bids on is a position nobody can sell. The mid is a
display mark only (`Portfolio.mark_price`), shown labelled beside the value.

Example: 100 YES bought at 0.50, bids 60 @ 0.48 and 100 @ 0.40, asks 0.52: the mid says
$50.00, the position is worth 60 x 0.48 + 40 x 0.40 = $44.80 before fees.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal

from trader.domain import NO_FEES, ZERO, BookLevel, FeeSchedule
from trader.fees import taker_fee

FeeLookup = Callable[[str], FeeSchedule]  # a market's condition id -> its taker fee schedule


def no_fees(market: str) -> FeeSchedule:
    """The lookup for a portfolio that knows no market (tests, tools): no fee is deducted."""
    return NO_FEES


def exit_value(size: Decimal, bids: Iterable[BookLevel], fees: FeeSchedule) -> Decimal:
    """What selling `size` shares into `bids` (best first) realises, net of the taker fee;
    shares the bids cannot take are worth zero."""
    value = ZERO
    left = size
    for level in bids:
        if left <= ZERO:
            break
        take = min(level.size, left)
        value += take * level.price - taker_fee(take, level.price, fees)
        left -= take
    return value

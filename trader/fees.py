"""Polymarket's taker fee, one function for sizing, risk, the paper venue, fill parsing and
the simulator.

The rule (docs.polymarket.com, trading fees; the pinned SDK's `adjust_buy_amount_for_fees`):
a taker filling C shares at price p pays `C * rate * (p * (1 - p)) ** exponent`, with the
market's own rate and exponent (Gamma's `feeSchedule`); makers pay nothing. CLOB V2 orders
carry no fee: it is set at match time and paid in collateral (pUSD), on top of a buy's cost
(the SDK reckons a market buy of amount A at price p to cost `A + (A / p) * rate * (p(1-p))^e`)
and out of a sell's proceeds. So a buy is booked as shares received in full plus cash paid
for price and fee; a sell as cash received net of its fee.

`FEE_RATE_OVERRIDE_BPS`, when set, replaces every market's rate (with exponent 1): a stated
assumption for venues or tests that publish no schedule, never a silent default.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from trader.domain import NO_FEES, ONE, ZERO, BookLevel, FeeSchedule, Market

BPS = Decimal(10_000)
CENT = Decimal("0.01")

__all__ = [
    "NO_FEES",
    "BuyWalk",
    "FeeSchedule",
    "fee_per_share",
    "schedule_for",
    "schedule_from_bps",
    "taker_fee",
    "walk_buy",
]


def schedule_from_bps(bps: Decimal, exponent: int = 1) -> FeeSchedule:
    """A schedule from a rate in basis points (what trades and `/fee-rate` overrides carry)."""
    return FeeSchedule(rate=bps / BPS, exponent=exponent) if bps > ZERO else NO_FEES


def schedule_for(market: Market | None, override_bps: Decimal | None = None) -> FeeSchedule:
    """The schedule that applies to `market`: the override when one is set, else its own."""
    if override_bps is not None:
        return schedule_from_bps(override_bps)
    return market.fees if market is not None else NO_FEES


def fee_per_share(price: Decimal, schedule: FeeSchedule) -> Decimal:
    """The taker fee one share costs at `price`, in pUSD."""
    if not schedule.charges or not ZERO < price < ONE:
        return ZERO
    return schedule.rate * (price * (ONE - price)) ** schedule.exponent


def taker_fee(shares: Decimal, price: Decimal, schedule: FeeSchedule) -> Decimal:
    """The fee on `shares` filled at `price` by a taker (a maker pays none)."""
    return shares * fee_per_share(price, schedule)


@dataclass(frozen=True, slots=True)
class BuyWalk:
    """What spending an amount on a book's asks up to a limit buys, level by level."""

    shares: Decimal
    spent: Decimal  # on shares, before fees
    fee: Decimal
    unspent: Decimal  # the part of the amount no ask at or under the limit took

    @property
    def cost(self) -> Decimal:
        return self.spent + self.fee


def walk_buy(
    asks: Iterable[BookLevel], amount: Decimal, limit: Decimal, schedule: FeeSchedule
) -> BuyWalk:
    """Spend `amount` pUSD (fees on top) on `asks`, best first, at prices up to `limit`.

    Shares are taken in hundredths, so the spend is never more than `amount`. The remainder
    is `unspent`: a FAK order leaves it unfilled, and a reservation counts it at `limit`.
    """
    shares = spent = fee = ZERO
    left = amount
    for level in asks:
        if level.price > limit or left <= ZERO:
            break
        take = min(level.size, (left / level.price).quantize(CENT, ROUND_DOWN))
        if take * level.price > left:  # the division may round up across a hundredth
            take -= CENT
        if take <= ZERO:
            break
        shares += take
        spent += take * level.price
        fee += taker_fee(take, level.price, schedule)
        left = amount - spent
    return BuyWalk(shares, spent, fee, max(left, ZERO))

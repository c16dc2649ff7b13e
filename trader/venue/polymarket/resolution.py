"""A resolved market's payout vector from Gamma's closed-market payload (the SDK's `Market`).

Polymarket resolves a market by reporting a payout per outcome: 1 and 0 for a winner and a
loser, 0.5 and 0.5 for a 50/50 split (a market its rules resolve "unknown" or "tie"). Gamma
shows the payouts as the closed market's `outcomePrices`, and where it states the oracle's
lifecycle (`umaResolutionStatus`), "resolved" (or "settled", the request's end after it).

A closed market whose prices are not such a vector is not reported resolved yet: legacy "0"/"0",
or the last trading prices of a market closed early; it is reported once they show one. A
market of a neg-risk (multi-outcome) event is one binary market of that event: its own vector
is 1/0 for the outcome that won and 0/1 for every other, so the event's payouts are the vectors
of its markets.
"""

from __future__ import annotations

from decimal import Decimal

from polymarket import Market as GammaMarket
from polymarket.models.gamma.market import UmaResolutionStatus

from trader.domain import ONE, ZERO, Payouts

HALF = Decimal("0.5")
PAYOUT_VALUES = frozenset({ZERO, HALF, ONE})
FINAL_STATUSES = frozenset({UmaResolutionStatus.RESOLVED, UmaResolutionStatus.SETTLED})


def payouts_from_gamma(market: GammaMarket) -> Payouts | None:
    """Token id -> payout per share of a resolved market, or None while it has no payouts."""
    if not market.state.closed:
        return None
    status = market.resolution.uma_resolution_status
    if status is not None and status not in FINAL_STATUSES:
        return None  # proposed, disputed, requested: the oracle has not answered yet
    outcomes = (market.outcomes.yes, market.outcomes.no)
    payouts: Payouts = {}
    for outcome in outcomes:
        if not outcome.token_id or outcome.price not in PAYOUT_VALUES:
            return None
        payouts[outcome.token_id] = Decimal(outcome.price)
    return payouts if sum(payouts.values(), ZERO) == ONE and len(payouts) == 2 else None

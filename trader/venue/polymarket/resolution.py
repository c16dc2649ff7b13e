"""A resolved market's payout vector from Gamma's closed-market payload: the JSON as Gamma sends
it (`payouts_from_gamma_json`, what the market data reads) or the SDK's `Market` (the backtest's
history), one rule for both (`payout_vector`).

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

from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from trader.domain import ONE, ZERO, Payouts
from trader.venue.parsing.values import Payload, json_list

if TYPE_CHECKING:  # the SDK is imported by whoever holds its models (live, backtest), not here
    from polymarket import Market as GammaMarket

HALF = Decimal("0.5")
PAYOUT_VALUES = frozenset({ZERO, HALF, ONE})
FINAL_STATUSES = frozenset({"resolved", "settled"})  # the SDK's UmaResolutionStatus values


def payout_vector(
    *, closed: bool, status: str | None, outcomes: Sequence[tuple[str | None, object]]
) -> Payouts | None:
    """Token id -> payout per share of a resolved binary market, or None while it has none.
    `status`: Gamma's `umaResolutionStatus` (None or "" when not stated); `outcomes`: each
    outcome's token id and price."""
    if not closed:
        return None
    if status and status not in FINAL_STATUSES:
        return None  # proposed, disputed, requested: the oracle has not answered yet
    payouts: Payouts = {}
    for token_id, raw_price in outcomes:
        price = _decimal(raw_price)
        if not token_id or price not in PAYOUT_VALUES:
            return None
        payouts[token_id] = price
    return payouts if sum(payouts.values(), ZERO) == ONE and len(payouts) == 2 else None


def payouts_from_gamma(market: GammaMarket) -> Payouts | None:
    """`payout_vector` of the SDK's Gamma `Market`."""
    status = market.resolution.uma_resolution_status
    outcomes = (market.outcomes.yes, market.outcomes.no)
    return payout_vector(
        closed=bool(market.state.closed),
        status=None if status is None else str(status.value),
        outcomes=[(o.token_id, o.price) for o in outcomes],
    )


def payouts_from_gamma_json(payload: Payload) -> Payouts | None:
    """`payout_vector` of a Gamma `/markets` item as sent (outcome prices and token ids are
    JSON-encoded strings)."""
    prices = json_list(payload.get("outcomePrices"), "outcomePrices")
    tokens = [str(t) for t in json_list(payload.get("clobTokenIds"), "clobTokenIds")]
    if len(prices) != len(tokens):
        return None
    status = payload.get("umaResolutionStatus")
    return payout_vector(
        closed=bool(payload.get("closed")),
        status=str(status) if status else None,
        outcomes=list(zip(tokens, prices, strict=True)),
    )


def _decimal(value: object) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None

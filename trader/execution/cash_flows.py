"""Cash flows: money that enters or leaves the account without being profit or loss.

A deposit or a withdrawal changes equity but is not PnL: a $300 withdrawal is not a $300
loss, so it must not move the day's PnL, trip the daily loss limit or change the drawdown
mode. A redemption turns a resolved market's payout (already counted in equity as
*redeemable*) into cash: equity does not move at all.

How a flow is found (one rule for live and paper, which differ only in the venue): at each
reconciliation the venue's collateral balance is compared with ours after every fill we know
of (and its fee). What is left is first explained by redemptions (`explain_cash_change`): a
settled market whose tokens the venue no longer holds was redeemed, so its payout is now in
the venue's cash. Whatever still remains beyond the tolerance, when two reconciliations in a
row see it, is a deposit (positive) or a withdrawal (negative), recorded as a `cash_flow`
event and a row in `cash_flows`. In paper mode the operator enters flows (`/deposit`,
`/withdraw`), which move the paper venue's balance and are recorded the same way.

Performance is measured net of flows, time-weighted: a flow scales the peak equity by the
same factor as the equity (`scale_peak`), so the drawdown fraction is what it was before the
flow; the day's PnL is equity now minus equity at the start of the day minus the day's flows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from trader.domain import ZERO


class FlowReason(StrEnum):
    DEPOSIT = "deposit"
    WITHDRAWAL = "withdrawal"


VENUE = "venue"  # the source of a flow found in the venue's balance
UNEXPLAINED = "venue balance change not explained by fills, fees or redemptions"


@dataclass(frozen=True, slots=True)
class CashFlow:
    """Money in (amount > 0) or out (amount < 0) of the account; not PnL."""

    at: datetime
    amount: Decimal
    reason: str  # why we think so: UNEXPLAINED, or the operator's words
    source: str  # VENUE (found in the balance) or the actor who entered it

    @property
    def kind(self) -> FlowReason:
        return FlowReason.DEPOSIT if self.amount > ZERO else FlowReason.WITHDRAWAL


@dataclass(frozen=True, slots=True)
class Redeemable:
    """A settled market's payout not yet seen in the venue's cash, and the tokens it pays."""

    amount: Decimal
    tokens: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True, slots=True)
class CashExplanation:
    redeemed: dict[str, Decimal]  # market -> payout now in the venue's cash
    flow: Decimal  # what remains: a deposit (> 0) or a withdrawal (< 0); zero if none


def explain_cash_change(
    change: Decimal,
    redeemable: Mapping[str, Redeemable],
    venue_held: frozenset[str] | None,
    tolerance: Decimal,
) -> CashExplanation:
    """Split `change` (venue cash minus ours after every known fill) into redemptions and a
    flow. A market is redeemed when the venue no longer holds any of its settled tokens
    (`venue_held`: the tokens the venue holds now). A market whose tokens we do not know (or
    when the venue's positions were not read) counts as redeemed only if the change covers
    its payout. Each market is counted once: what was redeemed leaves `redeemable`, so a
    later run cannot count it again."""
    redeemed: dict[str, Decimal] = {}
    left = change
    for market, item in sorted(redeemable.items()):
        if item.tokens and venue_held is not None:
            gone = not (item.tokens & venue_held)
        else:
            gone = item.amount > ZERO and left >= item.amount - tolerance
        if gone:
            redeemed[market] = item.amount
            left -= item.amount
    flow = left if abs(left) > tolerance else ZERO
    return CashExplanation(redeemed, flow)


def scale_peak(peak: Decimal, equity_before: Decimal, flow: Decimal) -> Decimal:
    """The peak equity after a flow, time-weighted: scaled by the flow's effect on equity, so
    the drawdown fraction is unchanged (peak 1000, equity 900, withdraw 300: equity 600, peak
    666.67, drawdown still 10%)."""
    after = equity_before + flow
    if equity_before <= ZERO or peak <= ZERO:
        return max(after, ZERO)
    return max(peak * after / equity_before, after, ZERO)

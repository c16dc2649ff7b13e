"""Pure position arithmetic: how one fill changes a position, and replaying fills from zero.

Shared by the portfolio (optimistic updates on the hot path), reconciliation (what local
positions would be once missing fills are applied) and PnL reports (realizations in a period).

Average prices include fees paid on buys; a sell realizes (price - average) * size minus its
fee. Polymarket has no short selling: a sell of more than is held (a fill we never saw the buy
of) closes the position and realizes nothing on the excess, and reconciliation then takes the
venue's position.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from trader.domain import ZERO, Fill, Position, Side, TradeStatus

SETTLEMENT_ORDER_ID = "settlement"
SETTLEMENT_LIQUIDITY = "SETTLE"  # fits the fills.liquidity column (8)


@dataclass(frozen=True, slots=True)
class Realization:
    """PnL realized by one sell fill or settlement."""

    at: datetime
    token_id: str
    market: str
    size: Decimal
    pnl: Decimal


def cash_delta(fill: Fill) -> Decimal:
    """What a fill does to cash: a buy pays price * size + fee, a sell receives it minus fee."""
    if fill.liquidity == SETTLEMENT_LIQUIDITY:
        return ZERO  # payouts are redeemable on-chain, not cash at the venue
    gross = fill.price * fill.size
    return -(gross + fill.fee) if fill.side is Side.BUY else gross - fill.fee


def fills_cash(fills: Iterable[Fill]) -> Decimal:
    """What these fills did to cash, each counted once."""
    seen: set[tuple[str, str]] = set()
    total = ZERO
    for fill in fills:
        if fill.key not in seen:
            seen.add(fill.key)
            total += cash_delta(fill)
    return total


def apply_fill(position: Position | None, fill: Fill) -> tuple[Position, Decimal]:
    """The position after `fill`, and the PnL it realized."""
    current = position or Position(
        token_id=fill.token_id, size=ZERO, average_price=ZERO, market=fill.market
    )
    if not current.market and fill.market:
        current = replace(current, market=fill.market)
    if fill.side is Side.BUY:
        size = current.size + fill.size
        cost = current.size * current.average_price + fill.size * fill.price + fill.fee
        average = cost / size if size > ZERO else ZERO
        return replace(current, size=size, average_price=average), ZERO
    sold = min(fill.size, max(current.size, ZERO))
    realized = (fill.price - current.average_price) * sold - fill.fee
    size = current.size - sold
    average = current.average_price if size > ZERO else ZERO
    updated = replace(
        current, size=size, average_price=average, realized_pnl=current.realized_pnl + realized
    )
    return updated, realized


def settlement_fill(position: Position, payout: Decimal, at: datetime) -> Fill:
    """A resolved market pays `payout` (1 or 0, 0.5 for a split) per share: a synthetic sell."""
    return Fill(
        trade_id=f"settlement:{position.market}:{position.token_id}",
        order_id=SETTLEMENT_ORDER_ID,
        token_id=position.token_id,
        side=Side.SELL,
        price=payout,
        size=position.size,
        fee=ZERO,
        timestamp=at,
        market=position.market,
        liquidity=SETTLEMENT_LIQUIDITY,
    )


def replay(fills: Iterable[Fill]) -> tuple[dict[str, Position], list[Realization]]:
    """Positions and realizations from a history of fills, applied in the order given."""
    positions: dict[str, Position] = {}
    realizations: list[Realization] = []
    seen: set[tuple[str, str]] = set()
    for fill in fills:
        if fill.key in seen or fill.status is TradeStatus.FAILED:
            continue
        seen.add(fill.key)
        position, realized = apply_fill(positions.get(fill.token_id), fill)
        positions[fill.token_id] = position
        if fill.side is Side.SELL:
            realizations.append(
                Realization(fill.timestamp, fill.token_id, position.market, fill.size, realized)
            )
    return positions, realizations

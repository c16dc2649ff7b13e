"""Pure bookkeeping for paper trading: cash and positions derived from fills, book walking.

Nothing here awaits or reads the clock. `PaperLedger` is rebuilt from the recorded fills on every
start, so a restart resumes exactly where the journal left off. A resolved market keeps its
shares until it is redeemed (`ChainRecord`, through the venue's `ChainOps`): every share then
sold at its token's payout (1 for the winner, 0 for the loser, 0.5 each side of a 50/50; no
fee); a merge gives up n of each side for n, half a pair each. The execution core's own
settlement fills are bookkeeping, not redemptions: the ledger is not given them.
`take_liquidity` and
`through_liquidity` are the two fill rules `PaperVenue` applies: a marketable order walks the
opposite side up to its limit; a resting order fills only when the opposite side moves strictly
through its price (an equal price might have queued ahead of us, so it does not count).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_DOWN, Decimal

from trader.domain import ZERO, BookLevel, Fill, Position, Side

# The execution core's settlement fills (`trader.execution.ledger.settlement_fill`) look like
# this; the venue layer does not import the execution core, so the two values are repeated here
# (a unit test checks they agree).
SETTLEMENT_ORDER_ID = "settlement"
SETTLEMENT_LIQUIDITY = "SETTLE"
# The merges the redemption service books in the fills table (`trader.execution.redemption`):
# bookkeeping, not trades; the paper venue replays its own record of merges instead.
MERGE_LIQUIDITY = "MERGE"
REDEEM_LIQUIDITY = "REDEEM"
CHAIN_LIQUIDITY = {"redeem": REDEEM_LIQUIDITY, "merge": MERGE_LIQUIDITY}
NOT_TRADES = frozenset({SETTLEMENT_LIQUIDITY, MERGE_LIQUIDITY, REDEEM_LIQUIDITY})


@dataclass(frozen=True, slots=True)
class ChainRecord:
    """A redemption or merge the paper venue accepted (replayed on start from the journal)."""

    tx_id: str
    kind: str  # "redeem" or "merge"
    market: str
    at: datetime
    amounts: Mapping[str, Decimal]  # token -> shares given up
    prices: Mapping[str, Decimal]  # token -> collateral per share


CENT = Decimal("0.01")


@dataclass(slots=True)
class _Holding:
    size: Decimal = ZERO
    cost: Decimal = ZERO  # cost basis of the shares still held
    realized_pnl: Decimal = ZERO
    market: str = ""


class PaperLedger:
    """Cash and positions as a fold over fills: BUY pays price * size + fee, SELL receives
    price * size - fee. Positions keep their average cost; selling realizes the difference."""

    def __init__(self, bankroll: Decimal, fills: Iterable[Fill] = ()) -> None:
        self.bankroll = bankroll
        self.cash = bankroll
        self.fees_paid = ZERO
        self._holdings: dict[str, _Holding] = {}
        for fill in fills:
            self.apply(fill)

    def apply(self, fill: Fill) -> None:
        holding = self._holdings.setdefault(fill.token_id, _Holding(market=fill.market))
        notional = fill.price * fill.size
        self.fees_paid += fill.fee
        if fill.side is Side.BUY:
            self.cash -= notional + fill.fee
            holding.size += fill.size
            holding.cost += notional
        else:
            self.cash += notional - fill.fee
            average = holding.cost / holding.size if holding.size else fill.price
            holding.realized_pnl += (fill.price - average) * fill.size
            holding.size -= fill.size
            holding.cost = average * holding.size if holding.size else ZERO
        holding.realized_pnl -= fill.fee

    def chain_fills(
        self,
        operation: ChainRecord,
    ) -> list[Fill]:
        """The fills that give up a redemption's or a merge's shares for their collateral
        (each share at its price: the payout, or half a pair), at most what is held; apply
        them to redeem or merge."""
        fills = []
        for token_id, wanted in sorted(operation.amounts.items()):
            size = min(wanted, self.position_size(token_id))
            if size <= ZERO:
                continue
            fills.append(
                Fill(
                    trade_id=f"{operation.kind}:{operation.tx_id}:{token_id}",
                    order_id=operation.kind,
                    token_id=token_id,
                    side=Side.SELL,
                    price=operation.prices.get(token_id, ZERO),
                    size=size,
                    fee=ZERO,
                    timestamp=operation.at,
                    market=operation.market,
                    liquidity=CHAIN_LIQUIDITY[operation.kind],
                )
            )
        return fills

    def position_size(self, token_id: str) -> Decimal:
        holding = self._holdings.get(token_id)
        return holding.size if holding else ZERO

    def positions(self) -> list[Position]:
        return [
            Position(
                token_id=token_id,
                size=h.size,
                average_price=h.cost / h.size if h.size else ZERO,
                market=h.market,
                realized_pnl=h.realized_pnl,
            )
            for token_id, h in self._holdings.items()
            if h.size != ZERO
        ]

    def cost_basis(self) -> Decimal:
        """What the open positions cost: with `cash`, what the bankroll became, less fees."""
        return sum((h.cost for h in self._holdings.values()), ZERO)


@dataclass(frozen=True, slots=True)
class Take:
    price: Decimal
    size: Decimal


def take_liquidity(
    levels: Iterable[BookLevel],
    *,
    side: Side,
    limit: Decimal,
    size: Decimal,
    consumed: Mapping[Decimal, Decimal] | None = None,
    amount: Decimal | None = None,
) -> list[Take]:
    """Walk the opposite side (best first) for an order of `side` up to `limit` and `size`.

    With `amount` (a marketable BUY of a dollar amount, as the venue takes it), the walk
    spends at most `amount` on shares instead, in hundredths of a share; `size` is ignored.
    `consumed` is what earlier paper orders already took at each price of this book, so two
    orders against the same snapshot cannot both take the same liquidity.
    """
    takes: list[Take] = []
    wanted = size
    left = amount
    for level in levels:
        if wanted <= ZERO or not _within(level.price, side, limit):
            break
        available = level.size - (consumed or {}).get(level.price, ZERO)
        if available <= ZERO:
            continue
        if left is not None:
            quantity = min(available, (left / level.price).quantize(CENT, ROUND_DOWN))
            if quantity <= ZERO:
                break
            left -= quantity * level.price
        else:
            quantity = min(available, wanted)
            wanted -= quantity
        takes.append(Take(level.price, quantity))
    return takes


def amount_unspent(amount: Decimal, spent: Decimal, limit: Decimal) -> bool:
    """Whether an amount order left a hundredth of a share at its limit, or more, unspent."""
    return amount - spent >= CENT * limit


def through_liquidity(levels: Iterable[BookLevel], *, side: Side, price: Decimal) -> Decimal:
    """Opposite-side size strictly better than a resting order's price: what traded through."""
    total = ZERO
    for level in levels:
        strictly = level.price < price if side is Side.BUY else level.price > price
        if not strictly:
            break
        total += level.size
    return total


def _within(level_price: Decimal, side: Side, limit: Decimal) -> bool:
    return level_price <= limit if side is Side.BUY else level_price >= limit

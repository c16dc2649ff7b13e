"""Balances and positions per owner: pUSD collateral and conditional-token holdings.

Accounts are keyed by lower-case wallet address (the order's maker). Synthetic participants
(the market maker and the random flow) have unlimited balances and no ledger entries: they
stand for the rest of the market. Open orders reserve nothing here; the exchange computes what
an account has free from its open orders when a new one arrives.

Fees are charged to the taker in collateral: `size * rate * (p * (1 - p)) ** exponent`, with
`rate = fee_rate_bps / 10000` and `p` the trade price (the venue's V2 fee curve).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from trader import fees
from trader.domain import ZERO, Side
from trader.fees import schedule_from_bps

SIX_PLACES = Decimal("0.000001")


@dataclass(slots=True)
class Holding:
    token_id: str
    size: Decimal = ZERO
    cost: Decimal = ZERO  # cost basis of the shares held now
    realized_pnl: Decimal = ZERO
    total_bought: Decimal = ZERO
    fees: Decimal = ZERO
    last_event_at: float = 0.0
    first_entry_at: float = 0.0

    @property
    def average_price(self) -> Decimal:
        return (self.cost / self.size).quantize(SIX_PLACES) if self.size > 0 else ZERO


@dataclass(slots=True)
class Account:
    address: str
    collateral: Decimal
    holdings: dict[str, Holding] = field(default_factory=dict)

    def holding(self, token_id: str) -> Holding:
        found = self.holdings.get(token_id)
        if found is None:
            found = self.holdings[token_id] = Holding(token_id)
        return found

    def tokens(self, token_id: str) -> Decimal:
        found = self.holdings.get(token_id)
        return found.size if found else ZERO


def taker_fee(size: Decimal, price: Decimal, fee_rate_bps: int, exponent: int) -> Decimal:
    """The product's one fee function (`trader.fees`), to the venue's six decimals."""
    schedule = schedule_from_bps(Decimal(fee_rate_bps), exponent)
    return fees.taker_fee(size, price, schedule).quantize(SIX_PLACES)


class Ledger:
    def __init__(self, initial_collateral: Decimal) -> None:
        self.initial_collateral = initial_collateral
        self._accounts: dict[str, Account] = {}

    def account(self, address: str) -> Account:
        key = address.lower()
        found = self._accounts.get(key)
        if found is None:
            found = self._accounts[key] = Account(address, self.initial_collateral)
        return found

    def accounts(self) -> list[Account]:
        return list(self._accounts.values())

    def apply_fill(
        self,
        account: Account,
        *,
        token_id: str,
        side: Side,
        price: Decimal,
        size: Decimal,
        fee: Decimal,
        when: float,
    ) -> None:
        """Move collateral and tokens for one side of one trade."""
        holding = account.holding(token_id)
        notional = price * size
        if holding.first_entry_at == 0.0:
            holding.first_entry_at = when
        holding.last_event_at = when
        holding.fees += fee
        if side is Side.BUY:
            account.collateral -= notional + fee
            holding.size += size
            holding.cost += notional
            holding.total_bought += size
            return
        account.collateral += notional - fee
        basis = holding.average_price * size if holding.size > 0 else ZERO
        holding.realized_pnl += notional - basis
        holding.cost = max(ZERO, holding.cost - basis)
        holding.size -= size

    def settle(self, token_id: str, payout: Decimal, when: float) -> None:
        """Redeem every holding of a resolved token at `payout` (1, 0 or 0.5) per share."""
        for account in self._accounts.values():
            self.redeem(account, token_id, payout, when)

    @staticmethod
    def redeem(account: Account, token_id: str, payout: Decimal, when: float) -> Decimal:
        """Redeem one account's holding of a resolved token; the collateral paid."""
        holding = account.holdings.get(token_id)
        if holding is None or holding.size <= 0:
            return ZERO
        proceeds = holding.size * payout
        account.collateral += proceeds
        holding.realized_pnl += proceeds - holding.cost
        holding.size = ZERO
        holding.cost = ZERO
        holding.last_event_at = when
        return proceeds


__all__ = ["Account", "Holding", "Ledger", "taker_fee"]

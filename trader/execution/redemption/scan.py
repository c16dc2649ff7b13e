"""What there is to do: the settled markets the venue still holds (redeemable), the markets
held on both sides (mergeable), and whether a market may be sent an operation now."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from trader.control.types import ControlError
from trader.domain import ZERO, Market, Position, Side
from trader.execution.accounts import ResolutionSource
from trader.execution.chain_records import (
    ChainOperation,
    ChainOperationStore,
    OperationKind,
    OperationState,
)
from trader.execution.engine import ExecutionEngine
from trader.execution.marks import exit_value
from trader.venue.base import VenueError

log = logging.getLogger(__name__)

CENT = Decimal("0.01")
MAX_AUTO_FAILURES = 3  # a market whose operations failed this often waits for the operator


@dataclass(frozen=True, slots=True)
class Redeemable:
    """A settled market the venue still holds shares of: what redeeming it would pay."""

    market: str
    question: str
    amounts: Mapping[str, Decimal]  # token -> shares held at the venue
    prices: Mapping[str, Decimal]  # token -> payout per share
    payout: Decimal
    neg_risk: bool
    operation: ChainOperation | None = None  # the latest record, if any


@dataclass(frozen=True, slots=True)
class Mergeable:
    """A market held on both sides: n pairs, worth n merged, `sale` sold at the bids."""

    market: str
    question: str
    pairs: Decimal
    sale: Decimal  # what selling n of each at the bids would bring, net of fees
    tokens: tuple[str, str]  # (YES, NO)
    neg_risk: bool

    @property
    def gain(self) -> Decimal:
        return self.pairs - self.sale


class RedemptionScan:
    """Reads the portfolio, the board, the venue's holdings and the records; sends nothing."""

    def __init__(
        self,
        *,
        engine: ExecutionEngine,
        store: ChainOperationStore,
        resolutions: ResolutionSource | None,
    ) -> None:
        self._engine = engine
        self._store = store
        self._resolutions = resolutions

    async def redeemables(self) -> list[Redeemable]:
        redeemables = self._engine.portfolio.redeemables()
        if not redeemables or self._resolutions is None:
            return []
        try:
            held = await self.venue_holdings()
            payouts = await self._resolutions.resolved_markets(sorted(redeemables))
        except VenueError as error:  # Gamma or the venue down: the next run tries again
            log.warning("could not read what is redeemable: %s", error)
            return []
        items = []
        for market, entry in sorted(redeemables.items()):
            vector = payouts.get(market)
            amounts = {t: held[t] for t in sorted(entry.tokens) if held.get(t, ZERO) > ZERO}
            if vector is None or not amounts:
                continue  # not (yet) reported resolved; or nothing left at the venue
            prices = {t: vector.get(t, ZERO) for t in amounts}
            payout = sum((amounts[t] * prices[t] for t in amounts), ZERO)
            question, neg_risk = await self._describe(market)
            items.append(Redeemable(market, question, amounts, prices, payout, neg_risk))
        return items

    async def _describe(self, market: str) -> tuple[str, bool]:
        """The market's question and whether it is neg-risk (which adapter redeems it): from
        the board, else from the markets table (a resolved market leaves the listing)."""
        found = self._engine.board.market(market)
        if found is not None:
            return found.question, found.neg_risk
        facts = await self._store.market_facts(market)
        if facts is None:
            log.warning("market %s is unknown here: redeemed as a plain binary market", market)
            return market, False
        return facts

    def mergeables(self) -> list[Mergeable]:
        portfolio, board = self._engine.portfolio, self._engine.board
        settled = portfolio.settled_tokens
        out = []
        for market in sorted({p.market for p in portfolio.positions() if p.market}):
            found = board.market(market)
            if found is None or len(found.tokens) != 2:
                continue
            yes, no = (t.token_id for t in found.tokens)
            if yes in settled or no in settled:
                continue
            pairs = min(self._free(yes), self._free(no)).quantize(CENT, rounding="ROUND_DOWN")
            if pairs <= ZERO:
                continue
            sale = self._sale(found, yes, pairs) + self._sale(found, no, pairs)
            out.append(Mergeable(market, found.question, pairs, sale, (yes, no), found.neg_risk))
        return out

    def _free(self, token_id: str) -> Decimal:
        """Shares of `token_id` held and not offered by a working sell."""
        portfolio = self._engine.portfolio
        position = portfolio.position(token_id)
        offered = sum(
            (
                o.remaining
                for o in portfolio.working_orders()
                if o.token_id == token_id and o.side is Side.SELL
            ),
            ZERO,
        )
        return max((position.size if position else ZERO) - offered, ZERO)

    def _sale(self, market: Market, token_id: str, size: Decimal) -> Decimal:
        book = self._engine.board.cached_book(token_id)
        return exit_value(size, book.bids, market.fees) if book is not None else ZERO

    async def venue_holdings(self) -> dict[str, Decimal]:
        positions: Sequence[Position] = await self._engine.venue.positions()
        return {p.token_id: p.size for p in positions if p.size > ZERO}

    async def may_send(self, market: str, *, automatic: bool) -> bool:
        records = [r for r in await self._store.of_market(market) if not r.legacy]
        if any(not r.state.finished for r in records):
            return False
        if any(
            r.kind is OperationKind.REDEEM and r.state is OperationState.CONFIRMED for r in records
        ):
            return False
        failures = sum(1 for r in records if r.state is OperationState.FAILED)
        return not (automatic and failures >= MAX_AUTO_FAILURES)

    async def refuse_if_busy(self, market: str) -> None:
        records = [r for r in await self._store.of_market(market) if not r.legacy]
        busy = next((r for r in records if not r.state.finished), None)
        if busy is not None:
            raise ControlError(f"a {busy.kind.value} of {market} is already {busy.state.value}")

"""The paper venue's chain operations (`trader.venue.chain.ChainOps`): a resolved market's
shares redeemed at their payout and YES+NO pairs merged, each accepted and confirmed at once in
the paper ledger, and followed by its tx id. `PaperChainOps` holds these for `PaperVenue`
(`trader.venue.paper.venue`), over the venue's attributes, declared here, with the ledger once
started (`_started`).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping
from decimal import Decimal

from trader.clock import Clock
from trader.domain import ZERO, Payouts
from trader.venue.base import VenueError
from trader.venue.chain import ChainKind, ChainTx, ChainTxState
from trader.venue.paper.book import PaperOrderBook
from trader.venue.paper.history import KeptFill, kept_fill
from trader.venue.paper.ledger import ChainRecord, PaperLedger
from trader.venue.paper.ports import MarketDataSource

log = logging.getLogger(__name__)


class PaperChainOps:
    """Redeem and merge in paper (mixed into `PaperVenue`, which sets these attributes in its
    constructor)."""

    _source: MarketDataSource
    _clock: Clock
    _ledger: PaperLedger | None
    _history: list[KeptFill]
    _book: PaperOrderBook
    _lock: asyncio.Lock
    _payouts: dict[str, Payouts]
    _tokens: dict[str, tuple[str, ...]]
    _chain: dict[str, ChainTx]

    def _started(self) -> PaperLedger:
        if self._ledger is None:
            raise RuntimeError("PaperVenue.start() has not been awaited")
        return self._ledger

    def _apply_chain(self, ledger: PaperLedger, record: ChainRecord) -> None:
        for fill in ledger.chain_fills(record):
            ledger.apply(fill)
            self._history.append(kept_fill(fill))
        kind: ChainKind = "merge" if record.kind == "merge" else "redeem"
        self._chain[record.tx_id] = ChainTx(record.tx_id, kind, ChainTxState.CONFIRMED)

    # --- chain operations (trader.venue.chain.ChainOps) ------------------------------------

    async def redeem(
        self, condition_id: str, *, neg_risk: bool, amounts: Mapping[str, Decimal]
    ) -> ChainTx:
        """Pay the held shares of a resolved market out at their payout, at once."""
        payouts = self._payouts.get(condition_id)
        if payouts is None:
            payouts = (await self._source.resolved_markets([condition_id])).get(condition_id)
        if payouts is None:
            raise VenueError(f"market {condition_id} has not resolved", code="not_resolved")
        prices = {token: payouts.get(token, ZERO) for token in amounts}
        return await self._accept("redeem", condition_id, amounts, prices)

    async def merge(self, condition_id: str, *, neg_risk: bool, amount: Decimal) -> ChainTx:
        """Give up `amount` of each side of the market for `amount` pUSD, at once."""
        ledger = self._started()
        tokens = self._tokens.get(condition_id) or tuple(
            p.token_id for p in ledger.positions() if p.market == condition_id
        )
        if len(tokens) != 2 or amount <= ZERO:
            raise VenueError(f"cannot merge in {condition_id}", code="merge_refused")
        free = [ledger.position_size(t) - self._book.reserved_shares(t) for t in tokens]
        if min(free) < amount:
            raise VenueError(
                f"merging {amount} pairs needs {amount} of each side; {min(free)} free",
                code="not_enough_balance",
            )
        half = Decimal("0.5")
        return await self._accept(
            "merge", condition_id, dict.fromkeys(tokens, amount), dict.fromkeys(tokens, half)
        )

    async def tx_status(self, tx_id: str) -> ChainTx:
        known = self._chain.get(tx_id)
        if known is None:  # never accepted, or accepted and lost with the process
            return ChainTx(tx_id, "redeem", ChainTxState.UNKNOWN, message="unknown transaction")
        return known

    async def _accept(
        self,
        kind: str,
        market: str,
        amounts: Mapping[str, Decimal],
        prices: Mapping[str, Decimal],
    ) -> ChainTx:
        async with self._lock:
            ledger = self._started()
            tx_id = f"paper-tx-{uuid.uuid4().hex}"
            record = ChainRecord(tx_id, kind, market, self._clock.now(), dict(amounts), prices)
            self._apply_chain(ledger, record)
            log.info("paper %s of %s accepted: %s", kind, market, tx_id)
            return self._chain[tx_id]

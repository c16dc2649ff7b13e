"""What the paper venue is handed: the market data it reads books from (`MarketDataSource`),
the journal it remembers its fills in (`FillJournal`), and what such a journal may also keep
(the accepted redemptions and merges, `KeepsChainRecords`; the operator's transfers,
`KeepsTransfers`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from decimal import Decimal
from typing import Protocol, runtime_checkable

from trader.domain import Book, Fill, Market, Payouts
from trader.venue.paper.ledger import ChainRecord


class MarketDataSource(Protocol):
    async def list_markets(self, *, limit: int = 500) -> Sequence[Market]: ...

    async def get_book(self, token_id: str) -> Book: ...

    def book_updates(self, token_ids: Sequence[str]) -> AsyncIterator[Book]: ...

    def book_age(self, token_id: str) -> float | None: ...

    def feed_age(self) -> float | None:
        """Seconds since the market feed last delivered anything; inf while disconnected; None
        when there is no feed to watch."""
        ...

    async def resolved_markets(self, condition_ids: Sequence[str]) -> dict[str, Payouts]:
        """Resolved markets among `condition_ids` -> payout per share by token."""
        ...


class FillJournal(Protocol):
    """Where paper fills are remembered (the database in the app, a list in tests)."""

    async def load(self) -> list[Fill]: ...

    async def record(self, fill: Fill) -> None: ...


@runtime_checkable
class KeepsChainRecords(Protocol):
    """A journal that also remembers the redemptions and merges the paper venue accepted."""

    async def chain_records(self) -> list[ChainRecord]: ...


@runtime_checkable
class KeepsTransfers(Protocol):
    """A journal that also knows what the operator deposited less withdrew."""

    async def transfers(self) -> Decimal: ...

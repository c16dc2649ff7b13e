"""Pieces for the paper venue tests: an in-memory fill journal, books and order requests.

`MemoryJournal` is the paper venue's `FillJournal` kept in a list (the database journal is
`trader.venue.paper.journal.DatabaseFillJournal`); `make_book` and `order` build values for
one token (`TOKEN`) of one market (`0xm`) unless told otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from trader.clock import FakeClock
from trader.domain import Book, BookLevel, Fill, OrderRequest, OrderType, Side
from trader.venue.paper.ledger import ChainRecord

TOKEN = "tok-yes"
OTHER = "tok-no"


class MemoryJournal:
    def __init__(self, fills: Sequence[Fill] = (), chain: Sequence[ChainRecord] = ()) -> None:
        self.fills = list(fills)
        self.chain = list(chain)  # the redemptions and merges the venue accepted

    async def chain_records(self) -> list[ChainRecord]:
        return list(self.chain)

    async def load(self) -> list[Fill]:
        return list(self.fills)

    async def record(self, fill: Fill) -> None:
        self.fills.append(fill)


def levels(*pairs: tuple[str, str]) -> tuple[BookLevel, ...]:
    return tuple(BookLevel(Decimal(p), Decimal(s)) for p, s in pairs)


def make_book(
    bids: tuple[BookLevel, ...] = (), asks: tuple[BookLevel, ...] = (), token: str = TOKEN
) -> Book:
    return Book(token_id=token, bids=bids, asks=asks, timestamp=FakeClock().now(), market="0xm")


def order(
    side: Side,
    price: str,
    size: str,
    order_type: OrderType = OrderType.GTC,
    token: str = TOKEN,
    **kwargs: object,
) -> OrderRequest:
    return OrderRequest(
        token_id=token,
        side=side,
        price=Decimal(price),
        size=Decimal(size),
        client_order_id=f"c-{side}-{price}-{size}",
        order_type=order_type,
        market="0xm",
        **kwargs,  # type: ignore[arg-type]  # the caller's optional OrderRequest fields
    )

"""Paper trading: the Venue protocol with no signing and no money, on real or simulated books.

`PaperVenue` reads books from a `MarketDataSource` (the live adapter's public market data, the
simulator through it, or `StaticMarketData`) and fills conservatively:

- a marketable order walks the opposite side up to its limit, and may fill partially: FOK is all
  or nothing, FAK keeps what it got, GTC/GTD rest the remainder; liquidity an earlier paper order
  took from a snapshot stays taken until the next book update for that token;
- a resting order fills, at its own price, only when the opposite side moves strictly through it,
  and at most by the size that moved through;
- a marketable BUY of an amount (`OrderRequest.amount`, as sizing plans it) spends that amount
  on the asks up to its limit, as the venue does, so paper and live spend alike;
- a taker fill pays its market's fee (`trader.fees`, the market's own schedule as listed) in
  pUSD on top; a maker fill pays none, as on the venue.

Cash and positions are a fold over fills recorded in a `FillJournal`, reloaded on `start()`, so a
restart resumes exactly (in the app the journal is the database's fills table:
`trader.venue.paper.journal`). Resting paper orders live in memory only: after a restart they are
gone, as if cancelled, and reconciliation against the venue sees that. Ended orders are
remembered for a bounded window (`trader.venue.paper.book`), and a token's book is followed only
while a paper order rests on it.

Resolution: `resolved_markets` answers from the source (Gamma, for Polymarket data); the resolved
market's resting orders end CANCELED_MARKET_RESOLVED. Its shares stay held, as at the real venue,
until they are redeemed through `ChainOps` (`redeem`: each share paid at its payout, 1/0 or 0.5
each side of a 50/50; `merge`: n YES + n NO for n), which the redemption service of the
execution core calls in paper as in live. Each is confirmed at once; the journal keeps the
accepted ones (in the app: the `chain_operations` rows with a tx id) and `start()` replays them
with the fills, so a restart agrees with the database. `feed_age` is
the source's market-socket liveness (None for sources without a socket).

Beside this module: `trader.venue.paper.ports` (what the venue is handed: the market data
source, the fill journal), `trader.venue.paper.chain` (`PaperChainOps`, `PaperVenue`'s base:
redeem, merge, tx status), `trader.venue.paper.history` (the fills as kept tuples).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from decimal import Decimal

from trader.clock import Clock
from trader.domain import (
    NO_FEES,
    ZERO,
    Balance,
    Book,
    FeeSchedule,
    Fill,
    Market,
    OrderRequest,
    OrderStatus,
    Payouts,
    Position,
)
from trader.domain import Order as DomainOrder
from trader.fees import taker_fee
from trader.venue.base import CancelResult, OrderRejected, PreparedOrder, SubmitResult
from trader.venue.chain import ChainTx
from trader.venue.fanout import FanOut
from trader.venue.paper.book import KEEP_CLOSED, PaperOrderBook
from trader.venue.paper.chain import PaperChainOps
from trader.venue.paper.history import (
    KEPT_LIQUIDITY,
    KEPT_MARKET,
    KEPT_TIMESTAMP,
    KeptFill,
    fill_of,
    kept_fill,
)
from trader.venue.paper.ledger import NOT_TRADES, ChainRecord, PaperLedger
from trader.venue.paper.ports import (
    FillJournal,
    KeepsChainRecords,
    KeepsTransfers,
    MarketDataSource,
)
from trader.venue.rounding import round_order

# the ports are re-exported: `from trader.venue.paper.venue import FillJournal` as before
__all__ = ["FillJournal", "KeepsChainRecords", "KeepsTransfers", "MarketDataSource", "PaperVenue"]

log = logging.getLogger(__name__)


class PaperVenue(PaperChainOps):
    name = "paper"

    def __init__(
        self,
        source: MarketDataSource,
        *,
        bankroll: Decimal,
        clock: Clock,
        journal: FillJournal,
        keep_closed: int = KEEP_CLOSED,
    ) -> None:
        self._source = source
        self._bankroll = bankroll
        self._fees: dict[str, FeeSchedule] = {}  # token -> its market's schedule, as listed
        self._clock = clock
        self._journal = journal
        self._ledger: PaperLedger | None = None
        self._history: list[KeptFill] = []  # every fill, kept as `kept_fill` makes it
        self._book = PaperOrderBook(keep_closed=keep_closed)
        self._watchers: dict[str, asyncio.Task[None]] = {}
        self._fills = FanOut[Fill]()
        self._lock = asyncio.Lock()
        self._payouts: dict[str, Payouts] = {}  # resolved markets, as the source reported them
        self._tokens: dict[str, tuple[str, ...]] = {}  # market -> its tokens, as listed
        self._chain: dict[str, ChainTx] = {}  # accepted redemptions and merges by tx id

    # --- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        if self._ledger is None:
            # the execution core's bookkeeping (settlements, merges) is not the venue's doing
            loaded = await self._journal.load()
            self._history = [kept_fill(f) for f in loaded if f.liquidity not in NOT_TRADES]
            records: list[ChainRecord] = []
            if isinstance(self._journal, KeepsChainRecords):
                records = await self._journal.chain_records()
            moved = ZERO
            if isinstance(self._journal, KeepsTransfers):
                moved = await self._journal.transfers()
            self._ledger = PaperLedger(self._bankroll + moved)
            self._replay(records)

    def _replay(self, records: Sequence[ChainRecord]) -> None:
        """Fold the fills and the accepted redemptions and merges in time order."""
        ledger = self._started()
        pending = sorted(records, key=lambda r: r.at)
        fills, self._history = self._history, []
        for kept in fills:
            fill = fill_of(kept)
            while pending and pending[0].at < fill.timestamp:  # a tie: the fill first
                self._apply_chain(ledger, pending.pop(0))
            ledger.apply(fill)
            self._history.append(kept)
        for record in pending:
            self._apply_chain(ledger, record)

    async def transfer(self, amount: Decimal) -> None:
        """The operator deposits (> 0) or withdraws (< 0) paper money; the journal keeps it
        (in the app: the `cash_flows` row the execution core writes)."""
        ledger = self._started()
        if ledger.cash + amount < ZERO:
            raise ValueError(f"a withdrawal of {-amount} leaves less than nothing")
        ledger.cash += amount

    async def close(self) -> None:
        watchers, self._watchers = list(self._watchers.values()), {}
        for task in watchers:
            task.cancel()
        for task in watchers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._fills.close()

    # --- market data: the source's ----------------------------------------------------------

    async def list_markets(self, *, limit: int = 500) -> Sequence[Market]:
        markets = await self._source.list_markets(limit=limit)
        for market in markets:  # fills are charged by their market's own schedule
            self._tokens[market.condition_id] = tuple(t.token_id for t in market.tokens)
            for token in market.tokens:
                self._fees[token.token_id] = market.fees
        return markets

    def _fees_of(self, token_id: str) -> FeeSchedule:
        return self._fees.get(token_id, NO_FEES)

    async def get_book(self, token_id: str) -> Book:
        return await self._source.get_book(token_id)

    def book_updates(self, token_ids: Sequence[str]) -> AsyncIterator[Book]:
        return self._source.book_updates(token_ids)

    def book_age(self, token_id: str) -> float | None:
        return self._source.book_age(token_id)

    def feed_age(self) -> float | None:
        return self._source.feed_age()

    # --- resolution -------------------------------------------------------------------------

    async def resolved_markets(self, condition_ids: Sequence[str]) -> dict[str, Payouts]:
        """The source's resolved markets -> payouts by token; each one's resting orders end
        (CANCELED_MARKET_RESOLVED). The shares stay held until `redeem`."""
        resolved = await self._source.resolved_markets(condition_ids)
        if resolved:
            async with self._lock:
                for market, payouts in resolved.items():
                    self._payouts[market] = dict(payouts)
                    canceled = self._book.cancel_market(market)
                    if canceled:
                        log.info("paper market %s resolved: %d orders ended", market, len(canceled))
        return resolved

    # --- orders -----------------------------------------------------------------------------

    async def prepare(self, request: OrderRequest) -> PreparedOrder:
        book = await self._source.get_book(request.token_id)
        rounded = round_order(
            request,
            tick_size=book.tick_size,
            min_order_size=book.min_order_size,
            best_bid=book.best_bid,
            best_ask=book.best_ask,
            now=self._clock.now(),
        )
        return PreparedOrder(request=rounded, order_id=f"paper-{uuid.uuid4().hex}", payload="")

    async def submit(self, order: PreparedOrder) -> SubmitResult:
        book = await self._latest_book(order.request.token_id)
        async with self._lock:
            ledger = self._started()
            request = order.request
            if self._book.get(order.order_id) is not None:
                raise OrderRejected("order already submitted", code="INVALID_ORDER_DUPLICATED")
            self._check_funds(ledger, request)
            if request.post_only and self._book.crosses(request, book):
                raise OrderRejected(
                    "invalid post-only order: order crosses book", code="INVALID_POST_ONLY_ORDER"
                )
            takes = self._book.take(request, book)
            fills = [
                await self._fill(order.order_id, request, t.price, t.size, "TAKER") for t in takes
            ]
            placed = self._book.place(order.order_id, request, fills, self._clock.now())
        if placed.status is OrderStatus.LIVE:
            self._watch(request.token_id)
        return SubmitResult(
            order_id=order.order_id,
            status=placed.status,
            fills=tuple(fills),
            error_code=self._book.kill_code(request, placed),
        )

    async def cancel(self, order_ids: Sequence[str]) -> CancelResult:
        async with self._lock:
            return self._book.cancel(order_ids)

    async def cancel_all(self) -> CancelResult:
        async with self._lock:
            return self._book.cancel([o.order_id for o in self._book.open_orders()])

    async def get_order(self, order_id: str) -> DomainOrder | None:
        self._book.expire(self._clock.now())
        return self._book.get(order_id)

    async def resolve_unknown(self, order_id: str) -> DomainOrder | None:
        """Paper submits cannot be lost in transit: this is `get_order`, for symmetry."""
        return await self.get_order(order_id)

    async def open_orders(self, *, market: str | None = None) -> Sequence[DomainOrder]:
        self._book.expire(self._clock.now())
        return [o for o in self._book.open_orders() if market in (None, o.market)]

    async def trades(
        self, *, market: str | None = None, after: datetime | None = None
    ) -> Sequence[Fill]:
        return [  # redemptions and merges are not trades
            fill_of(k)
            for k in self._history
            if k[KEPT_LIQUIDITY] not in NOT_TRADES
            and market in (None, k[KEPT_MARKET])
            and (after is None or k[KEPT_TIMESTAMP] > after)
        ]

    def fills(self) -> AsyncIterator[Fill]:
        return self._fills.subscribe()

    async def balance(self) -> Balance:
        ledger = self._started()
        return Balance(cash=ledger.cash, reserved=self._book.reserved_cash(self._fees_of))

    async def positions(self) -> Sequence[Position]:
        return self._started().positions()

    async def server_time(self) -> datetime:
        return self._clock.now()

    async def heartbeat(self) -> None:
        """Paper has no dead-man switch: resting orders die with the process anyway."""

    def followed_tokens(self) -> frozenset[str]:
        """Tokens whose book updates are followed now (those a paper order rests on)."""
        return frozenset(t for t, task in self._watchers.items() if not task.done())

    # --- internals --------------------------------------------------------------------------

    async def _latest_book(self, token_id: str) -> Book:
        cached = self._book.latest_book(token_id)
        return cached if cached is not None else await self._source.get_book(token_id)

    def _check_funds(self, ledger: PaperLedger, request: OrderRequest) -> None:
        if request.side.sign > 0:
            fees = self._fees_of(request.token_id)
            if request.amount is not None:  # a marketable buy of an amount: fees on top
                cost = request.amount + taker_fee(
                    request.amount / request.price, request.price, fees
                )
            else:
                cost = request.price * request.size + taker_fee(request.size, request.price, fees)
            available = ledger.cash - self._book.reserved_cash(self._fees_of)
            if cost > available:
                raise OrderRejected(
                    f"not enough balance: order needs {cost}, {available} available",
                    code="INVALID_ORDER_NOT_ENOUGH_BALANCE",
                )
            return
        held = ledger.position_size(request.token_id) - self._book.reserved_shares(request.token_id)
        if request.size > held:
            raise OrderRejected(
                f"not enough shares: selling {request.size}, {held} available",
                code="INVALID_ORDER_NOT_ENOUGH_BALANCE",
            )

    async def _fill(
        self, order_id: str, request: OrderRequest, price: Decimal, size: Decimal, liquidity: str
    ) -> Fill:
        fill = Fill(
            trade_id=f"paper-trade-{uuid.uuid4().hex}",
            order_id=order_id,
            token_id=request.token_id,
            side=request.side,
            price=price,
            size=size,
            # takers pay the market's fee in pUSD on top; makers pay none
            fee=taker_fee(size, price, self._fees_of(request.token_id))
            if liquidity == "TAKER"
            else ZERO,
            timestamp=self._clock.now(),
            market=request.market,
            liquidity=liquidity,
        )
        await self._journal.record(fill)
        self._started().apply(fill)
        self._history.append(kept_fill(fill))
        self._fills.publish(fill)
        return fill

    def _watch(self, token_id: str) -> None:
        task = self._watchers.get(token_id)
        if task is None or task.done():
            # Subscribe now, not when the task first runs: an update in between would be lost.
            updates = self._source.book_updates([token_id])
            self._watchers[token_id] = asyncio.create_task(
                self._follow(token_id, updates), name=f"paper-book-{token_id[:12]}"
            )

    async def _follow(self, token_id: str, updates: AsyncIterator[Book]) -> None:
        """Apply every book update of `token_id` to the resting orders on it, until none rests
        there any more (checked as each update arrives)."""
        try:
            while True:
                try:
                    async for book in updates:
                        if not await self._on_book(book):
                            self._unwatch(token_id)
                            return
                    return  # the source closed the feed: nothing more will come
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("paper book feed for %s failed; resubscribing", token_id)
                await _close(updates)
                await self._clock.sleep(1.0)
                updates = self._source.book_updates([token_id])
        finally:
            await _close(updates)  # ended, failed for good or cancelled: unsubscribe

    async def _on_book(self, book: Book) -> bool:
        """Apply one update; True while a paper order still rests on its token."""
        async with self._lock:
            self._book.set_latest_book(book)
            self._book.expire(self._clock.now())
            for resting, price, size in self._book.through_fills(book):
                fill = await self._fill(resting.order_id, resting.request, price, size, "MAKER")
                self._book.record_fill(resting.order_id, fill)
            return self._book.has_open(book.token_id)

    def _unwatch(self, token_id: str) -> None:
        """Stop following `token_id` (called with no await before the watcher returns, so a
        submit that rests a new order on it afterwards starts a new watcher)."""
        if self._watchers.get(token_id) is asyncio.current_task():
            del self._watchers[token_id]
        self._book.forget_book(token_id)  # unfollowed, the cached book would go stale


async def _close(updates: AsyncIterator[Book]) -> None:
    closer = getattr(updates, "aclose", None)
    if closer is not None:
        await closer()

"""The simulated venue's state machine: accept, match, rest, cancel, settle, resolve.

Everything here is synchronous and runs on the event loop thread, so each operation is atomic.
Operations queue events while they run; when the outermost operation ends, book-level changes
are added and the whole batch goes to the listeners (the WebSocket hub), in order.
"""

from __future__ import annotations

import dataclasses
import random
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal

from polysim.clob.ledger import Ledger, taker_fee
from polysim.clob.model import (
    BookChanged,
    MarketResolved,
    OrderChanged,
    OrderRejected,
    PlaceRequest,
    PlaceResult,
    SimEvent,
    SimMarket,
    SimOrder,
    SimTrade,
    TickSizeChanged,
    TradeChanged,
    TradePrinted,
)
from polysim.clob.rules import check_market, check_order, check_post_only_and_fok
from polysim.clob.scenario import Scenario
from trader.clock import Clock
from trader.domain import ZERO, OrderStatus, OrderType, Side, TradeStatus

Listener = Callable[[Sequence[SimEvent]], None]
# the outcome names the admin resolve takes for a 50/50 resolution (0.5 per share each side)
SPLIT_OUTCOMES = frozenset({"50/50", "split"})
FAK_NOT_FILLED = (
    "no orders found to match with FAK order. "
    "FAK orders are partially filled or killed if no match is found."
)


class SimExchange:
    def __init__(self, scenario: Scenario, clock: Clock) -> None:
        self.scenario = scenario
        self.clock = clock
        self.ledger = Ledger(scenario.initial_collateral)
        self.markets: dict[str, SimMarket] = {
            spec.condition_id: SimMarket(spec, fair=spec.fair_price, tick_size=spec.tick_size)
            for spec in scenario.markets
        }
        self._by_token = {t: m for m in self.markets.values() for t in m.spec.token_ids}
        self.orders: dict[str, SimOrder] = {}  # every accepted user order
        self.open: dict[str, SimOrder] = {}  # resting orders, users' and synthetic
        self.trades: list[SimTrade] = []  # trades with at least one user side
        self._settling: list[SimTrade] = []
        # seeded ids make runs reproducible; nothing here is secret
        self._ids = random.Random(scenario.seed * 7919 + 1)  # noqa: S311
        self._pending: list[SimEvent] = []
        self._depth = 0
        self.listeners: list[Listener] = []

    # --- lookups ---------------------------------------------------------------------------

    def market_for_token(self, token_id: str) -> SimMarket | None:
        return self._by_token.get(token_id)

    def open_orders(
        self,
        owners: set[str] | None = None,
        *,
        address: str | None = None,
        market: str | None = None,
        asset_id: str | None = None,
        order_id: str | None = None,
    ) -> list[SimOrder]:
        """Resting user orders placed with one of `owners` (API keys) / funded by `address`."""
        wanted = None if address is None else address.lower()
        return [
            o
            for o in self.open.values()
            if not o.synthetic
            and (owners is None or o.owner in owners)
            and (wanted is None or o.address.lower() == wanted)
            and (market is None or o.market == market)
            and (asset_id is None or o.token_id == asset_id)
            and (order_id is None or o.order_id == order_id)
        ]

    def trades_for(
        self, owners: set[str], *, market: str | None = None, asset_id: str | None = None
    ) -> list[SimTrade]:
        return [
            t
            for t in self.trades
            if (t.taker.owner in owners or t.maker.owner in owners)
            and (market is None or t.market == market)
            and (asset_id is None or asset_id in (t.taker.token_id, t.maker.token_id))
        ]

    def free_collateral(self, address: str) -> Decimal:
        reserved = sum(
            (
                o.remaining * o.price
                for o in self.open_orders(address=address)
                if o.side is Side.BUY
            ),
            ZERO,
        )
        return self.ledger.account(address).collateral - reserved

    def free_tokens(self, address: str, token_id: str) -> Decimal:
        reserved = sum(
            (
                o.remaining
                for o in self.open_orders(address=address, asset_id=token_id)
                if o.side is Side.SELL
            ),
            ZERO,
        )
        return self.ledger.account(address).tokens(token_id) - reserved

    # --- orders ----------------------------------------------------------------------------

    def place(self, request: PlaceRequest) -> PlaceResult:
        with self.operation():
            market = check_market(self, request)
            if not request.synthetic:
                check_order(self, market, request)
            book_side, book_price = market.to_book(request.token_id, request.side, request.price)
            check_post_only_and_fok(market, request, book_side, book_price)
            return self._execute(market, request, book_side, book_price)

    def cancel(
        self, order_ids: Sequence[str], *, owners: set[str]
    ) -> tuple[list[str], dict[str, str]]:
        canceled: list[str] = []
        not_canceled: dict[str, str] = {}
        with self.operation():
            for order_id in order_ids:
                order = self.orders.get(order_id)
                if order is None or order.owner not in owners:
                    not_canceled[order_id] = "order not found"
                elif order_id not in self.open:
                    not_canceled[order_id] = "already canceled or matched"
                else:
                    self._cancel(order, OrderStatus.CANCELED)
                    canceled.append(order_id)
        return canceled, not_canceled

    def cancel_where(
        self, owners: set[str], *, market: str | None = None, asset_id: str | None = None
    ) -> list[str]:
        """Cancel the open orders of these API keys, optionally only in a market or token."""
        with self.operation():
            victims = self.open_orders(owners, market=market, asset_id=asset_id)
            for order in victims:
                self._cancel(order, OrderStatus.CANCELED)
        return [o.order_id for o in victims]

    def withdraw(self, order_id: str) -> None:
        """Cancel any resting order, synthetic ones included, without an owner check."""
        order = self.open.get(order_id)
        if order is not None:
            with self.operation():
                self._cancel(order, OrderStatus.CANCELED)

    def new_order_id(self) -> str:
        return "0x" + format(self._ids.getrandbits(256), "064x")

    # --- time ------------------------------------------------------------------------------

    def run_due(self) -> None:
        """Expire GTD orders, advance trade settlement, resolve markets whose time has come."""
        now = self.clock.now()
        with self.operation():
            stamp = int(now.timestamp())
            for order in [o for o in self.open.values() if 0 < o.expiration <= stamp]:
                self._cancel(order, OrderStatus.CANCELED)
            self._advance_settlement()
            for market in self.markets.values():
                due = market.spec.resolves_at
                if not market.closed and due is not None and due <= now:
                    self.resolve(market.condition_id)

    def resolve(
        self, condition_id: str, outcome: str | None = None, *, redeem: bool = True
    ) -> dict[str, Decimal]:
        """Close a market, cancel its orders and pay every holding its token's payout: 1 to the
        winner and 0 to the loser, or 0.5 to each for `outcome` "50/50". The payouts by token.
        `redeem=False` leaves the holdings REDEEMABLE, as the real venue does, until
        `redeem_for` pays one account out."""
        market = self.markets[condition_id]
        if market.closed and market.payouts is not None:
            return dict(market.payouts)
        payouts = self._payouts(market, outcome or market.spec.outcome)
        winners = [token for token, payout in payouts.items() if payout == 1]
        with self.operation():
            for order in [o for o in self.open.values() if o.market == condition_id]:
                self._cancel(order, OrderStatus.CANCELED_MARKET_RESOLVED)
            now = self.clock.now()
            market.closed, market.accepting_orders = True, False
            market.winner = winners[0] if winners else None
            market.payouts = payouts
            market.closed_at = now
            market.fair = payouts[market.spec.tokens[0].token_id]
            if redeem:
                for token, payout in payouts.items():
                    self.ledger.settle(token, payout, now.timestamp())
            self._pending.append(MarketResolved(condition_id, market.winner, now))
        return dict(payouts)

    def redeem_for(self, condition_id: str, address: str) -> Decimal:
        """Redeem one account's holdings in a resolved market at their payouts (what the
        operator does on the website, or `redeem_positions`); the collateral paid."""
        market = self.markets[condition_id]
        if market.payouts is None:
            raise ValueError(f"{condition_id} has not resolved")
        account = self.ledger.account(address)
        now = self.clock.now().timestamp()
        return sum(
            (self.ledger.redeem(account, t, p, now) for t, p in market.payouts.items()), ZERO
        )

    @staticmethod
    def _payouts(market: SimMarket, wanted: str | None) -> dict[str, Decimal]:
        tokens = market.spec.tokens
        if wanted is not None and wanted.casefold() in SPLIT_OUTCOMES:
            return {t.token_id: Decimal("0.5") for t in tokens}
        if wanted is not None:
            names = [t.outcome.casefold() for t in tokens]
            if wanted.casefold() not in names:
                raise ValueError(f"{wanted!r} is not an outcome of {market.condition_id}")
            index = names.index(wanted.casefold())
        else:
            index = 0 if market.fair >= Decimal("0.5") else 1
        return {t.token_id: Decimal(1) if i == index else ZERO for i, t in enumerate(tokens)}

    def set_tick_size(self, condition_id: str, tick_size: Decimal) -> None:
        market = self.markets[condition_id]
        old, market.tick_size = market.tick_size, tick_size
        with self.operation():
            for token_id in market.spec.token_ids:
                self._pending.append(
                    TickSizeChanged(condition_id, token_id, old, tick_size, self.clock.now())
                )

    @contextmanager
    def operation(self) -> Iterator[None]:
        """Group mutations: events go out once, when the outermost operation ends."""
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            if self._depth == 0:
                self._flush()

    # --- internals -------------------------------------------------------------------------

    def _execute(
        self, market: SimMarket, request: PlaceRequest, book_side: Side, book_price: Decimal
    ) -> PlaceResult:
        order = self._new_order(market, request)
        mark = len(self._pending)
        limit = request.size
        if request.fill_fraction is not None and request.order_type is not OrderType.FOK:
            limit = (request.size * request.fill_fraction).quantize(Decimal("0.01"))
        trades = [
            self._fill(market, order, match.maker_order_id, match.size, match.price)
            for match in market.book.take(book_side, book_price, limit)
        ]
        if request.order_type is OrderType.FAK and not trades:
            raise OrderRejected("FAK_ORDER_NOT_FILLED_ERROR", FAK_NOT_FILLED, http_status=200)
        if order.remaining > 0 and order.order_type in (OrderType.GTC, OrderType.GTD):
            market.book.add(order.order_id, book_side, book_price, order.remaining, order.owner)
            self.open[order.order_id] = order
        else:
            order.status = OrderStatus.MATCHED
        if not order.synthetic:
            self.orders[order.order_id] = order
            self._pending.insert(
                mark, OrderChanged("PLACEMENT", order.snapshot(), self.clock.now())
            )
        notional = sum((t.size * t.taker.price for t in trades), ZERO)
        shares = sum((t.size for t in trades), ZERO)
        buy = request.side is Side.BUY
        return PlaceResult(
            order_id=order.order_id,
            status="live" if order.order_id in self.open else "matched",
            making=notional if buy else shares,
            taking=shares if buy else notional,
            trade_ids=tuple(t.trade_id for t in trades),
            transaction_hashes=tuple(t.transaction_hash for t in trades),
        )

    def _new_order(self, market: SimMarket, request: PlaceRequest) -> SimOrder:
        return SimOrder(
            order_id=request.order_id,
            market=market.condition_id,
            token_id=request.token_id,
            outcome=market.outcome(request.token_id),
            side=request.side,
            price=request.price,
            original_size=request.size,
            order_type=request.order_type,
            owner=request.owner,
            address=request.address,
            created_at=self.clock.now(),
            expiration=request.expiration,
            post_only=request.post_only,
            synthetic=request.synthetic,
        )

    def _fill(
        self, market: SimMarket, taker: SimOrder, maker_id: str, size: Decimal, book_price: Decimal
    ) -> SimTrade:
        maker = self.open[maker_id]
        spec = market.spec
        price = market.from_book(taker.token_id, book_price)
        fee = (
            ZERO
            if taker.synthetic
            else taker_fee(size, price, spec.fee_rate_bps, spec.fee_exponent)
        )
        now = self.clock.now()
        for order, at, paid in ((taker, price, fee), (maker, maker.price, ZERO)):
            order.size_matched += size
            if not order.synthetic:
                self.ledger.apply_fill(
                    self.ledger.account(order.address),
                    token_id=order.token_id,
                    side=order.side,
                    price=at,
                    size=size,
                    fee=paid,
                    when=now.timestamp(),
                )
        if maker.remaining <= 0:
            maker.status = OrderStatus.MATCHED
            del self.open[maker_id]
        trade = SimTrade(
            trade_id=str(uuid.UUID(int=self._ids.getrandbits(128), version=4)),
            market=market.condition_id,
            taker=taker.leg(price, fee),
            maker=maker.leg(maker.price, ZERO),
            size=size,
            fee_rate_bps=spec.fee_rate_bps,
            match_time=now,
            transaction_hash="0x" + format(self._ids.getrandbits(256), "064x"),
        )
        market.volume += size * price
        market.last_trade[taker.token_id] = (price, taker.side)
        market.last_trade[market.complement(taker.token_id)] = (1 - price, taker.side.opposite)
        self._pending.append(
            TradePrinted(
                market.condition_id,
                taker.token_id,
                price,
                taker.side,
                size,
                spec.fee_rate_bps,
                trade.transaction_hash,
                now,
            )
        )
        if not (taker.synthetic and maker.synthetic):
            self._record(trade, taker, maker)
        return trade

    def _record(self, trade: SimTrade, taker: SimOrder, maker: SimOrder) -> None:
        self.trades.append(trade)
        self._settling.append(trade)
        now = trade.match_time
        taker.associate_trades.append(trade.trade_id)
        maker.associate_trades.append(trade.trade_id)
        if not maker.synthetic:
            self._pending.append(OrderChanged("UPDATE", maker.snapshot(), now))
        for leg in (trade.taker, trade.maker):
            if not leg.synthetic:
                self._pending.append(TradeChanged(dataclasses.replace(trade), leg.owner, now))

    def _cancel(self, order: SimOrder, status: OrderStatus) -> None:
        self.markets[order.market].book.remove(order.order_id)
        self.open.pop(order.order_id, None)
        order.status = status
        if not order.synthetic:
            self._pending.append(OrderChanged("CANCELLATION", order.snapshot(), self.clock.now()))

    def _advance_settlement(self) -> None:
        delay = self.scenario.settlement_delay_s
        now = self.clock.now()
        still: list[SimTrade] = []
        for trade in self._settling:
            age = (now - trade.match_time).total_seconds()
            target = (
                TradeStatus.CONFIRMED
                if age >= 2 * delay
                else (TradeStatus.MINED if age >= delay else TradeStatus.MATCHED)
            )
            if target is not trade.status:
                trade.status, trade.last_update = target, now
                for leg in (trade.taker, trade.maker):
                    if not leg.synthetic:
                        self._pending.append(
                            TradeChanged(dataclasses.replace(trade), leg.owner, now)
                        )
            if trade.status is not TradeStatus.CONFIRMED:
                still.append(trade)
        self._settling = still

    def _flush(self) -> None:
        now = self.clock.now()
        for market in self.markets.values():
            changes = market.book.take_changes()
            if changes:
                self._pending.append(
                    BookChanged(market.condition_id, market.level_changes(changes), now)
                )
        events, self._pending = self._pending, []
        if events:
            for listener in list(self.listeners):
                listener(events)


__all__ = ["FAK_NOT_FILLED", "Listener", "SimExchange"]

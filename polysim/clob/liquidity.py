"""Synthetic liquidity: a market maker quoting around a random-walking fair price, and flow.

Model: one fair value per binary market (the first outcome's probability); the second outcome's
book is its mirror, so quoting the first outcome's book quotes both. Each step the fair value's
log-odds take a seeded Gaussian step (`drift * dt + volatility * sqrt(dt) * N(0, 1)`), the
market maker re-quotes `depth` levels a side, `half_spread_ticks` from fair, sized
`level_size * (1 + level / 2)`, and with probability `flow_rate` a synthetic taker sends a
fill-and-kill order against the best opposite level. Our resting orders therefore fill over
time when they are at the touch, and get run over (adverse selection) when the fair value
moves through them: the market maker's new quotes match them as takers.
"""

from __future__ import annotations

import math
import random
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from polysim.clob.exchange import SimExchange
from polysim.clob.model import (
    MARKET_FLOW,
    MARKET_MAKER,
    SYNTHETIC_ADDRESSES,
    OrderRejected,
    PlaceRequest,
    SimMarket,
)
from trader.domain import OrderType, Side

FAIR_PLACES = Decimal("0.0001")


class LiquidityEngine:
    def __init__(self, exchange: SimExchange, seed: int) -> None:
        self.exchange = exchange
        # seeded per market, so adding a market does not change the others' paths
        self._rng = {
            cid: random.Random(f"{seed}:{cid}")  # noqa: S311 - simulation, not secrets
            for cid in exchange.markets
        }

    def start(self) -> None:
        with self.exchange.operation():
            for market in self.exchange.markets.values():
                self.requote(market)

    def step(self, dt: float) -> None:
        """Advance every open market by `dt` seconds: walk, re-quote, maybe trade."""
        with self.exchange.operation():
            for market in self.exchange.markets.values():
                if market.closed:
                    continue
                self._walk(market, dt)
                self.requote(market)
                rng = self._rng[market.condition_id]
                if rng.random() < market.spec.flow_rate:
                    self._flow(market, rng)

    def jump(self, condition_id: str, fair: Decimal) -> None:
        """A sudden move of the fair price; the market maker re-quotes at once."""
        market = self.exchange.markets[condition_id]
        tick = market.tick_size
        market.fair = min(max(fair, tick), 1 - tick)
        with self.exchange.operation():
            self.requote(market)

    def requote(self, market: SimMarket) -> None:
        if market.closed:
            return
        desired = self._ladder(market)
        token = market.spec.tokens[0].token_id
        for order in [o for o in self.exchange.open.values() if o.owner == MARKET_MAKER]:
            if order.market != market.condition_id:
                continue
            key = (order.side, order.price)
            if desired.get(key) == order.remaining:
                del desired[key]
            else:
                self.exchange.withdraw(order.order_id)
        for (side, price), size in desired.items():
            self._place(token, side, price, size, OrderType.GTC, MARKET_MAKER)

    def _ladder(self, market: SimMarket) -> dict[tuple[Side, Decimal], Decimal]:
        spec, tick = market.spec, market.tick_size
        half = tick * spec.half_spread_ticks
        bid = ((market.fair - half) / tick).to_integral_value(ROUND_FLOOR) * tick
        ask = ((market.fair + half) / tick).to_integral_value(ROUND_CEILING) * tick
        if ask <= bid:
            ask = bid + tick
        ladder: dict[tuple[Side, Decimal], Decimal] = {}
        for level in range(spec.depth):
            size = (spec.level_size * (1 + Decimal(level) / 2)).quantize(Decimal("0.01"))
            level_bid, level_ask = bid - level * tick, ask + level * tick
            if tick <= level_bid <= 1 - tick:
                ladder[(Side.BUY, level_bid)] = size
            if tick <= level_ask <= 1 - tick:
                ladder[(Side.SELL, level_ask)] = size
        return ladder

    def _walk(self, market: SimMarket, dt: float) -> None:
        spec, tick = market.spec, float(market.tick_size)
        rng = self._rng[market.condition_id]
        p = min(max(float(market.fair), tick), 1 - tick)
        x = math.log(p / (1 - p))
        x += spec.drift * dt + spec.volatility * math.sqrt(max(dt, 0.0)) * rng.gauss(0.0, 1.0)
        p = 1 / (1 + math.exp(-x))
        p = min(max(p, tick), 1 - tick)
        market.fair = Decimal(str(p)).quantize(FAIR_PLACES)

    def _flow(self, market: SimMarket, rng: random.Random) -> None:
        side = Side.BUY if rng.random() < 0.5 else Side.SELL
        best = market.book.best(side.opposite)
        if best is None:
            return
        spec = market.spec
        low, high = float(spec.min_order_size), float(max(spec.flow_size, spec.min_order_size))
        size = Decimal(str(rng.uniform(low, high))).quantize(Decimal("0.01"))
        self._place(spec.tokens[0].token_id, side, best, size, OrderType.FAK, MARKET_FLOW)

    def _place(
        self, token: str, side: Side, price: Decimal, size: Decimal, kind: OrderType, owner: str
    ) -> None:
        request = PlaceRequest(
            order_id=self.exchange.new_order_id(),
            token_id=token,
            side=side,
            price=price,
            size=size,
            order_type=kind,
            owner=owner,
            address=SYNTHETIC_ADDRESSES[owner],
            collateral=price * size,
            synthetic=True,
        )
        try:
            self.exchange.place(request)
        except OrderRejected:
            return  # e.g. a fill-and-kill that found nothing: the market simply moved


__all__ = ["LiquidityEngine"]

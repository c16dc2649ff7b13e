"""Price history: what the simulator's markets traded at, served as the venue serves it.

Every market of the scenario has a past. From its `opened_at` (default: `LOOK_BACK` before the
scenario started) to the start, an hourly path is drawn once from the scenario's seed and the
market's condition id: a walk in log-odds that ends at the market's fair price (a market whose
`resolves_at` is already past when the scenario loads is a *past market*: its path ends near its
outcome, and it is resolved at once, closed at its `resolves_at`, so Gamma lists it closed with
`umaResolutionStatus: "resolved"` and its payouts as `outcomePrices`). From the start on, the
live mid of each market is recorded as the exchange publishes its events, at most one point a
`RECORD_EVERY_S` per token (the last of the bucket). NO is 1 - YES throughout.

Two endpoints, as production:

- CLOB `GET /prices-history?market=<token>&startTs=&endTs=` or `&interval=1h|6h|1d|1w|1m|max`,
  `&fidelity=<minutes>` -> `{"history": [{"t": unix s, "p": price}]}`.
- Data API `GET /data-api/v2/prices-history?token_id=&start=&end=` (end exclusive, at most 15
  days) or `&interval=` or `&as_of=`, `&bucket_seconds=`, `&limit=&cursor=` -> `{"data":
  [{"timestamp", "price", "resolution_seconds"}], "pagination": {"has_more", "next_cursor"}}`:
  what the official SDK's `list_price_history` reads.

Routes are registered by `add_routes(app, ctx)` from the app builder; the recorder listens to
the exchange (`SimExchange.listeners`).
"""

from __future__ import annotations

import bisect
import dataclasses
import hashlib
import math
import random
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal

from aiohttp import web

from polysim.clob.catalog import DATA
from polysim.clob.context import ApiError, SimContext, context
from polysim.clob.model import BookChanged, SimMarket, TradePrinted
from polysim.clob.wire import current_price

LOOK_BACK = timedelta(days=14)
RECORD_EVERY_S = 60
MAX_WINDOW_S = 15 * 86_400
INTERVALS = {"1h": 3600, "6h": 6 * 3600, "1d": 86_400, "1w": 7 * 86_400, "1m": 30 * 86_400}
CENT = Decimal("0.001")


class PriceHistory:
    """Per token, (unix second, price) oldest first."""

    def __init__(self, ctx: SimContext) -> None:
        self._ctx = ctx
        self.points: dict[str, list[tuple[int, Decimal]]] = {}
        started = ctx.scenario.started_at or ctx.clock.now()
        for market in ctx.exchange.markets.values():
            self._backfill(market, started, ctx.scenario.seed)
        self._resolve_past(started)
        ctx.exchange.listeners.append(self._on_events)

    def _backfill(self, market: SimMarket, started: datetime, seed: int) -> None:
        if market.spec.opened_at is None:  # Gamma's startDate says the same
            market.spec = dataclasses.replace(market.spec, opened_at=started - LOOK_BACK)
        spec = market.spec
        opened = spec.opened_at or started
        until = min(started, spec.resolves_at) if spec.resolves_at else started
        past = spec.resolves_at is not None and spec.resolves_at <= started
        target = float(spec.fair_price)
        if past and spec.outcome is not None:
            winner = [t.outcome for t in spec.tokens].index(spec.outcome)
            target = 0.96 if winner == 0 else 0.04
        digest = hashlib.sha256(f"{seed}:{spec.condition_id}".encode()).digest()
        rng = random.Random(int.from_bytes(digest[:8], "big"))  # noqa: S311 - simulation
        hours = max(1, int((until - opened).total_seconds() // 3600))
        goal = math.log(target / (1 - target))
        x = rng.uniform(-0.6, 0.6)
        yes, no = spec.token_ids
        self.points[yes], self.points[no] = [], []
        for hour in range(hours + 1):
            x += (goal - x) / max(1, hours - hour) + rng.gauss(0, 0.04) * (hour < hours)
            price = _clamp(Decimal(str(1 / (1 + math.exp(-x)))), market.tick_size)
            stamp = int((opened + timedelta(hours=hour)).timestamp())
            self._add(yes, stamp, price)
            self._add(no, stamp, 1 - price)

    def _resolve_past(self, started: datetime) -> None:
        for market in self._ctx.exchange.markets.values():
            due = market.spec.resolves_at
            if due is not None and due <= started and not market.closed:
                self._ctx.exchange.resolve(market.condition_id)
                market.closed_at = due

    def _on_events(self, events: Sequence[object]) -> None:
        touched = {e.market for e in events if isinstance(e, BookChanged | TradePrinted)}
        stamp = int(self._ctx.clock.now().timestamp())
        for condition_id in sorted(touched):
            market = self._ctx.exchange.markets.get(condition_id)
            if market is None or market.closed:
                continue
            for token in market.spec.token_ids:
                self._add(token, stamp, current_price(market, token))

    def _add(self, token: str, stamp: int, price: Decimal) -> None:
        series = self.points.setdefault(token, [])
        if series and series[-1][0] // RECORD_EVERY_S == stamp // RECORD_EVERY_S:
            series[-1] = (series[-1][0], price)  # one point a bucket: its last price
        elif not series or stamp > series[-1][0]:
            series.append((stamp, price))

    def window(
        self, token: str, start: int, end: int, bucket: int = 0
    ) -> list[tuple[int, Decimal]]:
        """Points with start <= t < end; with `bucket` seconds, the last point of each bucket."""
        series = self.points.get(token, [])
        stamps = [t for t, _ in series]
        chosen = series[bisect.bisect_left(stamps, start) : bisect.bisect_left(stamps, end)]
        if bucket <= 0:
            return chosen
        last: dict[int, tuple[int, Decimal]] = {}
        for t, p in chosen:  # stamped at its own time: a bucket's start would see ahead
            last[t // bucket] = (t, p)
        return [last[k] for k in sorted(last)]


HISTORY = web.AppKey("sim_price_history", PriceHistory)


def _clamp(price: Decimal, tick: Decimal) -> Decimal:
    return min(max(price.quantize(CENT), tick), 1 - tick)


def _history(request: web.Request) -> PriceHistory:
    return request.app[HISTORY]


def _int(request: web.Request, name: str) -> int | None:
    value = request.query.get(name)
    if value in (None, ""):
        return None
    try:
        return int(float(value))
    except ValueError:
        raise ApiError(400, f"invalid {name}") from None


def _range(request: web.Request, start_key: str, end_key: str) -> tuple[int, int]:
    now = int(context(request).now())
    start, end = _int(request, start_key), _int(request, end_key)
    interval = request.query.get("interval")
    if start is None and interval:
        if interval in ("max", "all"):
            return 0, now + 1
        if interval not in INTERVALS:
            raise ApiError(400, f"invalid interval {interval!r}")
        return now - INTERVALS[interval], now + 1
    if start is None:
        raise ApiError(400, f"{start_key} or interval is required")
    return start, end if end is not None else now + 1


async def clob_prices_history(request: web.Request) -> web.Response:
    token = request.query.get("market")
    if not token:
        raise ApiError(400, "market is required")
    start, end = _range(request, "startTs", "endTs")
    fidelity = _int(request, "fidelity") or 0
    points = _history(request).window(token, start, end + 1, fidelity * 60)
    return web.json_response({"history": [{"t": t, "p": float(p)} for t, p in points]})


async def data_prices_history(request: web.Request) -> web.Response:
    token = request.query.get("token_id")
    if not token:
        raise ApiError(400, "token_id is required")
    history = _history(request)
    as_of = _int(request, "as_of")
    if as_of is not None:
        before = history.window(token, 0, as_of + 1)
        rows = [(as_of, before[-1][1], 0)] if before else []
        return _page(rows, None)
    start, end = _range(request, "start", "end")
    if request.query.get("start") and end - start > MAX_WINDOW_S:
        raise ApiError(400, "price history windows must not exceed 15 days")
    bucket = _int(request, "bucket_seconds") or 0
    rows = [(t, p, bucket) for t, p in history.window(token, start, end, bucket)]
    limit = _int(request, "limit") or 10_000
    offset = _int(request, "cursor") or 0
    following = str(offset + limit) if offset + limit < len(rows) else None
    return _page(rows[offset : offset + limit], following)


def _page(rows: Sequence[tuple[int, Decimal, int]], following: str | None) -> web.Response:
    data = [{"timestamp": t, "price": str(p), "resolution_seconds": r} for t, p, r in rows]
    return web.json_response(
        {"data": data, "pagination": {"has_more": following is not None, "next_cursor": following}}
    )


def add_routes(app: web.Application, ctx: SimContext) -> None:
    app[HISTORY] = PriceHistory(ctx)
    app.router.add_get("/prices-history", clob_prices_history)
    app.router.add_get(f"{DATA}/v2/prices-history", data_prices_history)


__all__ = ["LOOK_BACK", "PriceHistory", "add_routes"]

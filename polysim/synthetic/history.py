"""A deterministic synthetic trading history, written straight into the tables.

For the example images (`python -m polysim.examples`), the report benchmark and the
365-day report tests: markets, forecasts (the older ones resolved, the model slightly better
calibrated than the market), buys and later sells, the positions they leave open, equity
snapshots with a drawdown and an outage, LLM usage by model, alerts, restarts, one pending
approval and one reconciliation difference. Nothing here runs at import.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from trader.domain import ZERO, Fill, Side
from trader.execution.ledger import replay
from trader.store.tables import (
    AlertRow,
    ApprovalRow,
    Base,
    ControlStateRow,
    EquitySnapshotRow,
    EventLogRow,
    FillRow,
    ForecastRow,
    HeartbeatRow,
    LlmUsageRow,
    MarketRow,
    PositionRow,
    table_of,
)

CENT = Decimal("0.01")
QUESTIONS = (
    "Will the Federal Reserve cut interest rates at its next FOMC meeting?",
    "Will Bitcoin close above $150,000 on the last day of the quarter?",
    "Will the incumbent win the Brazilian presidential election in the first round?",
    "Will a Category 5 hurricane make landfall in the United States this season?",
    "Will the S&P 500 end the year higher than it started?",
    "Will SpaceX land humans on Mars before 2030?",
    "Will the UK hold a general election before the end of the year?",
    "Will Ethereum's price double within twelve months?",
    "Will the next iPhone launch include a foldable model?",
    "Will inflation in the euro area fall below 2% by December?",
    "Will the Lakers make the NBA playoffs?",
    "Will global average temperature set a new annual record?",
    "Will OpenAI release a new frontier model before July?",
    "Will the price of gold exceed $3,000 an ounce this year?",
)
MODELS = (
    ("claude-haiku-4-5", "triage", Decimal("0.0011")),
    ("claude-sonnet-4-6", "analysis", Decimal("0.019")),
)


@dataclass
class SyntheticHistory:
    """What was written, for assertions and captions."""

    end: datetime
    days: int
    snapshots: int = 0
    fills: int = 0
    forecasts: int = 0
    llm_rows: int = 0
    open_positions: int = 0
    tokens: list[str] = field(default_factory=list)


def _price(value: float) -> Decimal:
    return Decimal(str(min(0.97, max(0.03, value)))).quantize(CENT)


async def _insert(session: AsyncSession, row_class: type[Base], rows: list[dict[str, Any]]) -> None:
    for offset in range(0, len(rows), 2000):
        await session.execute(insert(table_of(row_class)), rows[offset : offset + 2000])


async def seed_history(
    sessions: async_sessionmaker[AsyncSession],
    *,
    end: datetime,
    days: int,
    seed: int = 7,
    snapshot_every: timedelta = timedelta(hours=1),
) -> SyntheticHistory:
    """Write `days` days of history ending at `end` (aware UTC) into a migrated database."""
    rng = random.Random(seed)  # noqa: S311 - synthetic data, not cryptography
    start = end - timedelta(days=days)
    history = SyntheticHistory(end=end, days=days)
    markets = _markets(rng, end)
    history.tokens = [m["tokens"][0]["token_id"] for m in markets]
    forecasts, fills = _trading(rng, markets, start, end)
    positions, _ = replay(fills)
    equity = _equity(rng, start, end, snapshot_every)
    usage = _llm(rng, start, end)
    history.snapshots, history.fills, history.forecasts = len(equity), len(fills), len(forecasts)
    history.llm_rows = len(usage)
    open_rows = [_position_row(p, end) for p in positions.values() if p.size > ZERO]
    history.open_positions = len(open_rows)
    async with sessions.begin() as session:
        await _insert(session, MarketRow, markets)
        await _insert(session, ForecastRow, forecasts)
        await _insert(session, FillRow, [_fill_row(f) for f in fills])
        await _insert(session, PositionRow, open_rows)
        await _insert(session, EquitySnapshotRow, equity)
        await _insert(session, LlmUsageRow, usage)
        await _insert(session, AlertRow, _alerts(rng, start, end))
        await _insert(session, EventLogRow, _events(rng, start, end))
        await _insert(session, ApprovalRow, [_approval(markets[0], end)])
        await _insert(session, ControlStateRow, [_running(end)])
        await _insert(session, HeartbeatRow, [_heartbeat(end)])
    return history


def _markets(rng: random.Random, end: datetime) -> list[dict[str, Any]]:
    return [
        {
            "condition_id": f"0xmarket{index:02d}",
            "question": question,
            "updated_at": end,
            "tokens": [
                {"token_id": f"tok{index:02d}y", "outcome": "Yes"},
                {"token_id": f"tok{index:02d}n", "outcome": "No"},
            ],
            "end_date": end + timedelta(days=rng.randint(5, 200)),
        }
        for index, question in enumerate(QUESTIONS)
    ]


def _trading(
    rng: random.Random, markets: list[dict[str, Any]], start: datetime, end: datetime
) -> tuple[list[dict[str, Any]], list[Fill]]:
    """Forecasts every day; a buy when the model sees an edge; a sell a few days later."""
    forecasts: list[dict[str, Any]] = []
    fills: list[Fill] = []
    day = start
    n = 0
    while day < end:
        for _ in range(rng.randint(3, 8)):
            market = rng.choice(markets)
            token = market["tokens"][0]["token_id"]
            truth = rng.random()
            market_p = _price(truth + rng.gauss(0, 0.16))
            model_p = _price(truth + rng.gauss(0, 0.11))
            at = day + timedelta(minutes=rng.randint(0, 1439))
            if at >= end:
                continue
            resolved_at = at + timedelta(days=rng.randint(2, 20))
            resolved = resolved_at < end
            outcome = Decimal(1) if rng.random() < truth else Decimal(0)
            forecasts.append(
                {
                    "market": market["condition_id"],
                    "token_id": token,
                    "model_probability": model_p,
                    "market_price": market_p,
                    "model": "ensemble",
                    "source": "ensemble",
                    "created_at": at,
                    "resolved_outcome": outcome if resolved else None,
                    "resolved_at": resolved_at if resolved else None,
                    "sources": [],
                }
            )
            if model_p - market_p < Decimal("0.05"):
                continue
            n += 1
            size = Decimal(rng.randint(10, 60))
            fee = (market_p * size * Decimal("0.002")).quantize(CENT)
            fills.append(_fill(f"b{n}", token, market, Side.BUY, market_p, size, fee, at))
            sold_at = at + timedelta(hours=rng.randint(6, 120))
            if sold_at < end and rng.random() < 0.8:
                exit_p = _price(float(market_p) + rng.gauss(0.02, 0.08))
                fills.append(_fill(f"s{n}", token, market, Side.SELL, exit_p, size, ZERO, sold_at))
        day += timedelta(days=1)
    fills.sort(key=lambda f: f.timestamp)
    return forecasts, fills


def _fill(
    trade: str,
    token: str,
    market: dict[str, Any],
    side: Side,
    price: Decimal,
    size: Decimal,
    fee: Decimal,
    at: datetime,
) -> Fill:
    return Fill(trade, f"o-{trade}", token, side, price, size, fee, at, market["condition_id"])


def _fill_row(fill: Fill) -> dict[str, Any]:
    return {
        "trade_id": fill.trade_id,
        "order_id": fill.order_id,
        "token_id": fill.token_id,
        "side": fill.side.value,
        "price": fill.price,
        "size": fill.size,
        "fee": fill.fee,
        "ts": fill.timestamp,
        "market": fill.market,
    }


def _position_row(position: Any, end: datetime) -> dict[str, Any]:
    return {
        "token_id": position.token_id,
        "size": position.size,
        "average_price": position.average_price.quantize(Decimal("0.0001")),
        "updated_at": end,
        "market": position.market,
        "outcome": "Yes",
        "realized_pnl": position.realized_pnl.quantize(CENT),
    }


def _equity(
    rng: random.Random, start: datetime, end: datetime, every: timedelta
) -> list[dict[str, Any]]:
    """A random walk drifting up about $1.50 a day, one drawdown of about $120 a third of
    the way in, and a two-hour outage (no snapshots) ten hours before the end."""
    rows: list[dict[str, Any]] = []
    equity, peak = 1000.0, 1000.0
    outage = (end - timedelta(hours=10), end - timedelta(hours=8))
    per_day = timedelta(days=1) / every
    days = max(1.0, (end - start) / timedelta(days=1))
    slump = (start + (end - start) * 0.33, start + (end - start) * 0.40)
    slump_drift = -120 / max(1.0, 0.07 * days)
    at = start
    while at < end:
        drift = slump_drift if slump[0] <= at < slump[1] else 1.5
        equity = max(100.0, equity + drift / per_day + rng.gauss(0, 8 / per_day**0.5))
        peak = max(peak, equity)
        if not outage[0] <= at < outage[1]:
            value = Decimal(str(round(equity, 2)))
            rows.append(
                {
                    "ts": at,
                    "equity": value,
                    "cash": (value * Decimal("0.7")).quantize(CENT),
                    "exposure": (value * Decimal("0.3")).quantize(CENT),
                    "drawdown": Decimal(str(round(1 - equity / peak, 4))),
                }
            )
        at += every
    return rows


def _llm(rng: random.Random, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """One row per model every two hours (each standing for a batch of calls)."""
    rows: list[dict[str, Any]] = []
    at = start
    while at < end:
        for model, purpose, unit in MODELS:
            calls = rng.randint(1, 6)
            rows.append(
                {
                    "ts": at + timedelta(minutes=rng.randint(0, 119)),
                    "model": model,
                    "purpose": purpose,
                    "input_tokens": calls * rng.randint(900, 2500),
                    "output_tokens": calls * rng.randint(80, 400),
                    "cost": (unit * calls * Decimal(str(round(rng.uniform(0.6, 1.6), 2)))).quantize(
                        Decimal("0.000001")
                    ),
                    "ok": rng.random() > 0.02,
                }
            )
        at += timedelta(hours=2)
    return [row for row in rows if row["ts"] < end]


def _alerts(rng: random.Random, start: datetime, end: datetime) -> list[dict[str, Any]]:
    kinds = (
        ("feed_stale", "warning", "Market feed stale for 45 s"),
        ("order_filled", "info", "Filled BUY 25 @ 0.42"),
        ("venue_errors", "critical", "Venue errors: 5 in 60 s"),
    )
    rows = []
    days = max(1, (end - start).days)
    for _ in range(days * 2):
        kind, severity, title = rng.choice(kinds)
        at = start + timedelta(seconds=rng.randint(0, days * 86_400 - 1))
        rows.append(
            {"kind": kind, "severity": severity, "title": title, "created_at": at, "delivered": {}}
        )
    return rows


def _events(rng: random.Random, start: datetime, end: datetime) -> list[dict[str, Any]]:
    rows = [
        {
            "ts": start + timedelta(days=d, hours=rng.randint(0, 23)),
            "type": "startup",
            "actor": "system:trader",
            "payload": {"version": "0.1.0"},
        }
        for d in range(0, max(1, (end - start).days), 11)
    ]
    rows.append(
        {
            "ts": end - timedelta(hours=8),
            "type": "startup",
            "actor": "system:trader",
            "payload": {"version": "0.1.0"},
        }
    )
    rows.append(
        {
            "ts": end - timedelta(hours=3),
            "type": "reconcile_correction",
            "actor": "system:trader",
            "payload": {"kind": "set_position", "detail": "tok03y: local 40, venue 35"},
        }
    )
    return rows


def _approval(market: dict[str, Any], end: datetime) -> dict[str, Any]:
    intent = {
        "market": market["condition_id"],
        "token_id": market["tokens"][0]["token_id"],
        "side": "BUY",
        "limit_price": "0.41",
        "correlation_id": "synthetic",
    }
    return {
        "request_key": "ap-synthetic",
        "created_at": end - timedelta(minutes=5),
        "expires_at": end + timedelta(days=2),
        "payload": {"intent": intent, "size": "61", "notional": "25.01"},
        "message_refs": [],
    }


def _running(end: datetime) -> dict[str, Any]:
    return {
        "key": "trading_state",
        "updated_at": end,
        "value": {"state": "RUNNING", "reason": "", "by": "system:trader", "at": end.isoformat()},
    }


def _heartbeat(end: datetime) -> dict[str, Any]:
    return {
        "component": "trader",
        "ts": end,
        "pid": 1,
        "version": "0.1.0",
        "trading_state": "RUNNING",
        "details": {},
    }

"""A hand-filled day of trading rows for the report tests: 8 March 2026 in New York.

Clocks spring forward that day, so the operator's "yesterday" (seen at `NOW`, 07:00 on the 9th)
is 23 hours long, `START` 05:00 to `END` 04:00 UTC. `fill_one_day` writes the rows; the figures
`tests/integration/test_report_build.py` checks were computed by hand from them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

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
)

Sessions = async_sessionmaker[AsyncSession]
NEW_YORK = ZoneInfo("America/New_York")
NOW = datetime(2026, 3, 9, 11, tzinfo=UTC)  # 07:00 EDT on the 9th
DAY = date(2026, 3, 8)
START = datetime(2026, 3, 8, 5, tzinfo=UTC)  # 00:00 EST
END = datetime(2026, 3, 9, 4, tzinfo=UTC)  # 00:00 EDT
D = Decimal


def at(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def fill(trade: str, token: str, side: str, price: str, size: int, when: datetime, fee: str = "0"):
    market = "m" + token[1]
    return FillRow(
        trade_id=trade,
        order_id=f"o{trade}",
        token_id=token,
        side=side,
        price=D(price),
        size=D(size),
        ts=when,
        fee=D(fee),
        market=market,
    )


def forecast(token: str, model: str, market: str | None, created: datetime, **resolved: object):
    return ForecastRow(
        market="m" + token[1],
        token_id=token,
        model_probability=D(model),
        model="ensemble",
        source="ensemble",
        created_at=created,
        market_price=None if market is None else D(market),
        **resolved,  # type: ignore[arg-type]
    )


def usage(
    model: str, when: datetime, cost: str, ok: bool = True, tokens: tuple[int, ...] = (0, 0, 0)
):
    return LlmUsageRow(
        ts=when,
        model=model,
        purpose="analysis",
        input_tokens=tokens[0],
        output_tokens=tokens[1],
        cache_read_tokens=tokens[2],
        cost=D(cost),
        ok=ok,
    )


def snapshots() -> list[EquitySnapshotRow]:
    rows = [
        EquitySnapshotRow(ts=at(3, 7, 4), equity=D(1000), cash=D(1000)),
        EquitySnapshotRow(ts=at(3, 8, 4, 50), equity=D(1010), cash=D(1000)),  # 23:50 EST, 7th
    ]
    for step in range(138):  # every 10 minutes through the 23-hour day ...
        when = START + timedelta(minutes=10 * step)
        if at(3, 8, 10) <= when < at(3, 8, 12):  # ... but not for two hours: an outage
            continue
        last = step == 137
        rows.append(
            EquitySnapshotRow(
                ts=when,
                equity=D("1025.50") if last else D(1020),
                cash=D(900),
                exposure=D("42.50"),
                drawdown=D("0.02") if last else D(0),
            )
        )
    return rows


def one_day_rows() -> list[Base]:
    markets = [
        MarketRow(
            condition_id="m1", question="Will it rain in New York on Sunday?", updated_at=NOW
        ),
        MarketRow(condition_id="m2", question="Will the home team win the derby?", updated_at=NOW),
        MarketRow(condition_id="m3", question="Will the mayor sign the bill?", updated_at=NOW),
    ]
    fills = [
        fill("a", "t1y", "BUY", "0.40", 100, at(3, 7, 15)),
        fill("b", "t2y", "BUY", "0.20", 10, at(3, 8, 4, 30)),  # 23:30 EST on the 7th: not in
        fill("c", "t2y", "BUY", "0.30", 50, at(3, 8, 6), fee="0.10"),
        fill("d", "t3y", "BUY", "0.50", 10, at(3, 8, 12)),  # no forecast for t3y
        fill("e", "t1y", "SELL", "0.50", 60, at(3, 8, 20)),  # realizes (0.50 - 0.40) x 60
        fill("f", "t1y", "BUY", "0.45", 20, at(3, 9, 4, 30)),  # 00:30 EDT on the 9th: not in
        fill("g", "t4y", "BUY", "0.60", 10, at(3, 1, 12)),
        fill("h", "t4y", "SELL", "0.50", 10, at(3, 2, 12)),  # a loss in the 30 days
        fill("i", "t5y", "BUY", "0.10", 10, at(1, 10, 12)),
        fill("j", "t5y", "SELL", "0.20", 10, at(1, 11, 12)),  # a win, too long ago
    ]
    forecasts = [
        forecast("t2y", "0.10", "0.15", at(3, 1, 0)),  # superseded
        forecast("t2y", "0.42", "0.31", at(3, 8, 5, 30)),  # for fill c: (0.42-0.30)x50-0.10
        forecast("t1y", "0.60", "0.55", at(3, 8, 10)),  # t1y's mark
        forecast("t6y", "0.8", "0.6", at(3, 1, 0), resolved_outcome=D(1), resolved_at=at(3, 8, 12)),
        forecast("t6n", "0.3", "0.5", at(3, 1, 0), resolved_outcome=D(0), resolved_at=at(3, 5, 0)),
        forecast("t7y", "0.9", None, at(3, 1, 0), resolved_outcome=D(0), resolved_at=at(3, 8, 13)),
    ]
    positions = [
        PositionRow(
            token_id="t1y",
            size=D(40),
            average_price=D("0.40"),
            updated_at=NOW,
            market="m1",
            outcome="Yes",
        ),
        PositionRow(
            token_id="t2y",
            size=D(50),
            average_price=D("0.302"),
            updated_at=NOW,
            market="m2",
            outcome="Yes",
        ),
        PositionRow(
            token_id="t3y",
            size=D(10),
            average_price=D("0.50"),
            updated_at=NOW,
            market="m3",
            outcome="Yes",
        ),
        PositionRow(token_id="t9y", size=D(0), average_price=D(0), updated_at=NOW, market="m1"),
    ]
    llm = [
        usage("claude-haiku-4-5", at(3, 8, 6), "0.0011", tokens=(1000, 100, 0)),
        usage("claude-haiku-4-5", at(3, 8, 7), "0.0011", tokens=(1000, 100, 0)),
        usage("claude-haiku-4-5", at(3, 8, 8), "0.0011", tokens=(1000, 100, 0)),
        usage("claude-haiku-4-5", at(3, 8, 9), "0", ok=False),
        usage("claude-sonnet-4-6", at(3, 8, 9), "0.0190", tokens=(3000, 500, 1000)),
        usage("claude-sonnet-4-6", at(3, 8, 22), "0.0210", tokens=(3000, 500, 1000)),
        usage("claude-sonnet-4-6", at(3, 9, 4, 30), "1.00"),  # the next day
    ]
    alerts = [
        AlertRow(
            kind="auto_halt",
            severity="critical",
            title="Trading HALTED: venue errors",
            created_at=at(3, 8, 14),
        ),
        AlertRow(kind="feed", severity="warning", title="Feed stale", created_at=at(3, 8, 6)),
        AlertRow(kind="feed", severity="warning", title="Feed stale", created_at=at(3, 8, 7)),
        AlertRow(kind="fill", severity="info", title="Filled", created_at=at(3, 8, 8)),
        AlertRow(kind="fill", severity="info", title="Filled", created_at=at(3, 8, 4)),  # the 7th
    ]
    events = [
        EventLogRow(ts=at(3, 8, 12), type="startup", actor="system:trader"),
        EventLogRow(
            ts=at(3, 8, 15), type="reconciled", actor="system:trader", payload={"corrections": {}}
        ),
        EventLogRow(
            ts=at(3, 9, 8),
            type="reconcile_correction",
            actor="system:trader",
            payload={"kind": "set_position", "detail": "t1y: local 40, venue 35"},
        ),
        EventLogRow(
            ts=at(3, 1, 8),
            type="reconcile_correction",
            actor="system:trader",
            payload={"detail": "old"},
        ),
    ]
    intent = {"market": "m2", "side": "BUY", "limit_price": "0.41"}
    approvals = [
        ApprovalRow(
            request_key="ap-1",
            created_at=at(3, 9, 10),
            expires_at=at(3, 9, 12),
            payload={"intent": intent, "notional": "25"},
        ),
        ApprovalRow(
            request_key="ap-2",
            created_at=at(3, 9, 9),
            expires_at=at(3, 9, 10),
            payload={"intent": intent, "notional": "30"},
        ),  # expired before now
        ApprovalRow(
            request_key="ap-3",
            created_at=at(3, 9, 9),
            expires_at=at(3, 9, 12),
            payload={"intent": intent},
            status="approved",
        ),
    ]
    state = [
        ControlStateRow(
            key="trading_state", updated_at=NOW, value={"state": "PAUSED", "reason": "lunch"}
        ),
        ControlStateRow(key="risk_limits", updated_at=NOW, value={"reduced_drawdown": "0.015"}),
    ]
    beats = [
        HeartbeatRow(
            component="trader",
            ts=NOW - timedelta(seconds=30),
            pid=1,
            version="t",
            trading_state="PAUSED",
        ),
        HeartbeatRow(
            component="watchdog",
            ts=NOW - timedelta(hours=1),
            pid=2,
            version="t",
            trading_state="PAUSED",
        ),
    ]
    return [
        *markets,
        *fills,
        *forecasts,
        *positions,
        *snapshots(),
        *llm,
        *alerts,
        *events,
        *approvals,
        *state,
        *beats,
    ]


async def fill_one_day(sessions: Sessions) -> None:
    async with sessions.begin() as session:
        session.add_all(one_day_rows())

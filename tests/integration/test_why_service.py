"""`WhyService` on a real database (both backends): every kind of reference finds the same
chain, the last decision and the last denials are found, and a reference that fits nothing (or
fits several markets) says so. `trader why` prints the same text as the chat."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.render import why as render_why
from bot.render.common import RenderContext
from trader.clock import FakeClock
from trader.explain import WhyService
from trader.explain.command import why_command
from trader.store.eventlog import EventLog
from trader.store.tables import ApprovalRow, ForecastRow, MarketRow, OrderRow, PositionRow

T0 = datetime(2026, 3, 9, 14, 0, tzinfo=UTC)
FED, RAIN = "0xfed", "0xrain"
CORR, CYCLE, DENIED = "a1" * 16, "c7" * 16, "d3" * 16
ORDER = "0x" + "9e" * 32
NEWS = "Fed officials signal support for a rate cut"

UTC_RENDER = RenderContext(UTC)


async def record_day(sessions: async_sessionmaker[AsyncSession]) -> None:
    """An approved Fed buy that filled, then a denied intent on the rain market."""
    clock = FakeClock(T0)
    log = EventLog(sessions, clock)
    add = log.append
    add("signal_cycle_started", {"analyser": "llm (model)"}, correlation_id=CYCLE)
    add(
        "market_analysed",
        {
            "cycle": CYCLE,
            "market": FED,
            "question": "Will the Fed cut rates?",
            "news": [{"title": NEWS, "source": "wire", "published": T0, "relevance": 0.7}],
            "screen": {"analyse": True, "reason": "1 relevant news item(s)"},
            "analysis": "LLM ensemble: 3/3 samples",
            "forecast": {
                "samples": [D("0.85"), D("0.84"), D("0.86")],
                "raw_median": D("0.85"),
                "market_probability": D("0.62"),
                "shrinkage": D("0.25"),
                "model_probability": D("0.7925"),
            },
            "sizing": {
                "outcome": "Yes",
                "edge": D("0.16"),
                "kelly_stake": D(900),
                "max_notional": D(40),
                "target": D(40),
                "bound": "max_notional",
                "held_value": D(0),
                "bankroll": D(10000),
                "kelly_fraction": D("0.25"),
            },
            "decision": "trade",
            "reason": "buy Yes",
        },
        correlation_id=CORR,
    )
    add("signal_group_published", {"cycle": CYCLE, "strategy": "llm_edge"}, correlation_id=CORR)
    add("signal_cycle_completed", {}, correlation_id=CYCLE)
    intent: dict[str, Any] = {
        "market": FED,
        "token_id": "fed-yes",
        "side": "BUY",
        "strategy": "llm_edge",
        "notional": D(40),
        "limit_price": D("0.63"),
    }
    add("intent_received", intent, correlation_id=CORR)
    add("risk_passed", {"checks": ["trading_state"], "size": D(63)}, correlation_id=CORR)
    add("approval_requested", {"key": "ap-7", "size": D(63)}, correlation_id=CORR)
    clock.advance(30)
    add(
        "approval_approved",
        {"key": "ap-7", "size": None},
        correlation_id=CORR,
        actor="telegram:1001",
    )
    add("intent_received", intent | {"approved_by": "telegram:1001"}, correlation_id=CORR)
    add("risk_passed", {"checks": ["trading_state"], "size": D(63)}, correlation_id=CORR)
    add("order_created", {"order_id": ORDER}, correlation_id=CORR)
    add(
        "order_submitted",
        {"order_id": ORDER, "status": "MATCHED", "filled": D(63)},
        correlation_id=CORR,
    )
    add(
        "fill",
        {
            "order_id": ORDER,
            "side": "BUY",
            "price": D("0.63"),
            "size": D(63),
            "fee": D(0),
            "position": D(63),
            "realized": D(0),
        },
        correlation_id=CORR,
    )
    clock.advance(60)
    add(
        "intent_received",
        {"market": RAIN, "side": "BUY", "strategy": "llm_edge"},
        correlation_id=DENIED,
    )
    add(
        "intent_denied",
        {
            "rule": "max_exposure",
            "message": "total exposure would be 1100",
            "market": RAIN,
            "side": "BUY",
        },
        correlation_id=DENIED,
    )
    await log.close()
    async with sessions.begin() as session:
        session.add_all(
            [
                MarketRow(
                    condition_id=FED,
                    question="Will the Fed cut rates?",
                    updated_at=T0,
                    tokens=[{"token_id": "fed-yes", "outcome": "Yes"}],
                ),
                MarketRow(
                    condition_id=RAIN, question="Will it rain in Paris on Friday?", updated_at=T0
                ),
                OrderRow(
                    client_order_id="po-fed-1",
                    market=FED,
                    token_id="fed-yes",
                    side="BUY",
                    price=D("0.63"),
                    size=D(63),
                    status="MATCHED",
                    created_at=T0,
                    updated_at=T0,
                    venue_order_id=ORDER,
                    size_matched=D(63),
                    order_type="FAK",
                    strategy="llm_edge",
                    correlation_id=CORR,
                ),
                ApprovalRow(
                    request_key="ap-7",
                    created_at=T0,
                    expires_at=T0 + timedelta(minutes=10),
                    payload={"size": "63", "notional": "40"},
                    status="approved",
                    correlation_id=CORR,
                    decided_by="telegram:1001",
                    decided_at=T0 + timedelta(seconds=30),
                ),
                ForecastRow(
                    market=FED,
                    token_id="fed-yes",
                    model_probability=D("0.7925"),
                    model="model",
                    source="llm",
                    created_at=T0,
                    market_price=D("0.62"),
                    correlation_id=CORR,
                    decision="trade",
                ),
                PositionRow(
                    token_id="fed-yes",
                    size=D(63),
                    average_price=D("0.63"),
                    updated_at=T0,
                    market=FED,
                ),
            ]
        )


@pytest.fixture
async def why(sessions: async_sessionmaker[AsyncSession]) -> WhyService:
    await record_day(sessions)
    return WhyService(sessions, EventLog(sessions, FakeClock(T0)))


@pytest.mark.parametrize(
    "ref",
    ["ap-7", ORDER, ORDER[:16], "po-fed-1", CORR, CORR[:8], FED, "fed cut", "  Fed Cut  "],
)
async def test_every_kind_of_reference_finds_the_same_complete_chain(
    why: WhyService, ref: str
) -> None:
    chain = await why.explain(ref)

    assert chain.correlation_id == CORR
    assert chain.missing == ()
    assert chain.question == "Will the Fed cut rates?"
    assert chain.outcome == "Yes"
    assert chain.cycle is not None
    assert chain.approval is not None
    assert (chain.approval.status, chain.approval.decided_by) == ("approved", "telegram:1001")
    assert [f.size for f in chain.fills] == [D(63)]
    assert chain.later is not None
    assert chain.later.position_now == D(63)


async def test_the_last_decision_and_the_last_denials(why: WhyService) -> None:
    last = await why.explain(None)
    denials = await why.denials(5)

    assert last.correlation_id == DENIED
    assert last.risk is not None
    assert last.risk.rule == "max_exposure"
    assert [(d.rule, d.question) for d in denials] == [
        ("max_exposure", "Will it rain in Paris on Friday?")
    ]


@pytest.mark.parametrize(
    ("ref", "says"),
    [
        ("0xnothing-at-all", "nothing recorded"),
        ("ap-unknown", "no approval request ap-unknown"),
        ("Will", "several markets match"),
    ],
)
async def test_a_reference_that_fits_nothing_or_too_much_says_so(
    why: WhyService, ref: str, says: str
) -> None:
    with pytest.raises(LookupError, match=says):
        await why.explain(ref)


async def test_trader_why_prints_the_text_the_chat_shows(
    migrated_database_url: str, why: WhyService
) -> None:
    out = io.StringIO()
    code = await asyncio.to_thread(why_command, migrated_database_url, "ap-7", stdout=out)

    assert code == 0
    assert out.getvalue() == render_why.chain_text(await why.explain("ap-7"), UTC_RENDER) + "\n"
    assert NEWS in out.getvalue()
    missing = io.StringIO()
    assert await asyncio.to_thread(why_command, migrated_database_url, "ap-x", stdout=missing) == 1


async def test_an_empty_log_has_no_last_decision(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    service = WhyService(sessions, EventLog(sessions, FakeClock(T0)))

    with pytest.raises(LookupError, match="no decision is recorded yet"):
        await service.explain(None)

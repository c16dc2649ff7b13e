"""The /why reconstruction (trader/explain/chain.py) and its phone-sized text: every step from
its own record, and a step whose record is absent shown as missing, never filled in."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from typing import Any

from bot.render import why as render_why
from bot.render.common import RenderContext
from trader.control import wire
from trader.control.why import DecisionChain
from trader.explain.chain import (
    ChainRecords,
    StoredApproval,
    StoredForecast,
    StoredOrder,
    reconstruct,
)
from trader.store.eventlog import Event

T0 = datetime(2026, 3, 9, 14, 0, tzinfo=UTC)
CORR, CYCLE, MARKET, YES = "c0ffee" * 5 + "ab", "cyc1e" * 6 + "00", "0xmarket", "tok-yes"
ORDER = "0x" + "ab" * 32
NEWS = "Fed officials signal support for a rate cut at the next meeting"

UTC_RENDER = RenderContext(UTC)


class Log:
    def __init__(self) -> None:
        self.events: list[Event] = []

    def add(
        self,
        type: str,
        payload: dict[str, Any],
        *,
        corr: str = CORR,
        actor: str = "system",
        at: int = 0,
    ) -> Event:
        event = Event(len(self.events) + 1, T0 + timedelta(seconds=at), type, actor, corr, payload)
        self.events.append(event)
        return event


def analysed(**changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "cycle": CYCLE,
        "market": MARKET,
        "question": "Will the Fed cut rates at its next meeting?",
        "news": [
            {
                "title": NEWS,
                "source": "wire",
                "published": "2026-03-09T13:40:00+00:00",
                "relevance": 0.61,
            }
        ],
        "screen": {"analyse": True, "reason": "new news since the last analysis"},
        "analysis": "LLM ensemble: 3/3 samples",
        "forecast": {
            "source": "llm",
            "samples": ["0.85", "0.83", "0.86"],
            "raw_median": "0.85",
            "market_probability": "0.62",
            "model_weight": "0.15",
            "model_probability": "0.7925",
            "dispersion": "0.03",
        },
        "sizing": {
            "outcome": "Yes",
            "edge": "0.1525",
            "edge_average": "0.1402",
            "bankroll": "10000",
            "kelly_fraction": "0.25",
            "kelly_stake": "1003.29",
            "held_value": "0",
            "max_notional": "50",
            "target": "50",
            "bound": "max_notional",
            "shares": "77.88",
            "notional": "49.99",
            "limit_price": "0.65",
            "average_price": "0.6419",
        },
        "decision": "trade",
        "reason": "buy Yes",
    }
    return payload | changes


def intent(approved_by: str | None = None) -> dict[str, Any]:
    return {
        "market": MARKET,
        "token_id": YES,
        "side": "BUY",
        "limit_price": "0.65",
        "size": None,
        "notional": "49.99",
        "strategy": "llm_edge",
        "reason": "llm view 0.7925 vs market 0.62: buy Yes",
        "approved_by": approved_by,
        "model_probability": "0.7925",
        "market_probability": "0.62",
    }


def order_row(**changes: Any) -> StoredOrder:
    values: dict[str, Any] = {
        "order_id": ORDER,
        "client_order_id": "po-1",
        "market": MARKET,
        "token_id": YES,
        "side": "BUY",
        "price": D("0.65"),
        "size": D("77.88"),
        "status": "MATCHED",
        "created_at": T0 + timedelta(seconds=3),
        "order_type": "FAK",
        "size_matched": D("77.88"),
        "strategy": "llm_edge",
        "correlation_id": CORR,
    }
    return StoredOrder(**(values | changes))


def full_log() -> tuple[Log, list[Event]]:
    log, cycle = Log(), Log()
    cycle.add("signal_cycle_started", {"analyser": "llm (claude-sonnet-4-6)"}, corr=CYCLE)
    cycle.add("signal_cycle_completed", {"duration_s": 1.5}, corr=CYCLE, at=2)
    log.add("market_analysed", analysed(), at=1)
    log.add("signal_group_published", {"cycle": CYCLE, "strategy": "llm_edge"}, at=1)
    log.add("intent_received", intent(), at=2)
    log.add(
        "risk_passed",
        {
            "size": "77.88",
            "notional": "49.99",
            "fee": "0.12",
            "drawdown_mode": "full",
            "checks": ["trading_state", "min_edge", "max_exposure"],
        },
        at=2,
    )
    log.add("order_created", {"order_id": ORDER}, at=3)
    log.add("order_submitted", {"order_id": ORDER, "status": "MATCHED", "filled": "77.88"}, at=3)
    log.add(
        "fill",
        {
            "order_id": ORDER,
            "side": "BUY",
            "price": "0.64",
            "size": "77.88",
            "fee": "0.12",
            "position": "77.88",
            "realized": "0",
        },
        at=3,
    )
    return log, cycle.events


def complete_records() -> ChainRecords:
    """Every record of one traded decision, as the service would gather them."""
    log, cycle = full_log()
    return ChainRecords(
        "last",
        CORR,
        log.events,
        cycle,
        [order_row()],
        question="Will the Fed cut rates?",
        outcomes={YES: "Yes"},
        position=(D("77.88"), D(0)),
    )


def test_a_complete_chain_has_every_step_and_nothing_missing() -> None:
    chain = reconstruct(complete_records())
    text = render_why.chain_text(chain, UTC_RENDER)

    assert chain.missing == ()
    assert chain.cycle is not None
    assert chain.cycle.started_at == T0
    assert chain.analysis is not None
    assert [n.title for n in chain.analysis.news] == [NEWS]
    assert chain.analysis.samples == (D("0.85"), D("0.83"), D("0.86"))
    assert chain.sizing is not None
    assert chain.sizing.bound == "max_notional"
    assert chain.risk is not None
    assert chain.risk.passed
    assert [f.size for f in chain.fills] == [D("77.88")]
    assert "Why: BUY Will the Fed cut rates? — Yes" in text
    assert NEWS in text
    assert "Samples: 0.85, 0.83, 0.86 → 0.85" in text
    assert "Blend: model 0.85 at 15% with market 0.62 in log-odds = 0.7925" in text
    assert "Edge after fees: +0.1525/share" in text
    assert "cap $50.00 → target $50.00; bound by the max order notional cap" in text
    assert "Risk: passed 3 checks" in text
    assert "Approval: none asked" in text
    assert f"Order {ORDER[:12]}: BUY 77.88 @ 0.65 FAK → MATCHED, filled 77.88" in text
    assert "BUY 77.88 @ 0.64, fee $0.12 → position 77.88" in text
    assert "missing" not in text


def test_without_the_analysis_event_its_steps_are_missing_and_the_stored_forecast_shows() -> None:
    log, cycle = full_log()
    events = [e for e in log.events if e.type != "market_analysed"]
    forecast = StoredForecast(T0, D("0.7925"), D("0.62"), "llm", "trade", "buy Yes")

    chain = reconstruct(ChainRecords("last", CORR, events, cycle, [order_row()], forecast=forecast))
    text = render_why.chain_text(chain, UTC_RENDER)

    assert set(chain.missing) == {"news", "screen", "samples", "sizing"}
    assert "News: missing" in text
    assert "Screen: missing" in text
    assert "Samples: missing" in text
    assert "Sizing: missing" in text
    assert "Blend: model 0.7925 vs market 0.62 (stored forecast)" in text
    assert "Cycle cyc1ecyc ran" in text  # the group event still names the cycle


def test_a_chain_with_no_cycle_risk_or_fill_records_says_so() -> None:
    log, _ = full_log()
    keep = {"market_analysed", "intent_received", "order_created", "order_submitted"}
    events = [e for e in log.events if e.type in keep]

    chain = reconstruct(ChainRecords("last", CORR, events, (), [order_row()]))
    text = render_why.chain_text(chain, UTC_RENDER)

    assert set(chain.missing) == {"cycle", "risk", "fills"}
    assert "Cycle: missing" in text
    assert "Risk: missing" in text
    assert "Fills: missing" in text
    assert chain.fills == ()


def test_a_passed_intent_with_no_order_misses_its_order() -> None:
    log, cycle = full_log()
    events = [
        e
        for e in log.events
        if e.type in {"market_analysed", "signal_group_published", "intent_received", "risk_passed"}
    ]

    chain = reconstruct(ChainRecords("last", CORR, events, cycle, ()))

    assert chain.missing == ("order",)
    assert "Order: missing" in render_why.chain_text(chain, UTC_RENDER)


def test_a_denied_intent_shows_its_rule_and_expects_no_order() -> None:
    log, cycle = full_log()
    events = [
        e
        for e in log.events
        if e.type in {"market_analysed", "signal_group_published", "intent_received"}
    ]
    log.add(
        "intent_denied",
        {"rule": "max_exposure", "message": "total exposure would be 1200 (limit 1000)"},
        at=2,
    )

    chain = reconstruct(ChainRecords("last", CORR, [*events, log.events[-1]], cycle, ()))
    text = render_why.chain_text(chain, UTC_RENDER)

    assert chain.missing == ()
    assert chain.risk is not None
    assert not chain.risk.passed
    assert "Risk: DENIED by max_exposure: total exposure would be 1200 (limit 1000)" in text
    assert "Order" not in text


def test_an_approved_trade_shows_who_approved_it_and_at_what_size() -> None:
    log, cycle = full_log()
    first = [
        e
        for e in log.events
        if e.type in {"market_analysed", "signal_group_published", "intent_received", "risk_passed"}
    ]
    log.add("approval_requested", {"key": "ap-1", "size": "77.88", "notional": "49.99"}, at=2)
    log.add("approval_approved", {"key": "ap-1", "size": "40"}, actor="telegram:1001", at=9)
    log.add("intent_received", intent("telegram:1001"), actor="telegram:1001", at=9)
    approval = StoredApproval(
        "ap-1", T0, "approved", D("77.88"), D("49.99"), "telegram:1001", T0 + timedelta(seconds=9)
    )

    chain = reconstruct(
        ChainRecords("ap-1", CORR, [*first, *log.events[-3:]], cycle, (), approval=approval)
    )
    text = render_why.chain_text(chain, UTC_RENDER)

    assert chain.approval is not None
    assert chain.approval.approved_size == D(40)
    assert "Approval ap-1: approved by telegram:1001" in text
    assert "size 40" in text
    assert chain.missing == ("order",)  # approved and passed, but no order on record


def test_an_approved_intent_without_any_approval_record_misses_the_approval() -> None:
    log = Log()
    log.add("intent_received", intent("telegram:1001") | {"strategy": "manual"})
    log.add("intent_denied", {"rule": "cooldown", "message": "cooling down"})

    chain = reconstruct(ChainRecords("x", CORR, log.events))

    assert chain.missing == ("approval",)
    assert "Approval: missing" in render_why.chain_text(chain, UTC_RENDER)


def test_later_exits_and_the_settlement_are_shown_with_the_realised_pnl() -> None:
    log, cycle = full_log()
    later = Log()
    sell = later.add(
        "fill",
        {
            "order_id": "0xsell",
            "side": "SELL",
            "price": "0.80",
            "size": "30",
            "fee": "0.05",
            "position": "47.88",
            "realized": "4.80",
        },
        corr="later",
        at=60,
    )
    settled = later.add(
        "market_settled",
        {
            "market": MARKET,
            "payouts": {YES: "1", "tok-no": "0"},
            "realized": "17.10",
            "redeemable": "47.88",
        },
        corr="settle",
        at=120,
    )

    chain = reconstruct(
        ChainRecords(
            "last",
            CORR,
            log.events,
            cycle,
            [order_row()],
            later_orders=[order_row(order_id="0xsell", side="SELL", correlation_id="later")],
            later_events=[sell],
            settlements=[settled],
            position=(D(0), D("21.90")),
        )
    )
    text = render_why.chain_text(chain, UTC_RENDER)

    assert chain.later is not None
    assert [f.realized for f in chain.later.exits] == [D("4.80")]
    assert "Exit " in text
    assert "SELL 30 @ 0.8" in text
    assert "realised +$4.80" in text
    assert "paid 1 a share; market realised +$17.10, redeemable $47.88" in text
    assert "Position now 0; realised +$21.90" in text


def test_nothing_recorded_at_all_is_missing_not_invented() -> None:
    chain = reconstruct(ChainRecords("0xnothing", "corr-none"))
    text = render_why.chain_text(chain, UTC_RENDER)

    assert chain.missing == ("intent",)
    assert "Intent: missing" in text
    assert "Risk" not in text
    assert "Order" not in text


def test_a_kill_s_flatten_sell_is_not_missing_a_risk_check() -> None:
    log = Log()
    log.add("exit_requested", intent("telegram:1001") | {"side": "SELL", "strategy": "kill"})
    log.add("order_submitted", {"order_id": ORDER, "status": "MATCHED", "filled": "10"})
    log.add("fill", {"order_id": ORDER, "side": "SELL", "price": "0.6", "size": "10", "fee": "0"})

    chain = reconstruct(ChainRecords("x", CORR, log.events, (), [order_row(side="SELL")]))

    assert chain.missing == ()
    assert chain.intent is not None
    assert chain.intent.side == "SELL"
    assert "Risk" not in render_why.chain_text(chain, UTC_RENDER)


def test_a_chain_crosses_the_wire_to_the_hub_unchanged() -> None:
    """The hub's /why is the trader's: the typed chain survives encode -> JSON -> decode."""
    chain = reconstruct(complete_records())

    again = wire.decode_as(json.loads(json.dumps(wire.encode(chain))), DecisionChain)

    assert again == chain
    assert render_why.chain_text(again, UTC_RENDER) == render_why.chain_text(chain, UTC_RENDER)


def test_the_retrieved_articles_are_listed_with_the_news_by_provider() -> None:
    log, cycle = full_log()
    retrieval = {
        "queries": ["Fed March decision"],
        "query_source": "llm",
        "articles": [
            {
                "title": "Fed officials signal a March cut",
                "url": "https://news.test/fed",
                "provider": "gdelt",
                "published": "2026-03-09T11:00:00+00:00",
            }
        ],
        "skipped": {"after now": 1},
        "failures": [],
    }
    log.events[0] = dataclasses.replace(log.events[0], payload=analysed(retrieval=retrieval))
    records = ChainRecords("last", CORR, log.events, cycle, [order_row()], outcomes={YES: "Yes"})

    chain = reconstruct(records)
    text = render_why.chain_text(chain, UTC_RENDER)

    assert chain.analysis is not None
    assert [(n.title, n.source) for n in chain.analysis.news] == [
        (NEWS, "wire"),
        ("Fed officials signal a March cut", "gdelt"),
    ]
    assert "Fed officials signal a March cut — gdelt" in text


def test_a_reused_search_says_so_and_when_it_ran() -> None:
    log, cycle = full_log()
    article = {"title": "Fed holds", "provider": "exa", "published": "2026-03-09T11:00:00+00:00"}
    retrieval = {"articles": [article], "reused_from": "2026-03-09T12:05:00+00:00"}
    log.events[0] = dataclasses.replace(log.events[0], payload=analysed(retrieval=retrieval))
    records = ChainRecords("last", CORR, log.events, cycle, [order_row()], outcomes={YES: "Yes"})

    chain = reconstruct(records)

    assert chain.analysis is not None
    assert chain.analysis.news[-1].source == "exa, reused from 12:05 UTC"
    assert "Fed holds — exa, reused from 12:05 UTC" in render_why.chain_text(chain, UTC_RENDER)

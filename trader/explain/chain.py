"""The reconstruction behind /why: records in, a `DecisionChain` out. Pure: no I/O.

`WhyService` (`trader.explain.service`) gathers a `ChainRecords` for one correlation id (the
events of the chain and of its cycle, the order and approval rows, the stored forecast, what
happened later to the token) and `reconstruct` reads it. Each step comes from its own record:

    cycle     signal_cycle_started / _completed under the cycle id the analysis names
    news, screen, samples, blend, sizing      the market_analysed event (the stored
              forecast row stands in for the blend when that event is absent)
    intent    intent_received (a kill's flatten: exit_requested, which risk does not check);
              risk: risk_passed or intent_denied (the last one decides)
    approval  the approvals row, else approval_* events
    order     the orders rows with order_submitted / venue_error / order_refused
    fills     fill events;  later: exits on the same token, settlements, the position now

A step the chain implies but whose record is absent is listed in `missing` (never made up):
an order without a risk record misses "risk"; an order that filled without a fill event
misses "fills"; a signal's intent without its market_analysed event misses its analysis.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from trader.control.why import (
    AnalysisFacts,
    ApprovalFacts,
    CycleFacts,
    DecisionChain,
    FillFacts,
    IntentFacts,
    LaterFacts,
    NewsUsed,
    OrderFacts,
    RiskFacts,
    SettlementFacts,
    SizingFacts,
)
from trader.store.eventlog import Event

SIGNAL_STRATEGIES = frozenset({"llm_edge", "complete_set_arb"})
_ANALYSIS_STEPS = ("news", "screen", "samples", "blend", "sizing")


@dataclass(frozen=True, slots=True)
class StoredOrder:
    order_id: str
    client_order_id: str
    market: str
    token_id: str
    side: str
    price: Decimal
    size: Decimal
    status: str
    created_at: datetime
    order_type: str
    size_matched: Decimal
    strategy: str = ""
    error: str = ""
    correlation_id: str = ""


@dataclass(frozen=True, slots=True)
class StoredApproval:
    key: str
    created_at: datetime
    status: str
    size: Decimal | None
    notional: Decimal | None
    decided_by: str = ""
    decided_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class StoredForecast:
    created_at: datetime
    model_probability: Decimal
    market_price: Decimal | None
    source: str
    decision: str
    reason: str


@dataclass(frozen=True, slots=True)
class ChainRecords:
    ref: str
    correlation_id: str
    events: Sequence[Event] = ()  # the chain's own (and its intent group's), in order
    cycle_events: Sequence[Event] = ()
    orders: Sequence[StoredOrder] = ()
    approval: StoredApproval | None = None
    forecast: StoredForecast | None = None
    market: str = ""  # a hint when the chain was found by market
    question: str = ""
    outcomes: Mapping[str, str] = field(default_factory=dict)  # token id -> "Yes" / "No"
    later_orders: Sequence[StoredOrder] = ()  # on the same token, after the chain's orders
    later_events: Sequence[Event] = ()  # the fill events of those orders
    settlements: Sequence[Event] = ()  # market_settled events of the market
    position: tuple[Decimal, Decimal] | None = None  # (size, realised PnL) of the token now


def reconstruct(records: ChainRecords) -> DecisionChain:
    events = list(records.events)
    analysed = _analysed(events, records.market)
    intents = _all(events, "intent_received")
    exit_event = _first(events, "exit_requested")  # a kill's flatten: sells that skip risk
    intent_event = intents[0] if intents else exit_event
    intent = _intent(intent_event) if intent_event else None
    group = _first(events, "signal_group_published")
    strategy = (
        (intent.strategy if intent else "")
        or str((group.payload if group else {}).get("strategy", ""))
        or next((o.strategy for o in records.orders), "")
    )
    market = (
        records.market
        or _text(intent_event, "market")
        or _text(analysed, "market")
        or next((o.market for o in records.orders), "")
    )
    token = _text(intent_event, "token_id") or next((o.token_id for o in records.orders), "")
    missing: list[str] = []
    from_signal = strategy in SIGNAL_STRATEGIES or group is not None or analysed is not None
    cycle_id = _text(analysed, "cycle") or _text(group, "cycle")
    cycle = _cycle(cycle_id, records.cycle_events)
    if from_signal and cycle is None:
        missing.append("cycle")
    analysis = _analysis(analysed, records.forecast)
    sizing = _sizing(analysed)
    if strategy == "llm_edge" or analysed is not None:
        missing += _analysis_missing(analysed, analysis, sizing, intent is not None)
    if intent is None and (records.orders or _first(events, "intent_denied") or not analysed):
        missing.append("intent")
    risk = _risk(events)
    approval = _approval(events, records.approval)
    orders = _orders(events, records.orders)
    if risk is None and (intents or (orders and exit_event is None)):
        missing.append("risk")
    if approval is None and any(_text(e, "approved_by") for e in intents):
        missing.append("approval")
    if risk is not None and risk.passed and not orders and _expects_order(approval, events):
        missing.append("order")
    fills = tuple(_fill(e) for e in _all(events, "fill"))
    if _filled(orders, records.orders) > 0 and not fills:
        missing.append("fills")
    question = records.question or (str(analysed.payload.get("question", "")) if analysed else "")
    return DecisionChain(
        ref=records.ref,
        correlation_id=records.correlation_id,
        market=market,
        question=question,
        outcome=records.outcomes.get(token, "") or (sizing.outcome if sizing else ""),
        cycle=cycle,
        analysis=analysis,
        sizing=sizing,
        intent=intent,
        risk=risk,
        approval=approval,
        orders=orders,
        fills=fills,
        later=_later(records, token) if fills or orders else None,
        missing=tuple(dict.fromkeys(missing)),
    )


# -- steps ----------------------------------------------------------------------------------


def _cycle(cycle_id: str, events: Sequence[Event]) -> CycleFacts | None:
    started = _first(events, "signal_cycle_started")
    ended = _first(events, "signal_cycle_completed")
    if not cycle_id or started is None:
        return None
    return CycleFacts(
        cycle_id,
        started.ts,
        ended.ts if ended else None,
        str(started.payload.get("analyser", "")),
    )


def _analysed(events: Sequence[Event], market: str) -> Event | None:
    found = _all(events, "market_analysed")
    if market:
        found = [e for e in found if e.payload.get("market") == market] or found
    return found[-1] if found else None


def _analysis(event: Event | None, forecast: StoredForecast | None) -> AnalysisFacts | None:
    if event is None:
        if forecast is None:
            return None
        # the stored forecast alone: the blend and the market price, nothing it does not hold
        return AnalysisFacts(
            at=forecast.created_at,
            news=(),
            screen="",
            analysis="",
            source=forecast.source,
            samples=(),
            raw_median=None,
            market_probability=forecast.market_price,
            model_weight=None,
            model_probability=forecast.model_probability,
            dispersion=None,
            decision=forecast.decision,
            reason=forecast.reason,
        )
    payload = event.payload
    screen = payload.get("screen") or {}
    found: Mapping[str, Any] = payload.get("forecast") or {}
    return AnalysisFacts(
        at=event.ts,
        news=tuple(
            NewsUsed(
                str(item.get("title", "")),
                str(item.get("source", "")),
                _time(item.get("published")),
                item.get("relevance"),
            )
            for item in payload.get("news") or ()
        )
        + _retrieved(payload),
        screen=str(screen.get("reason", "")),
        analysis=str(payload.get("analysis", "")),
        source=str(found.get("source", "")),
        samples=tuple(d for d in (_dec(v) for v in found.get("samples") or ()) if d is not None),
        raw_median=_dec(found.get("raw_median")),
        market_probability=_dec(found.get("market_probability")),
        model_weight=_dec(found.get("model_weight")),
        model_probability=_dec(found.get("model_probability")),
        dispersion=_dec(found.get("dispersion")),
        decision=str(payload.get("decision", "")),
        reason=str(payload.get("reason", "")),
    )


def _retrieved(payload: Mapping[str, Any]) -> tuple[NewsUsed, ...]:
    """The retrieval's articles, listed with the news: the provider stands as the source, with
    when the search ran when an earlier search was given again (`ReusedRetrievals`)."""
    found = payload.get("retrieval") or {}
    reused = _time(found.get("reused_from"))
    since = f", reused from {reused:%H:%M} UTC" if reused is not None else ""
    return tuple(
        NewsUsed(
            str(item.get("title", "")),
            str(item.get("provider", "")) + since,
            _time(item.get("published")),
            None,
        )
        for item in found.get("articles") or ()
    )


def _analysis_missing(
    event: Event | None,
    analysis: AnalysisFacts | None,
    sizing: SizingFacts | None,
    traded: bool,
) -> list[str]:
    if event is None:
        kept = ("blend",) if analysis is not None else ()
        return [step for step in _ANALYSIS_STEPS if step not in kept]
    missing = []
    if not event.payload.get("forecast"):
        missing += ["samples", "blend"]
    if sizing is None and traded:
        missing.append("sizing")
    return missing


def _sizing(event: Event | None) -> SizingFacts | None:
    raw = (event.payload if event else {}).get("sizing")
    if not raw:
        return None
    return SizingFacts(
        outcome=str(raw.get("outcome", "")),
        edge=_dec(raw.get("edge")),
        edge_average=_dec(raw.get("edge_average")),
        bankroll=_dec(raw.get("bankroll")),
        kelly_fraction=_dec(raw.get("kelly_fraction")),
        kelly_stake=_dec(raw.get("kelly_stake")),
        held_value=_dec(raw.get("held_value")),
        max_notional=_dec(raw.get("max_notional")),
        target=_dec(raw.get("target")),
        bound=str(raw.get("bound", "")),
        shares=_dec(raw.get("shares")),
        notional=_dec(raw.get("notional")),
        limit_price=_dec(raw.get("limit_price")),
        average_price=_dec(raw.get("average_price")),
    )


def _intent(event: Event) -> IntentFacts:
    payload = event.payload
    return IntentFacts(
        at=event.ts,
        side=str(payload.get("side", "")),
        limit_price=_dec(payload.get("limit_price")),
        size=_dec(payload.get("size")),
        notional=_dec(payload.get("notional")),
        strategy=str(payload.get("strategy", "")),
        reason=str(payload.get("reason", "")),
        model_probability=_dec(payload.get("model_probability")),
        market_probability=_dec(payload.get("market_probability")),
    )


def _risk(events: Sequence[Event]) -> RiskFacts | None:
    decided = _all(events, "risk_passed", "intent_denied")
    if not decided:
        return None
    last = decided[-1]
    payload = last.payload
    if last.type == "intent_denied":
        return RiskFacts(
            last.ts,
            False,
            rule=str(payload.get("rule", "")),
            message=str(payload.get("message", "")),
        )
    return RiskFacts(
        last.ts,
        True,
        checks=tuple(str(c) for c in payload.get("checks") or ()),
        size=_dec(payload.get("size")),
        notional=_dec(payload.get("notional")),
        fee=_dec(payload.get("fee")),
        drawdown_mode=str(payload.get("drawdown_mode", "")),
    )


def _approval(events: Sequence[Event], row: StoredApproval | None) -> ApprovalFacts | None:
    requested = _first(events, "approval_requested")
    approved = _first(events, "approval_approved")
    if row is None and requested is None:
        return None
    decided = _first(events, "approval_approved", "approval_rejected", "approval_superseded")
    status = row.status if row else (decided.type.removeprefix("approval_") if decided else "")
    return ApprovalFacts(
        key=row.key if row else _text(requested, "key"),
        requested_at=row.created_at if row else (requested.ts if requested else None),
        size=row.size if row else _dec((requested.payload if requested else {}).get("size")),
        notional=row.notional if row else _dec(_text(requested, "notional") or None),
        status=status or "pending",
        decided_by=(row.decided_by if row else "") or (decided.actor if decided else ""),
        decided_at=(row.decided_at if row else None) or (decided.ts if decided else None),
        approved_size=_dec(approved.payload.get("size")) if approved else None,
    )


def _expects_order(approval: ApprovalFacts | None, events: Sequence[Event]) -> bool:
    """An order should follow a passed risk check unless it went to approval and was not
    approved (or the approved intent was then denied, which `_risk` shows)."""
    if approval is None:
        return True
    return approval.status == "approved" and _first(events, "approval_approved") is not None


def _orders(events: Sequence[Event], rows: Sequence[StoredOrder]) -> tuple[OrderFacts, ...]:
    submitted = {_text(e, "order_id"): e for e in _all(events, "order_submitted")}
    orders = []
    for row in rows:
        answer = submitted.get(row.order_id)
        status = _text(answer, "status") or row.status
        # what the venue said at submit, or what its fills since brought (the order row)
        answered = _dec(answer.payload.get("filled")) if answer else None
        filled = max(answered or Decimal(0), row.size_matched)
        orders.append(
            OrderFacts(
                row.order_id,
                row.client_order_id,
                row.created_at,
                row.side,
                row.price,
                row.size,
                row.order_type,
                status,
                filled,
                row.error,
            )
        )
    for event in _all(events, "order_refused", "venue_error"):
        if event.type == "venue_error" and _text(event, "step") != "prepare":
            continue  # a submit error is on its order row already
        orders.append(
            OrderFacts(
                "",
                "",
                event.ts,
                "",
                Decimal(0),
                Decimal(0),
                "",
                "refused" if event.type == "order_refused" else "venue error",
                error=_text(event, "message"),
            )
        )
    return tuple(orders)


def _filled(orders: Sequence[OrderFacts], rows: Sequence[StoredOrder]) -> Decimal:
    matched = sum((row.size_matched for row in rows), Decimal(0))
    answered = sum((o.filled or Decimal(0) for o in orders), Decimal(0))
    return max(matched, answered)


def _fill(event: Event) -> FillFacts:
    payload = event.payload
    return FillFacts(
        at=event.ts,
        order_id=_text(event, "order_id"),
        side=_text(event, "side"),
        price=_dec(payload.get("price")) or Decimal(0),
        size=_dec(payload.get("size")) or Decimal(0),
        fee=_dec(payload.get("fee")) or Decimal(0),
        position_after=_dec(payload.get("position")),
        realized=_dec(payload.get("realized")),
    )


def _later(records: ChainRecords, token: str) -> LaterFacts:
    ours = {o.order_id for o in records.later_orders}
    exits = tuple(
        _fill(e)
        for e in records.later_events
        if e.type == "fill" and _text(e, "order_id") in ours and _text(e, "side") == "SELL"
    )
    settlements = []
    for event in records.settlements:
        payouts = event.payload.get("payouts") or {}
        settlements.append(
            SettlementFacts(
                event.ts,
                _dec(payouts.get(token)) if token in payouts else None,
                _dec(event.payload.get("realized")),
                _dec(event.payload.get("redeemable")),
            )
        )
    size, realized = records.position if records.position else (None, None)
    return LaterFacts(exits, tuple(settlements), size, realized)


# -- reading payloads -----------------------------------------------------------------------


def _all(events: Sequence[Event], *types: str) -> list[Event]:
    return [e for e in events if e.type in types]


def _first(events: Sequence[Event], *types: str) -> Event | None:
    return next((e for e in events if e.type in types), None)


def _text(event: Event | None, key: str) -> str:
    if event is None:
        return ""
    value = event.payload.get(key)
    return "" if value is None else str(value)


def _dec(value: object) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _time(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None

"""/why in a phone-sized reply: one short line per step of a decision's chain.

The same text serves the chat, `trader why` and the HTTP page. A step whose record is missing
says "missing"; a step that did not happen says so ("none asked", "not reached"); nothing is
filled in that the records do not hold.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from bot.render.common import RenderContext
from bot.render.trading import market_name, money, price, shares, short
from bot.reply import Reply
from trader.control.api import DecisionChain, DenialFacts
from trader.control.why import (
    AnalysisFacts,
    ApprovalFacts,
    FillFacts,
    LaterFacts,
    RiskFacts,
    SizingFacts,
)

MISSING = "missing"
_NEWS = 3  # titles shown; the rest counted
_BOUNDS = {
    "max_notional": "the max order notional cap",
    "kelly": "the Kelly stake (net of holdings)",
    "min_edge": "the minimum edge: deeper asks were not worth it",
    "depth": "the book's depth",
}


def chain(found: DecisionChain, ctx: RenderContext) -> Reply:
    lines = [
        _cycle(found, ctx),
        *_news(found, ctx),
        _step(found, "screen", found.analysis.screen if found.analysis else None),
        _samples(found),
        _blend(found),
        _edge(found),
        _sizing(found),
        _intent(found, ctx),
        _risk(found),
        _approval(found, ctx),
        *_orders(found),
        *_fills(found, ctx),
        *_later(found.later, ctx),
        f"Ref {found.correlation_id}",
    ]
    return Reply(_title(found), tuple(line for line in lines if line))


def denials(rows: Sequence[DenialFacts], ctx: RenderContext) -> Reply:
    if not rows:
        return Reply("No denials recorded.")
    lines = []
    for row in rows:
        name = market_name(row.question, "", row.market) if row.market else "market unknown"
        lines.append(f"{ctx.local(row.at)} · {row.rule}: {short(row.message, 120)}")
        lines.append(f"   {row.side + ' ' if row.side else ''}{name} · /why {row.correlation_id}")
    return Reply(f"Last {len(rows)} denial(s)", tuple(lines))


def chain_text(found: DecisionChain, ctx: RenderContext) -> str:
    """The plain text of the reply (the CLI and the HTTP page)."""
    return chain(found, ctx).text


# -- steps ----------------------------------------------------------------------------------


def _title(found: DecisionChain) -> str:
    intent = found.intent
    what = f"{intent.side} " if intent and intent.side else ""
    name = market_name(found.question, found.outcome, found.market) if found.market else ""
    return f"Why: {what}{name}".rstrip() if what or name else f"Why: {found.ref}"


def _absent(found: DecisionChain, step: str, otherwise: str = "") -> str:
    """The line for a step without its facts: "missing" when a record is expected."""
    text = MISSING if found.is_missing(step) else otherwise
    return f"{step.capitalize()}: {text}" if text else ""


def _step(found: DecisionChain, step: str, text: str | None) -> str:
    label = step.capitalize()
    if found.is_missing(step):
        return f"{label}: {MISSING}"
    return f"{label}: {short(text, 160)}" if text else ""


def _cycle(found: DecisionChain, ctx: RenderContext) -> str:
    cycle = found.cycle
    if cycle is None:
        return _absent(found, "cycle", "none (not a signal)")
    analyser = f" by {cycle.analyser}" if cycle.analyser else ""
    return f"Cycle {cycle.cycle_id[:8]} ran {ctx.local(cycle.started_at)}{analyser}"


def _news(found: DecisionChain, ctx: RenderContext) -> list[str]:
    if found.is_missing("news"):
        return ["News: missing"]
    analysis = found.analysis
    if analysis is None:
        return []
    if not analysis.news:
        return ["News: none matched"]
    lines = [f"News ({len(analysis.news)}):"]
    for item in analysis.news[:_NEWS]:
        when = ctx.local(item.published) if item.published else "time unknown"
        lines.append(f"• {short(item.title, 90)} — {short(item.source, 30)}, {when}")
    if len(analysis.news) > _NEWS:
        lines.append(f"  (+{len(analysis.news) - _NEWS} more)")
    return lines


def _samples(found: DecisionChain) -> str:
    if found.is_missing("samples"):
        return "Samples: missing"
    analysis = found.analysis
    if analysis is None or not analysis.samples:
        return ""
    each = ", ".join(price(p) for p in analysis.samples)
    median = f" → {price(analysis.raw_median)}" if analysis.raw_median is not None else ""
    how = f" ({short(analysis.analysis, 60)})" if analysis.analysis else ""
    return f"Samples: {each}{median}{how}"


def _blend(found: DecisionChain) -> str:
    if found.is_missing("blend"):
        return "Blend: missing"
    analysis = found.analysis
    if analysis is None or analysis.model_probability is None:
        return ""
    return "Blend: " + _blend_text(analysis)


def _blend_text(analysis: AnalysisFacts) -> str:
    market, model = analysis.market_probability, analysis.model_probability
    weight, aggregate = analysis.model_weight, analysis.raw_median
    if weight is not None and aggregate is not None and market is not None:
        return (
            f"model {price(aggregate)} at {_pct(weight)} with market {price(market)} "
            f"in log-odds = {price(model)}"
        )
    return f"model {price(model)} vs market {price(market)} (stored forecast)"


def _edge(found: DecisionChain) -> str:
    sizing = found.sizing
    if sizing is None or sizing.edge is None:
        return ""
    average = (
        f", {sizing.edge_average:+.4f} at avg {price(sizing.average_price)}"
        if sizing.edge_average is not None
        else ""
    )
    return f"Edge after fees: {sizing.edge:+.4f}/share at the best ask{average}"


def _sizing(found: DecisionChain) -> str:
    if found.is_missing("sizing"):
        return "Sizing: missing"
    sizing = found.sizing
    if sizing is None:
        return ""
    if sizing.kelly_stake is None:
        return f"Sizing: {sizing.outcome or 'no buy'}, no stake planned"
    return "Sizing: " + _sizing_text(sizing)


def _sizing_text(sizing: SizingFacts) -> str:
    fraction = f"{sizing.kelly_fraction:f}" if sizing.kelly_fraction is not None else "?"
    bound = _BOUNDS.get(sizing.bound, sizing.bound or "not recorded")
    return (
        f"Kelly ×{fraction} of {money(sizing.bankroll)} = {money(sizing.kelly_stake)}; "
        f"held {money(sizing.held_value)} netted; cap {money(sizing.max_notional)} → "
        f"target {money(sizing.target)}; bound by {bound}; "
        f"{shares(sizing.shares or Decimal(0))} {sizing.outcome} for {money(sizing.notional)}"
        f" up to {price(sizing.limit_price)}"
    )


def _intent(found: DecisionChain, ctx: RenderContext) -> str:
    intent = found.intent
    if intent is None:
        return _absent(found, "intent", "none (no trade)")
    size = shares(intent.size or Decimal(0))
    amount = money(intent.notional) if intent.notional is not None else f"{size} shares"
    return (
        f"Intent {ctx.local(intent.at)}: {intent.side} {amount} up to {price(intent.limit_price)}"
        f" ({intent.strategy})"
    )


def _risk(found: DecisionChain) -> str:
    return _risk_text(found.risk) if found.risk is not None else _absent(found, "risk")


def _risk_text(risk: RiskFacts) -> str:
    if not risk.passed:
        return f"Risk: DENIED by {risk.rule}: {short(risk.message, 160)}"
    mode = f", drawdown {risk.drawdown_mode}" if risk.drawdown_mode else ""
    return (
        f"Risk: passed {len(risk.checks)} checks{mode}; {shares(risk.size or Decimal(0))} "
        f"shares, {money(risk.notional)} + fee {money(risk.fee)}"
    )


def _approval(found: DecisionChain, ctx: RenderContext) -> str:
    if found.approval is not None:
        return _approval_text(found.approval, ctx)
    return _absent(found, "approval", "none asked" if found.orders else "")


def _approval_text(approval: ApprovalFacts, ctx: RenderContext) -> str:
    text = f"Approval {approval.key}: {approval.status}"
    if approval.decided_by:
        text += f" by {approval.decided_by}"
    if approval.decided_at:
        text += f" at {ctx.local(approval.decided_at)}"
    size = approval.approved_size or approval.size
    if size is not None:
        text += f"; size {shares(size)}"
    return text


def _orders(found: DecisionChain) -> list[str]:
    if found.is_missing("order"):
        return ["Order: missing"]
    lines = []
    for order in found.orders:
        if not order.order_id:
            lines.append(f"Order {order.status}: {short(order.error, 120)}")
            continue
        filled = f", filled {shares(order.filled)}" if order.filled is not None else ""
        lines.append(
            f"Order {order.order_id[:12]}: {order.side} {shares(order.size)} @ "
            f"{price(order.price)} {order.order_type} → {order.status}{filled}"
            + (f" ({short(order.error, 60)})" if order.error else "")
        )
    return lines


def _fills(found: DecisionChain, ctx: RenderContext) -> list[str]:
    if found.is_missing("fills"):
        return ["Fills: missing"]
    return [f"Fill {_fill_text(fill, ctx)}" for fill in found.fills]


def _fill_text(fill: FillFacts, ctx: RenderContext) -> str:
    after = f" → position {shares(fill.position_after)}" if fill.position_after is not None else ""
    return (
        f"{ctx.local(fill.at)}: {fill.side} {shares(fill.size)} @ {price(fill.price)}, "
        f"fee {money(fill.fee)}{after}"
    )


def _later(later: LaterFacts | None, ctx: RenderContext) -> list[str]:
    if later is None:
        return []
    lines = [
        f"Exit {_fill_text(fill, ctx)}, realised {money(fill.realized, sign=True)}"
        for fill in later.exits
    ]
    for settled in later.settlements:
        lines.append(
            f"Settled {ctx.local(settled.at)}: paid {price(settled.payout)} a share; market "
            f"realised {money(settled.realized, sign=True)}, redeemable {money(settled.redeemable)}"
        )
    if not later.exits and not later.settlements:
        lines.append("Later: no exit or settlement yet")
    if later.position_now is not None:
        lines.append(
            f"Position now {shares(later.position_now)}; realised "
            f"{money(later.realized_total, sign=True)}"
        )
    return lines


def _pct(value: Decimal) -> str:
    return f"{value * 100:.0f}%"

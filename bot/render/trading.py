"""Text for the trading replies: positions, orders, PnL, the kill switch, approval requests and
limits. Plain text only (transports escape); times in the operator's zone via `render.local`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal

from bot.render.common import RenderContext, age
from bot.reply import Button, Reply
from trader.control.api import (
    ApprovalDecision,
    ApprovalRequest,
    KillPreview,
    KillReport,
    OrderView,
    Outcome,
    PnlReport,
    PositionView,
    RiskLimits,
    SettingChange,
    StrategyView,
)
from trader.domain import Side

_TITLE = 60
_SOURCES = 5


def money(value: Decimal | None, *, sign: bool = False) -> str:
    if value is None:
        return "n/a"
    text = f"{abs(value):,.2f}"
    prefix = "-" if value < 0 else ("+" if sign and value > 0 else "")
    return f"{prefix}${text}"


def price(value: Decimal | None) -> str:
    return "n/a" if value is None else f"{value.normalize():f}"


def shares(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01')).normalize():f}"


def percent(value: Decimal | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def short(text: str, limit: int = _TITLE) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def market_name(question: str, outcome: str, market: str) -> str:
    name = short(question) if question else f"market {market[:10]}"
    return f"{name} — {outcome}" if outcome else name


# positions, orders, pnl ---------------------------------------------------------------


def positions(rows: Sequence[PositionView]) -> Reply:
    if not rows:
        return Reply("No open positions.")
    total = sum((row.value for row in rows), Decimal(0))
    unrealized = sum((row.unrealized for row in rows), Decimal(0))
    lines = []
    for i, row in enumerate(rows, 1):
        lines.append(f"{i}. {market_name(row.question, row.outcome, row.market)}")
        lines.append(
            f"   {shares(row.size)} @ {price(row.average_price)} · mid {price(row.mark)} · "
            f"value {money(row.value)} · unrealized {money(row.unrealized, sign=True)}"
        )
    lines.append(f"Total value {money(total)} · unrealized {money(unrealized, sign=True)}")
    lines.append("Value: what selling now would realise (the bids, net of fees); mid for show.")
    return Reply(f"{len(rows)} open position(s)", tuple(lines))


def orders(rows: Sequence[OrderView]) -> Reply:
    if not rows:
        return Reply("No open orders.")
    lines = []
    for row in rows:
        lines.append(
            f"{row.order_id[:16]} {row.side.value} {shares(row.size)} @ {price(row.price)} "
            f"(filled {shares(row.filled)}) {row.status.value}"
        )
        lines.append(f"   {market_name(row.question, row.outcome, row.market)}")
    lines.append("Cancel one with /cancel <order id>")
    return Reply(f"{len(rows)} open order(s)", tuple(lines))


def pnl(report: PnlReport, ctx: RenderContext) -> Reply:
    lines = [
        f"From {ctx.local(report.start)} to {ctx.local(report.end)}",
        f"Equity {money(report.start_equity)} → {money(report.end_equity)}",
        f"PnL {money(report.pnl, sign=True)} (realized {money(report.realized, sign=True)})",
        f"Trades {report.trades}: {report.wins} won, {report.losses} lost"
        + (f" ({percent(report.win_rate)})" if report.win_rate is not None else ""),
    ]
    if report.cash_flows:
        lines.append(f"Deposits less withdrawals {money(report.cash_flows, sign=True)} (not PnL)")
    if report.start_equity is None:
        lines.append("No equity snapshot before the period: PnL counts from the first one.")
    return Reply(f"PnL this {report.period.value}", tuple(lines))


# kill switch --------------------------------------------------------------------------


def kill_prompt(preview: KillPreview) -> Reply:
    lines = [
        f"Open orders: {preview.open_orders} (all are cancelled either way)",
        f"Positions: {len(preview.exits)}; flattening would sell for about "
        f"{money(preview.estimated_proceeds)}, never more than "
        f"{percent(preview.slippage_cap)} below the bid",
        "Trading stays KILLED (across restarts) until /rearm.",
    ]
    return Reply("⚠️ Kill switch: choose", tuple(lines))


def flatten_preview(preview: KillPreview) -> Reply:
    lines = [f"Slippage cap {percent(preview.slippage_cap)} below the best bid."]
    for i, exit_ in enumerate(preview.exits, 1):
        lines.append(f"{i}. {market_name(exit_.question, exit_.outcome, exit_.market)}")
        lines.append(
            f"   sell {shares(exit_.size)} · bid {price(exit_.best_bid)} · floor "
            f"{price(exit_.floor_price)} · sellable now {shares(exit_.sellable)} → "
            f"~{money(exit_.estimated_proceeds)}" + (f" ({exit_.note})" if exit_.note else "")
        )
    if not preview.exits:
        lines.append("No positions: this only cancels the orders.")
    lines.append(
        f"Estimated proceeds {money(preview.estimated_proceeds)}; shares the book "
        "cannot take at the floor stay open."
    )
    lines.append(f"Open orders cancelled first: {preview.open_orders}.")
    return Reply("⚠️ Flatten preview: confirm to cancel, sell and halt", tuple(lines))


def kill_report(report: KillReport) -> Reply:
    lines = [f"Cancelled {report.canceled} order(s); {report.open_orders_left} left at the venue."]
    if report.open_orders_left:
        lines.append("⚠️ Some orders are still open at the venue: check /orders.")
    for exit_ in report.exits:
        lines.append(
            f"Sold {shares(exit_.sold)}/{shares(exit_.size)} of {exit_.token_id[:12]} for "
            f"{money(exit_.proceeds)} (avg {price(exit_.average_price)}); "
            f"{shares(exit_.remaining)} left" + (f" · {exit_.message}" if exit_.message else "")
        )
    if report.message:
        lines.append(report.message)
    lines.append("Trade again with /rearm.")
    return Reply(f"🛑 Trading {report.state.value}", tuple(lines))


# approvals ----------------------------------------------------------------------------


def approval_buttons(key: str) -> tuple[tuple[Button, ...], ...]:
    return (
        (
            Button("✅ Approve", f"decide {key} approve"),
            Button("½ Approve half", f"decide {key} half"),
        ),
        (Button("❌ Reject", f"decide {key} reject"),),
    )


def worst_case_loss(request: ApprovalRequest) -> Decimal:
    if request.side is Side.BUY:
        return request.notional
    return (Decimal(1) - request.limit_price) * request.size


def edge(request: ApprovalRequest) -> Decimal | None:
    if request.model_probability is None:
        return None
    gap = request.model_probability - request.limit_price
    return gap if request.side is Side.BUY else -gap


def time_left(request: ApprovalRequest, now: datetime) -> str:
    return age(max(request.expires_at - now, timedelta(0)))


def resolution(request: ApprovalRequest, now: datetime, ctx: RenderContext) -> str:
    if request.end_date is None:
        return "Resolves: date unknown"
    left = request.end_date - now
    when = "passed" if left <= timedelta(0) else f"in {_days(left)}"
    return f"Resolves {ctx.local(request.end_date)} ({when})"


def _days(delta: timedelta) -> str:
    return f"{delta.days}d" if delta >= timedelta(days=2) else age(delta)


def sources(request: ApprovalRequest, limit: int = _SOURCES) -> str:
    if not request.sources:
        return "Sources: none recorded"
    shown = [short(source, _TITLE) for source in request.sources[:limit]]
    more = len(request.sources) - len(shown)
    return "Sources: " + "; ".join(shown) + (f" (+{more} more)" if more > 0 else "")


def approval_request(request: ApprovalRequest, now: datetime, ctx: RenderContext) -> Reply:
    model = request.model_probability
    advantage = edge(request)
    market = request.market_probability
    lines = [
        market_name(request.question, request.outcome, request.market),
        f"{request.side.value} {shares(request.size)} @ {price(request.limit_price)} = "
        f"{money(request.notional)}",
        f"Worst case: lose {money(worst_case_loss(request))}",
        f"Model {percent(model)} vs market "
        + (percent(market) if market is not None else f"n/a (price {price(request.limit_price)})")
        + " · edge "
        + ("n/a" if advantage is None else f"{advantage * 100:+.1f} pts at this price"),
        f"Why: {short(request.reason, 600) or 'no rationale given'}",
        sources(request),
        resolution(request, now, ctx),
        f"Strategy {request.strategy} · expires {ctx.local(request.expires_at)} "
        f"(in {time_left(request, now)})",
        f"Ref {request.key}",
    ]
    buttons = (*approval_buttons(request.key), (why_button(request.correlation_id),))
    return Reply("🗳 Approve this trade?", tuple(lines), buttons=buttons)


def why_button(correlation_id: str) -> Button:
    """The button on order, fill and approval messages that opens /why for their chain (an
    extra: a transport short of room for buttons leaves it out)."""
    return Button("❓ Why", f"why {correlation_id}", optional=True)


def approval_expired(request: ApprovalRequest) -> Reply:
    return Reply(
        "⌛ Expired: not traded",
        (
            market_name(request.question, request.outcome, request.market),
            f"{request.side.value} {shares(request.size)} @ {price(request.limit_price)}",
            f"Ref {request.key}",
        ),
    )


def approval_superseded(request: ApprovalRequest) -> Reply:
    return Reply(
        "↪️ Superseded: a newer request for this market replaced it",
        (
            market_name(request.question, request.outcome, request.market),
            f"{request.side.value} {shares(request.size)} @ {price(request.limit_price)}",
            f"Ref {request.key}: approving it does nothing",
        ),
    )


def approval_decision(decision: ApprovalDecision, who: str) -> Reply:
    result = decision.result
    if decision.status == "rejected":
        return Reply(f"❌ Rejected by {who}", (f"Ref {decision.key}",))
    if result is not None and result.outcome is Outcome.PLACED:
        return Reply(
            f"✅ Approved by {who}: order placed",
            (
                f"{shares(result.size)} shares, filled {shares(result.filled)}",
                f"Order {result.order_id or '-'} · ref {decision.key}",
            ),
        )
    if result is not None:
        why = f" ({result.rule})" if result.rule else ""
        return Reply(
            f"⚠️ Approved by {who}, but not traded: {result.outcome.value}{why}",
            (result.message or decision.message, f"Ref {decision.key}"),
        )
    return Reply(f"Approval {decision.status}", (decision.message, f"Ref {decision.key}"))


def pending(requests: Sequence[ApprovalRequest], now: datetime) -> Reply:
    if not requests:
        return Reply("No trades waiting for approval.")
    lines, rows = [], []
    for i, request in enumerate(requests, 1):
        lines.append(
            f"{i}. {market_name(request.question, request.outcome, request.market)}: "
            f"{request.side.value} {shares(request.size)} @ {price(request.limit_price)} "
            f"({money(request.notional)}), expires in {time_left(request, now)}"
        )
        rows.append(
            (
                Button(f"✅ {i}", f"decide {request.key} approve"),
                Button(f"½ {i}", f"decide {request.key} half"),
                Button(f"❌ {i}", f"decide {request.key} reject"),
            )
        )
    return Reply(
        f"{len(requests)} trade(s) waiting for approval", tuple(lines), buttons=tuple(rows)
    )


# limits -------------------------------------------------------------------------------


def limits(values: RiskLimits) -> Reply:
    data = values.to_json()
    width = max(len(name) for name in data)
    lines = [f"{name:<{width}}  {value}" for name, value in data.items()]
    lines.append("Change one with /set <limit> <value> (asks to confirm).")
    return Reply("Risk limits", tuple(lines))


def setting_changed(change: SettingChange) -> Reply:
    return Reply(f"Set {change.name}: {change.before} → {change.after}")


def strategies(views: Sequence[StrategyView]) -> Reply:
    """One line per strategy: its stage, whether it trades in this mode, what it has done."""
    if not views:
        return Reply("No strategies are known.")
    return Reply("Strategies", tuple(_strategy_line(view) for view in views))


def _strategy_line(view: StrategyView) -> str:
    runs = "trades now" if view.trades_now else "not trading in this mode"
    record = view.record
    if record.orders == 0:
        done = "no orders yet"
    else:
        done = (
            f"{record.orders} order{'' if record.orders == 1 else 's'}, "
            f"{record.filled_orders} filled, {money(record.traded_notional)} traded, "
            f"fees {money(record.fees)}"
        )
    return f"{view.name}: {view.stage} ({runs}) · {done}"

"""The daily report as chat text: short lines for a phone, what needs the operator first.

Times are shown in the operator's zone; amounts in USD with two decimals and a sign where a
change is meant. No markup: transports escape.
"""

from __future__ import annotations

from decimal import Decimal
from zoneinfo import ZoneInfo

from trader.domain import DrawdownMode, TradingState
from trader.reports.metrics import duration, truncate
from trader.reports.model import LlmLine, PositionLine, ReportData

MAX_POSITIONS = 5
MAX_MODELS = 3
MAX_ATTENTION = 6
QUESTION_CHARS = 32


def usd(value: Decimal) -> str:
    return f"-${-value:,.2f}" if value < 0 else f"${value:,.2f}"


def cost_usd(value: Decimal) -> str:
    """Small costs keep four decimals: an LLM day can cost less than a cent."""
    return f"${value:,.4f}" if 0 < value < Decimal("0.1") else usd(value)


def signed_usd(value: Decimal) -> str:
    return f"-${-value:,.2f}" if value < 0 else f"+${value:,.2f}"


def percent(value: Decimal, digits: int = 1) -> str:
    return f"{value * 100:.{digits}f}%"


def tokens(count: int) -> str:
    if count >= 1_000_000:
        return f"{count / 1_000_000:.1f}M"
    if count >= 1_000:
        return f"{count / 1_000:.1f}k"
    return str(count)


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def report_text(data: ReportData) -> str:
    zone = ZoneInfo(data.window.zone)
    title = f"📊 Polyops daily report: {data.window.day:%a %d %b %Y}"
    sections = [
        [title, f"Operator day in {data.window.zone} ({data.window.hours:g} h)"],
        _attention(data, zone),
        _money(data),
        _positions(data),
        _forecasts_and_llm(data),
        _health(data, zone),
    ]
    return "\n\n".join("\n".join(lines) for lines in sections if lines)


def _attention(data: ReportData, zone: ZoneInfo) -> list[str]:
    need = data.attention
    items: list[str] = []
    if need.trading_state is not TradingState.RUNNING:
        reason = f": {truncate(need.state_reason, 60)}" if need.state_reason else ""
        items.append(f"Trading {need.trading_state.value}{reason}")
    if data.equity is not None and data.equity.mode is not DrawdownMode.FULL:
        items.append(
            f"Risk mode {data.equity.mode.value} (drawdown {percent(data.equity.drawdown)})"
        )
    items += [f"Approve? {line}" for line in need.pending_approvals]
    items += [f"Reconcile: {line}" for line in need.reconciliation]
    items += list(need.stale_heartbeats)
    if not items:
        return ["✅ Nothing needs you."]
    shown = [f"• {item}" for item in items[:MAX_ATTENTION]]
    if len(items) > MAX_ATTENTION:
        shown.append(f"• … and {len(items) - MAX_ATTENTION} more")
    return [f"⚠️ Needs you ({len(items)})", *shown]


REALISABLE = (
    "Equity values positions at their bids, net of the sale's fee (what selling now would "
    "realise); deposits and withdrawals are not PnL"
)


def _money(data: ReportData) -> list[str]:
    lines: list[str] = []
    equity = data.equity
    if equity is None:
        lines.append("Equity: no snapshot yet")
    else:
        day = "" if equity.day_pnl is None else f" · day {signed_usd(equity.day_pnl)}"
        lines.append(f"Equity {usd(equity.equity)}{day}")
        lines.append(
            f"Drawdown {percent(equity.drawdown)} · risk {equity.mode.value}"
            f" · cash {usd(equity.cash)}"
        )
        lines.append(REALISABLE)
    trades = data.trades
    if trades.count:
        lines.append(
            f"Trades {trades.count} ({trades.buys} buy, {trades.sells} sell) {usd(trades.value)}"
        )
    else:
        lines.append("Trades: none")
    settled = f" ({plural(trades.settlements, 'settlement')})" if trades.settlements else ""
    expected = data.expected
    exp = ""
    if expected.forecasted:
        exp = f" · expected {signed_usd(expected.value)}"
        if expected.unforecasted:
            exp += f" ({plural(expected.unforecasted, 'buy')} without a forecast)"
    lines.append(f"Realized {signed_usd(trades.realized)}{settled}{exp}")
    rate = data.win_rate.rate
    if rate is None:
        lines.append(f"Win rate {data.win_rate.days} d: no closed trades")
    else:
        lines.append(
            f"Win rate {data.win_rate.days} d {percent(rate, 0)}"
            f" ({data.win_rate.wins} W / {data.win_rate.losses} L)"
        )
    return lines


def _position_line(p: PositionLine) -> str:
    name = truncate(p.question or p.market or p.token_id, QUESTION_CHARS)
    if p.mark is None:
        mark = " at cost"
    elif p.mark_source == "live":  # valued at its bids; the mark shown is the mid
        mark = f" mid {p.mark:.2f}"
    else:
        mark = f"→{p.mark:.2f}"
    pnl = signed_usd(p.unrealized)
    return f"• {name} {p.outcome} {p.size:,.0f} @ {p.average_price:.2f}{mark} {pnl}"


def _positions(data: ReportData) -> list[str]:
    if not data.positions:
        return ["Open positions: none"]
    head = (
        f"Open positions {len(data.positions)} · value "
        f"{usd(sum((p.value for p in data.positions), Decimal(0)))}"
        f" · unrealized {signed_usd(data.unrealized)}"
    )
    lines = [head, *(_position_line(p) for p in data.positions[:MAX_POSITIONS])]
    if len(data.positions) > MAX_POSITIONS:
        lines.append(f"• … and {len(data.positions) - MAX_POSITIONS} more")
    return lines


def _llm_line(line: LlmLine) -> str:
    failed = f", {line.failed} failed" if line.failed else ""
    return f"• {line.model} {cost_usd(line.cost)} · {plural(line.calls, 'call')}{failed}"


def _forecasts_and_llm(data: ReportData) -> list[str]:
    score = data.forecasts
    lines = [f"Forecasts resolved: {score.resolved_in_day}"]
    if score.model_brier is not None and score.market_brier is not None:
        verdict = "better" if score.model_brier < score.market_brier else "not better"
        lines.append(
            f"Brier {score.days} d: model {score.model_brier:.3f} vs market "
            f"{score.market_brier:.3f} (n {score.scored}, {verdict})"
        )
    if score.blend_brier is not None:
        lines.append(
            f"Brier {score.days} d of the blend: {score.blend_brier:.3f} (n {score.blend_scored})"
        )
    if score.fit:
        lines.append(f"Calibration: {score.fit}")
    if not data.llm:
        lines.append("LLM: no calls")
        return lines
    calls = sum(line.calls for line in data.llm)
    used = sum(line.tokens for line in data.llm)
    lines.append(f"LLM {cost_usd(data.llm_cost)} · {plural(calls, 'call')} · {tokens(used)} tokens")
    lines += [_llm_line(line) for line in data.llm[:MAX_MODELS]]
    return lines


def _health(data: ReportData, zone: ZoneInfo) -> list[str]:
    alerts = data.alerts
    lines: list[str] = []
    if alerts.total:
        parts = [
            f"{n} {name}"
            for n, name in (
                (alerts.critical, "critical"),
                (alerts.warning, "warning"),
                (alerts.info, "info"),
            )
            if n
        ]
        top = f" · {truncate(alerts.titles[0], 40)}" if alerts.titles else ""
        lines.append(f"Alerts {alerts.total}: {', '.join(parts)}{top}")
    else:
        lines.append("Alerts: none")
    up = data.uptime
    if up.fraction is None:
        lines.append("Uptime: no liveness data for the day")
    else:
        text = f"Uptime {percent(up.fraction)}"
        if up.restarts:
            text += f" · {plural(up.restarts, 'restart')}"
        if up.longest_gap_at is not None:
            at = up.longest_gap_at.astimezone(zone).strftime("%H:%M")
            text += f" · longest gap {duration(up.longest_gap)} at {at}"
        lines.append(text)
    return lines

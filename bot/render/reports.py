"""Text for the report, chart and signals replies. Plain text only (transports escape every
dynamic part, so a question with `<`, `&` or `*` arrives as written); times in the
operator's zone via `render.local`.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from bot.render.common import RenderContext
from bot.render.trading import percent, short
from bot.reply import Reply
from trader.control.api import BrierView, MarketSignal, ReportView, SignalsView

MAX_SIGNAL_MARKETS = 30
_QUESTION = 70
_REASON = 160
_DECISION = {"trade": "✅ TRADE", "skip": "· skip"}


def report(view: ReportView) -> Reply:
    """The report's first line is the title; the dashboard goes with it as a photo."""
    title, _, rest = view.text.partition("\n")
    return Reply(
        title or "Daily report", tuple(rest.split("\n")) if rest else (), images=(view.image_path,)
    )


def chart(kind: str, window_days: int, path: Path) -> Reply:
    return Reply(f"📈 {kind} · last {window_days} day(s)", images=(path,))


def signals(view: SignalsView, ctx: RenderContext) -> Reply:
    model = f"{view.model} ({view.model_name})" if view.model_name else view.model
    head = [f"Model: {model} — {view.model_reason}"]
    if view.last_error:
        head.append(f"⚠️ The latest cycle failed: {short(view.last_error, _REASON)}")
    if view.ran_at is None:
        return Reply("🧠 No signal cycle has completed yet.", tuple(head))
    head += [
        f"{view.candidates} markets offered · {view.selected} selected · {view.analysed} "
        f"analysed · {view.intents} intent(s) · took {view.duration_s:.1f}s",
        f"LLM this cycle: {view.llm_calls} call(s) · {_cost(view.llm_cost)}"
        + (
            f" · {_cost(view.cost_per_analysed)} per analysed market"
            if view.cost_per_analysed is not None
            else ""
        ),
    ]
    if view.screened_out or view.screen_cost:
        head.append(
            f"Screen: {view.screened_out} kept from the deep analysis · {_cost(view.screen_cost)}"
        )
    if view.brier is not None:
        head.append(_brier(view.brier))
    if view.calibration:
        head.append(f"Calibration: {view.calibration}")
    head += [f"⚠️ Heuristic instead of the LLM: {why} ×{n}" for why, n in view.fallbacks]
    if view.news_error:
        head.append(f"⚠️ News failed, triaged without news: {short(view.news_error, _REASON)}")
    if not view.markets:
        head.append("No market passed the selection.")
    lines = head + [
        line for i, m in enumerate(view.markets[:MAX_SIGNAL_MARKETS], 1) for line in _market(i, m)
    ]
    if len(view.markets) > MAX_SIGNAL_MARKETS:
        lines.append(f"… and {len(view.markets) - MAX_SIGNAL_MARKETS} more market(s)")
    return Reply(f"🧠 Signals: last cycle {ctx.local(view.ran_at)}", tuple(lines))


def _market(number: int, market: MarketSignal) -> tuple[str, str, str]:
    decision = _DECISION.get(market.decision, market.decision)
    question = short(market.question, _QUESTION) if market.question else market.market[:16]
    figures = (
        f"   model {percent(market.model_probability)} | market "
        f"{percent(market.market_probability)} | edge {_points(market.edge)}"
        + (f" | {market.source}" if market.source else "")
    )
    reason = short(market.reason, _REASON) or "no reason given"
    if market.screen and not market.reason.startswith("screened out"):
        reason += f" · screen: {short(market.screen, _REASON)} ({_cost(market.screen_cost)})"
    elif market.screen:
        reason += f" ({_cost(market.screen_cost)})"
    if market.retrieval:
        reason += f" · news search: {short(market.retrieval, _REASON)}"
    return (
        f"{number}. {decision} {question}",
        figures,
        f"   {reason}",
    )


def _brier(brier: BrierView) -> str:
    def score(value: Decimal | None) -> str:
        return "n/a" if value is None else f"{value:.3f}"

    return (
        f"Brier {brier.days} d: model {score(brier.model)} · market {score(brier.market)} · "
        f"blend {score(brier.blend)} (n {brier.count}; blend n {brier.blend_count})"
    )


def _points(edge: Decimal | None) -> str:
    return "n/a" if edge is None else f"{edge * 100:+.1f} pts"


def _cost(value: Decimal) -> str:
    """Small costs keep four decimals: a cycle can cost less than a cent."""
    return f"${value:,.4f}" if value < Decimal("0.1") else f"${value:,.2f}"

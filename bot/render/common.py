"""Text for replies and alerts, in the operator's terms. No markup: transports escape and style.

Times are stored in UTC and shown in the operator's time zone only here, through the
`RenderContext` each renderer that shows a time is handed (there is no process-wide zone).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from decimal import Decimal

from bot.reply import Reply
from trader.control.api import EventLine, StatusSnapshot
from trader.domain import TradingMode

TELEGRAM_LIMIT = 4096


@dataclass(frozen=True, slots=True)
class RenderContext:
    """What a renderer needs beyond the data it shows: the operator's time zone
    (`OPERATOR_TZ`). The command core and the notifier each hold one and hand it over."""

    zone: tzinfo

    def local(self, when: datetime | None) -> str:
        """A UTC timestamp as the operator reads it, e.g. "2026-01-15 07:00 EST"."""
        if when is None:
            return "never"
        return when.astimezone(self.zone).strftime("%Y-%m-%d %H:%M %Z")


def age(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"


def status(snapshot: StatusSnapshot, ctx: RenderContext) -> Reply:
    """Fits one phone screen: components are summarised, counts have their plural forms."""
    lines = [
        f"Mode: {snapshot.mode.value} · Trading: {snapshot.trading_state.value}"
        + (f" ({snapshot.state_reason})" if snapshot.state_reason else ""),
        f"Approval mode: {'on' if snapshot.approval_mode else 'off'}"
        + (f" · {snapshot.pending_approvals} waiting" if snapshot.pending_approvals else ""),
    ]
    if snapshot.mode is TradingMode.LIVE or snapshot.allow_heuristic_live:
        lines.append(
            "Heuristic forecasts in live mode: "
            + (
                "traded (allow_heuristic_live on)"
                if snapshot.allow_heuristic_live
                else "not traded"
            )
        )
    trading = snapshot.trading_strategies
    lines.append(
        f"Strategies trading: {', '.join(trading)}"
        if trading
        else f"Strategies trading: none at a stage for {snapshot.mode.value} mode (/strategies)"
    )
    book = snapshot.portfolio
    if book is not None:
        lines += [
            f"Equity {usd(book.equity)} (positions at their bids) · cash {usd(book.cash)}"
            f" · exposure {usd(book.exposure)}",
            f"Today {usd(book.day_pnl, sign=True)} · drawdown {book.drawdown * 100:.1f}% "
            f"({book.drawdown_mode.value}) · {plural(book.open_positions, 'position')}, "
            f"{plural(book.open_orders, 'order')}",
        ]
    if snapshot.last_cycle_at or snapshot.next_cycle_at:
        lines.append(
            f"Cycle: last {ctx.local(snapshot.last_cycle_at)}, "
            f"next {ctx.local(snapshot.next_cycle_at)}"
        )
    lines.append(llm_line(snapshot))
    lines.append(
        f"Up: {age(snapshot.now - snapshot.started_at)} (pid {snapshot.pid}, v{snapshot.version})"
    )
    if snapshot.components:
        lines.append(components_line(snapshot.components))
    return Reply("Polyops status", tuple(lines))


def llm_line(snapshot: StatusSnapshot) -> str:
    spent, budget = snapshot.llm_spend_today, snapshot.llm_budget
    if not budget:  # no key (or a zero budget): nothing is spent, the heuristic forecasts
        if spent:
            return f"LLM today {usd(spent)} (no daily budget left)"
        return "LLM: off (no API key or no budget): heuristic forecasts only"
    return f"LLM today {usd(spent)} of {usd(budget)} budget"


def components_line(components: dict[str, str]) -> str:
    """'Components: 16 running', or the count running and the ones that are not."""
    bad = sorted((name, state) for name, state in components.items() if state not in _HEALTHY)
    running = len(components) - len(bad)
    text = f"Components: {running} running"
    if bad:
        text += " · " + ", ".join(f"{name} {state}" for name, state in bad)
    return text


def plural(count: int, noun: str, plural_form: str | None = None) -> str:
    """'1 order', '2 orders', '0 orders'."""
    word = noun if count == 1 else (plural_form or noun + "s")
    return f"{count} {word}"


def usd(value: Decimal | None, *, sign: bool = False) -> str:
    return _usd(value, sign=sign)


def _usd(value: Decimal | None, *, sign: bool = False) -> str:
    if value is None:
        return "n/a"
    prefix = "-" if value < 0 else ("+" if sign and value > 0 else "")
    return f"{prefix}${abs(value):,.2f}"


def health(snapshot: StatusSnapshot) -> Reply:
    components = sorted(snapshot.components.items())
    bad = [name for name, state in components if state not in _HEALTHY]
    lines = [f"{'✅' if name not in bad else '❌'} {name}: {state}" for name, state in components]
    if snapshot.heartbeat_age_s is not None:
        lines.append(f"Heartbeat: {age(timedelta(seconds=snapshot.heartbeat_age_s))} ago")
    if snapshot.feed_age_s is not None:
        lines.append(f"Market feed: last book {age(timedelta(seconds=snapshot.feed_age_s))} ago")
    if snapshot.llm_budget is not None:
        lines.append(
            f"LLM spend today {_usd(snapshot.llm_spend_today)} of {_usd(snapshot.llm_budget)}"
        )
    lines.append(
        f"Trading: {snapshot.trading_state.value} · up {age(snapshot.now - snapshot.started_at)}"
    )
    title = "Health: all components running" if not bad else f"Health: {len(bad)} need attention"
    return Reply(title, tuple(lines))


_HEALTHY = frozenset({"running", "polling", "webhook", "ok", "finished"})


def events(rows: Sequence[EventLine], ctx: RenderContext) -> Reply:
    if not rows:
        return Reply("No events yet.")
    lines = [
        f"#{row.seq} {ctx.local(row.at)} {row.type} by {row.actor or '-'}"
        + (f": {row.summary}" if row.summary else "")
        for row in rows
    ]
    return Reply(f"Last {len(rows)} events", tuple(lines))


def utf16_length(text: str) -> int:
    """Telegram counts message length in UTF-16 code units (an emoji may count twice)."""
    return len(text.encode("utf-16-le")) // 2


def split_message(
    text: str, limit: int = TELEGRAM_LIMIT, measure: Callable[[str], int] = len
) -> list[str]:
    """Split at line boundaries so every part measures at most `limit`.

    A single line longer than the limit is cut inside (nothing is dropped). Parts keep
    their order; joining them with newlines gives the text back.
    """
    if measure(text) <= limit:  # the usual reply: one part, as the loop below would give
        return [text]
    parts: list[str] = []
    current: str | None = None
    for line in text.split("\n"):
        for piece in _cut(line, limit, measure):
            candidate = piece if current is None else f"{current}\n{piece}"
            if measure(candidate) <= limit:
                current = candidate
                continue
            if current is not None:
                parts.append(current)
            current = piece
    parts.append(current or "")
    return parts


def _cut(line: str, limit: int, measure: Callable[[str], int]) -> list[str]:
    if measure(line) <= limit:
        return [line]
    pieces: list[str] = []
    while measure(line) > limit:
        size = min(len(line), limit)
        while size > 1 and measure(line[:size]) > limit:
            size -= max(1, (measure(line[:size]) - limit) // 2)
        pieces.append(line[:size])
        line = line[size:]
    pieces.append(line)
    return pieces

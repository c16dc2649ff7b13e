"""Text for the hub: one compact line per instance, tags, and the `all` commands' answers.

A line fits a phone's width: a dot for the state, the name, the mode, the state, equity and
today's PnL, then what needs a look (pending approvals, open orders). An instance that did not
answer gets a red line saying so; the total counts only those that answered.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import replace
from decimal import Decimal
from functools import partial

from bot.render.common import plural, usd
from bot.reply import Button, Reply
from trader.control.api import (
    ControlError,
    KillReport,
    StateChange,
    StatusSnapshot,
)
from trader.domain import TradingState

_DOT = {
    TradingState.RUNNING: "🟢",
    TradingState.PAUSED: "🟡",
    TradingState.HALTED: "🟠",
    TradingState.KILLED: "🔴",
}
NOT_ANSWERING = "not answering"


def tag(name: str, text: str) -> str:
    return f"[{name}] {text}"


def tagged(name: str, reply: Reply) -> Reply:
    """A reply from one instance: its title names it and every button comes back to it; so
    does every reply that follows it (`/backtest`'s progress edits and its chart)."""
    buttons = tuple(
        tuple(Button(button.label, f"{button.data} @{name}") for button in row)
        for row in reply.buttons
    )
    follow = reply.follow
    return replace(
        reply,
        title=tag(name, reply.title),
        buttons=buttons,
        follow=None if follow is None else partial(_tagged_all, name, follow),
    )


async def _tagged_all(
    name: str, follow: Callable[[], AsyncIterator[Reply]]
) -> AsyncIterator[Reply]:
    async for update in follow():
        yield tagged(name, update)


def line(name: str, answer: StatusSnapshot | ControlError) -> str:
    if not isinstance(answer, StatusSnapshot):
        return f"⚫ {name} · {NOT_ANSWERING}"
    parts = [
        f"{_DOT.get(answer.trading_state, '⚪')} {name}",
        answer.mode.value,
        answer.trading_state.value,
    ]
    book = answer.portfolio
    if book is not None:
        parts += [usd(book.equity), f"today {usd(book.day_pnl, sign=True)}"]
        if book.open_orders:
            parts.append(plural(book.open_orders, "order"))
    if answer.pending_approvals:
        parts.append(f"{answer.pending_approvals} to approve")
    return " · ".join(parts)


def summary(answers: Mapping[str, StatusSnapshot | ControlError]) -> Reply:
    lines = [line(name, answer) for name, answer in answers.items()]
    up = [a for a in answers.values() if isinstance(a, StatusSnapshot)]
    books = [a.portfolio for a in up if a.portfolio is not None]
    equity = sum((b.equity for b in books), Decimal(0))
    today = sum((b.day_pnl for b in books), Decimal(0))
    total = f"Total {usd(equity)} · today {usd(today, sign=True)}"
    if len(up) < len(answers):
        total += f" · {len(up)} of {plural(len(answers), 'instance')} answering"
    lines.append(total)
    lines.append("Details: /status <instance>")
    return Reply(f"Polyops · {plural(len(answers), 'instance')}", tuple(lines))


def each(title: str, answers: Mapping[str, StateChange | ControlError]) -> Reply:
    lines = []
    for name, answer in answers.items():
        if isinstance(answer, StateChange):
            done = "done" if answer.changed else "already"
            lines.append(f"{name}: {answer.after.value} ({done})")
        else:
            lines.append(f"{name}: refused: {answer}")
    return Reply(title, tuple(lines))


def kill_all_prompt(answers: Mapping[str, StatusSnapshot | ControlError]) -> Reply:
    lines = ["This cancels every open order and halts trading on each of:"]
    for name, answer in answers.items():
        if isinstance(answer, StatusSnapshot):
            orders = answer.portfolio.open_orders if answer.portfolio else 0
            lines.append(
                f"• {name} ({answer.mode.value}, {answer.trading_state.value}, "
                f"{plural(orders, 'open order')})"
            )
        else:
            lines.append(f"• {name} (not answering now: it will be tried)")
    lines.append("Each stays KILLED until /rearm <instance>. Positions are kept.")
    return Reply(f"⚠️ Kill ALL {plural(len(answers), 'instance')}: confirm", tuple(lines))


def kill_all_report(answers: Mapping[str, KillReport | ControlError]) -> Reply:
    lines = []
    failed = 0
    for name, answer in answers.items():
        if isinstance(answer, KillReport):
            lines.append(
                f"{name}: {answer.state.value}, cancelled {plural(answer.canceled, 'order')}"
                + (f", {answer.open_orders_left} still open!" if answer.open_orders_left else "")
            )
        else:
            failed += 1
            lines.append(f"{name}: NOT KILLED: {answer}")
    title = "🛑 Killed every instance" if not failed else f"⚠️ {failed} not killed"
    return Reply(title, (*lines, "Trade again with /rearm <instance>."))

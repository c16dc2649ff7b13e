"""Read-only commands (viewer role): what the trader is doing and has done."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from bot.commands.base import Command, UsageError, choice_arg, int_arg
from bot.render import common as render
from bot.render import reports as render_reports
from bot.render import trading as render_trading
from bot.render import why as render_why
from bot.reply import Button, Reply, Role
from trader.control.api import CHART_KINDS, MAX_CHART_DAYS, PnlPeriod
from trader.domain import Actor

if TYPE_CHECKING:
    from bot.commands.core import CommandCore

_PERIODS = [period.value for period in PnlPeriod]


class ReadCommands:
    def __init__(self, core: CommandCore) -> None:
        self._context = core.context

    async def status(self, actor: Actor, args: list[str]) -> Reply:
        if args:
            raise UsageError("/status takes no arguments.")
        snapshot = await self._context.control.status(actor)
        reply = render.status(snapshot, self._context.render)
        buttons = [Button("🔄 Refresh", "status")]
        if snapshot.pending_approvals:
            buttons.append(Button(f"🗳 Pending ({snapshot.pending_approvals})", "pending"))
        return Reply(reply.title, reply.lines, buttons=(tuple(buttons),))

    async def health(self, actor: Actor, args: list[str]) -> Reply:
        return render.health(await self._context.control.status(actor))

    async def events(self, actor: Actor, args: list[str]) -> Reply:
        n = int_arg(args, default=10, low=1, high=100, what="number of events")
        return render.events(
            await self._context.control.recent_events(actor, n), self._context.render
        )

    async def positions(self, actor: Actor, args: list[str]) -> Reply:
        return render_trading.positions(await self._context.control.positions(actor))

    async def orders(self, actor: Actor, args: list[str]) -> Reply:
        return render_trading.orders(await self._context.control.open_orders(actor))

    async def pnl(self, actor: Actor, args: list[str]) -> Reply:
        period = choice_arg(args, _PERIODS, default="day", what="period")
        report = await self._context.control.pnl(actor, PnlPeriod(period))
        return render_trading.pnl(report, self._context.render)

    async def pending(self, actor: Actor, args: list[str]) -> Reply:
        requests = await self._context.control.pending_approvals(actor)
        return render_trading.pending(requests, self._context.clock.now())

    async def limits(self, actor: Actor, args: list[str]) -> Reply:
        return render_trading.limits(await self._context.control.limits(actor))

    async def signals(self, actor: Actor, args: list[str]) -> Reply:
        if args:
            raise UsageError("/signals takes no arguments.")
        return render_reports.signals(
            await self._context.control.signals(actor), self._context.render
        )

    async def report(self, actor: Actor, args: list[str]) -> Reply:
        day = _day_arg(args)
        return render_reports.report(await self._context.control.report(actor, day))

    async def chart(self, actor: Actor, args: list[str]) -> Reply:
        kind = choice_arg(args[:1], CHART_KINDS, default=None, what="chart")
        days = int_arg(args[1:], default=30, low=1, high=MAX_CHART_DAYS, what="number of days")
        path = await self._context.control.chart(actor, kind, days)
        return render_reports.chart(kind, days, path)

    async def why(self, actor: Actor, args: list[str]) -> Reply:
        control = self._context.control
        if args and args[0].casefold() == "denied":
            limit = int_arg(args[1:], default=5, low=1, high=20, what="number of denials")
            return render_why.denials(await control.why_denied(actor, limit), self._context.render)
        ref = " ".join(args).strip() or None
        if ref is not None and len(ref) > _MAX_REF:
            raise UsageError(f"That reference is too long (at most {_MAX_REF} characters).")
        return render_why.chain(await control.why(actor, ref), self._context.render)


_MAX_REF = 100


def _day_arg(args: list[str]) -> date | None:
    if not args:
        return None
    if len(args) > 1:
        raise UsageError("Give at most one day, like 2026-03-08.")
    try:
        return date.fromisoformat(args[0])
    except ValueError:
        raise UsageError(f"Not a day: {args[0][:20]!r}; write it like 2026-03-08.") from None


def install(core: CommandCore) -> None:
    read = ReadCommands(core)
    viewer = Role.VIEWER
    for command in (
        Command(
            "status",
            viewer,
            "trading state, money, cycles",
            "/status",
            read.status,
            feature="status",
        ),
        Command(
            "health",
            viewer,
            "components, heartbeat, feed, LLM spend",
            "/health",
            read.health,
            feature="status",
        ),
        Command("events", viewer, "the last events", "/events [n]", read.events, feature="status"),
        Command(
            "positions", viewer, "open positions", "/positions", read.positions, feature="trading"
        ),
        Command("orders", viewer, "open orders", "/orders", read.orders, feature="trading"),
        Command(
            "pnl", viewer, "profit and loss", "/pnl [day|week|month]", read.pnl, feature="trading"
        ),
        Command(
            "pending",
            viewer,
            "trades waiting for approval",
            "/pending",
            read.pending,
            feature="approvals",
        ),
        Command("limits", viewer, "the risk limits", "/limits", read.limits, feature="settings"),
        Command(
            "signals",
            viewer,
            "the last signal cycle: model, edges, decisions",
            "/signals",
            read.signals,
            feature="reports",
        ),
        Command(
            "report",
            viewer,
            "the daily report with its dashboard (yesterday by default)",
            "/report [YYYY-MM-DD]",
            read.report,
            feature="reports",
        ),
        Command(
            "why",
            viewer,
            "why the trader did it: the chain behind a decision",
            "/why [order id | approval ref | market | denied]",
            read.why,
            feature="reports",
        ),
        Command(
            "chart",
            viewer,
            "one chart as an image",
            f"/chart <{'|'.join(CHART_KINDS)}> [days]",
            read.chart,
            feature="reports",
        ),
    ):
        core.register(command)

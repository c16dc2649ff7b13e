"""Control commands (operator role): pause, resume, kill, re-arm, cancel, approvals, cycles.

Destructive ones take two steps: the command answers with what would happen and buttons;
only the button (bound to this request, this user, and a short expiry) acts. `/kill` offers
"cancel orders and halt" or "cancel, flatten and halt"; flatten shows the per-position exit
preview and asks once more.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from bot.commands.base import Command, choice_arg, confirm_buttons, notice, token_arg
from bot.confirm import Pending
from bot.render import trading as render_trading
from bot.reply import Reply, Role
from trader.control.api import ApprovalDecision, ControlError
from trader.domain import Actor, TradingState

if TYPE_CHECKING:
    from bot.commands.core import CommandCore

_STOPPED = (TradingState.KILLED, TradingState.HALTED)


class ControlCommands:
    def __init__(self, core: CommandCore) -> None:
        self._context = core.context
        self._deciding: set[str] = set()

    async def pause(self, actor: Actor, args: list[str]) -> Reply:
        change = await self._context.control.pause(actor, " ".join(args)[:200])
        if not change.changed:
            return Reply("Already paused.", (f"Reason: {change.reason}",))
        return Reply("Paused: no new entries.", (f"Reason: {change.reason}", "Resume with /resume"))

    async def resume(self, actor: Actor, args: list[str]) -> Reply:
        change = await self._context.control.resume(actor)
        return Reply("Resumed: trading." if change.changed else "Already running.")

    async def cancel(self, actor: Actor, args: list[str]) -> Reply:
        order_id = token_arg(args, "order id")
        await self._context.control.cancel_order(actor, order_id)
        return Reply(f"Cancelled order {order_id}.")

    async def cycle(self, actor: Actor, args: list[str]) -> Reply:
        outcome = await self._context.control.run_cycle(actor)
        return Reply("Signal cycle run.", (outcome,) if outcome else ())

    # kill -----------------------------------------------------------------------------

    async def kill(self, actor: Actor, args: list[str]) -> Reply:
        reason = " ".join(args)[:200]
        confirmations = self._context.confirmations
        confirmations.cancel_for(actor, "kill")
        try:
            preview = await self._context.control.preview_kill(actor)
        except ControlError as error:  # the kill itself must stay reachable
            pending = confirmations.issue("kill", actor, {"cancel", "abort"}, reason=reason)
            return Reply(
                "⚠️ Kill switch: confirm",
                (f"No preview ({error}).", "Trading stays KILLED until /rearm."),
                buttons=confirm_buttons(pending.token, ("🛑 Cancel orders and halt", "cancel")),
            )
        pending = confirmations.issue("kill", actor, {"cancel", "flatten", "abort"}, reason=reason)
        prompt = render_trading.kill_prompt(preview)
        return Reply(
            prompt.title,
            prompt.lines,
            buttons=confirm_buttons(
                pending.token,
                ("🛑 Cancel orders and halt", "cancel"),
                ("🔻 Cancel, flatten and halt", "flatten"),
            ),
        )

    async def on_kill(self, pending: Pending, choice: str, actor: Actor) -> Reply:
        reason = str(pending.payload.get("reason", ""))
        if choice == "cancel":
            report = await self._context.control.kill(actor, flatten=False, reason=reason)
            return render_trading.kill_report(report)
        preview = await self._context.control.preview_kill(actor)
        step = self._context.confirmations.issue(
            "flatten",
            actor,
            {"confirm", "abort"},
            reason=reason,
            slippage=str(preview.slippage_cap),
        )
        shown = render_trading.flatten_preview(preview)
        return Reply(
            shown.title,
            shown.lines,
            buttons=confirm_buttons(
                step.token, ("🔻 Confirm: cancel, flatten and halt", "confirm")
            ),
        )

    async def on_flatten(self, pending: Pending, choice: str, actor: Actor) -> Reply:
        report = await self._context.control.kill(
            actor,
            flatten=True,
            reason=str(pending.payload.get("reason", "")),
            slippage=Decimal(str(pending.payload["slippage"])),
        )
        return render_trading.kill_report(report)

    # re-arm ---------------------------------------------------------------------------

    async def rearm(self, actor: Actor, args: list[str]) -> Reply:
        snapshot = await self._context.control.status(actor)
        if snapshot.trading_state not in _STOPPED:
            return Reply(f"Nothing to re-arm: trading is {snapshot.trading_state.value}.")
        confirmations = self._context.confirmations
        confirmations.cancel_for(actor, "rearm")
        pending = confirmations.issue("rearm", actor, {"rearm", "abort"})
        since = self._context.render.local(snapshot.state_changed_at)
        return Reply(
            f"Re-arm trading? It is {snapshot.trading_state.value}.",
            (
                f"Since {since} by {snapshot.state_changed_by or '-'}: "
                f"{snapshot.state_reason or 'no reason given'}",
                "Re-arming lets the strategies place orders again.",
            ),
            buttons=confirm_buttons(pending.token, ("✅ Re-arm", "rearm")),
        )

    async def on_rearm(self, pending: Pending, choice: str, actor: Actor) -> Reply:
        change = await self._context.control.rearm(actor)
        if not change.changed:
            return Reply(f"Nothing re-armed: trading is {change.after.value}.")
        return Reply(f"Re-armed: trading {change.after.value}.", (change.reason,))

    # approvals ------------------------------------------------------------------------

    async def approval_mode(self, actor: Actor, args: list[str]) -> Reply:
        if not args:
            on = (await self._context.control.status(actor)).approval_mode
            return Reply(f"Approval mode is {'on' if on else 'off'}.", ("Change: /approve on|off",))
        wanted = choice_arg(args, ["on", "off"], default=None, what="approval mode")
        change = await self._context.control.set_approval_mode(actor, wanted == "on")
        explain = (
            "Every trade now waits for an operator's approval."
            if wanted == "on"
            else "Trades go to the market without asking."
        )
        return Reply(f"Approval mode {change.before} → {change.after}.", (explain,))

    async def decide(self, actor: Actor, args: list[str]) -> Reply:
        if len(args) != 2:
            return notice("This approval button is not valid.")
        key = token_arg(args[:1], "approval reference")
        choice = args[1].casefold()
        if choice not in ("approve", "half", "reject"):
            return notice("This approval button is not valid.")
        if key in self._deciding:
            return notice("Already being handled.")
        self._deciding.add(key)
        try:
            decision = await self._decide(actor, key, choice)
        finally:
            self._deciding.discard(key)
        if decision is None or not decision.acted:
            return notice(f"Nothing done: {decision.message if decision else 'no longer pending'}.")
        reply = render_trading.approval_decision(decision, actor.name or str(actor))
        if self._context.notifier is not None:
            await self._context.notifier.close_approval(key, reply)
        return reply

    async def _decide(self, actor: Actor, key: str, choice: str) -> ApprovalDecision | None:
        control = self._context.control
        if choice == "reject":
            return await control.reject(actor, key)
        if choice == "approve":
            return await control.approve(actor, key)
        requests = await control.pending_approvals(actor)
        request = next((r for r in requests if r.key == key), None)
        if request is None:
            return None
        return await control.approve(actor, key, request.size / 2)


def install(core: CommandCore) -> None:
    control = ControlCommands(core)
    operator = Role.OPERATOR
    for command in (
        Command(
            "pause",
            operator,
            "stop new entries",
            "/pause [reason]",
            control.pause,
            feature="control",
        ),
        Command(
            "resume",
            operator,
            "allow new entries again",
            "/resume",
            control.resume,
            feature="control",
        ),
        Command(
            "kill",
            operator,
            "cancel everything (optionally flatten) and halt",
            "/kill [reason]",
            control.kill,
            feature="control",
        ),
        Command(
            "rearm", operator, "clear a kill or halt", "/rearm", control.rearm, feature="control"
        ),
        Command(
            "cancel",
            operator,
            "cancel one open order",
            "/cancel <order id>",
            control.cancel,
            feature="trading",
        ),
        Command(
            "cycle", operator, "run a signal cycle now", "/cycle", control.cycle, feature="control"
        ),
        Command(
            "approve",
            Role.VIEWER,
            "approval mode on or off",
            "/approve on|off",
            control.approval_mode,
            feature="approvals",
            role_with_args=operator,
        ),
        Command(
            "decide",
            operator,
            "approve or reject a trade",
            "",
            control.decide,
            feature="approvals",
            hidden=True,
            late_ok=True,  # the approval request's own expiry decides (checked by the trader)
        ),
    ):
        core.register(command)
    core.on_confirm("kill", control.on_kill)
    core.on_confirm("flatten", control.on_flatten)
    core.on_confirm("rearm", control.on_rearm)

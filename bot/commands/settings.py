"""Settings commands: risk limits, alert settings, quiet hours, acknowledging alerts.

Every setting is kept by the Control API (in the database); after a change the notifier's
policy is rebuilt from what the Control API stored, so what the chat shows is what is kept.
A risk limit changes only after a confirmation that shows the old and the new value; so does
`/set allow_heuristic_live on|off` (may heuristic forecasts trade in live mode). `/deposit` and
`/withdraw` enter a cash flow (money in or out of the paper account, not PnL), confirmed first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot import alerts
from bot.alerts import KINDS, AlertMode
from bot.commands.base import Command, UsageError, choice_arg, confirm_buttons, notice, token_arg
from bot.confirm import Pending
from bot.render import trading as render_trading
from bot.reply import Reply, Role
from bot.timing import QuietHours, QuietHoursError
from trader.control.api import AlertSettings, parse_amount
from trader.domain import Actor, Severity

if TYPE_CHECKING:
    from bot.commands.core import CommandCore

_MODES = [mode.value for mode in AlertMode]
HEURISTIC_LIVE = "allow_heuristic_live"  # /set allow_heuristic_live on|off
_SEVERITIES = [severity.value for severity in Severity]


class SettingsCommands:
    def __init__(self, core: CommandCore) -> None:
        self._context = core.context

    # risk limits ----------------------------------------------------------------------

    async def set_limit(self, actor: Actor, args: list[str]) -> Reply:
        if len(args) != 2:
            raise UsageError("Give a limit name and a value.")
        name, value = args[0].casefold(), args[1]
        if name == HEURISTIC_LIVE:
            return await self._ask_heuristic_live(actor, args[1:])
        current = await self._context.control.limits(actor)
        try:
            changed = current.with_value(name, value)
        except ValueError as error:  # the state's SettingError says what is wrong
            raise UsageError(str(error)) from None
        before, after = current.to_json()[name], changed.to_json()[name]
        if before == after:
            return Reply(f"{name} is already {before}.")
        confirmations = self._context.confirmations
        confirmations.cancel_for(actor, "set_limit")
        pending = confirmations.issue("set_limit", actor, {"set", "abort"}, name=name, value=value)
        return Reply(
            f"Change the risk limit {name}?",
            (f"{before} → {after}", "The risk checks use it from the next order on."),
            buttons=confirm_buttons(pending.token, (f"✅ Set {name} to {after}", "set")),
        )

    async def on_set_limit(self, pending: Pending, choice: str, actor: Actor) -> Reply:
        name, value = str(pending.payload["name"]), pending.payload["value"]
        change = await self._context.control.set_limit(actor, name, value)
        return render_trading.setting_changed(change)

    # heuristic forecasts in live mode ----------------------------------------------------

    async def _ask_heuristic_live(self, actor: Actor, args: list[str]) -> Reply:
        wanted = choice_arg(args, ["on", "off"], default=None, what=HEURISTIC_LIVE)
        before = "on" if (await self._context.control.status(actor)).allow_heuristic_live else "off"
        if before == wanted:
            return Reply(f"{HEURISTIC_LIVE} is already {before}.")
        confirmations = self._context.confirmations
        confirmations.cancel_for(actor, "set_heuristic_live")
        pending = confirmations.issue("set_heuristic_live", actor, {"set", "abort"}, on=wanted)
        effect = (
            "Heuristic forecasts (no LLM) would then place real-money orders in live mode."
            if wanted == "on"
            else "Heuristic forecasts are then shown and recorded, never traded in live mode."
        )
        return Reply(
            f"Change {HEURISTIC_LIVE}?",
            (f"{before} → {wanted}", effect),
            buttons=confirm_buttons(pending.token, (f"✅ Set {HEURISTIC_LIVE} {wanted}", "set")),
        )

    async def on_set_heuristic_live(self, pending: Pending, choice: str, actor: Actor) -> Reply:
        on = pending.payload["on"] == "on"
        change = await self._context.control.set_allow_heuristic_live(actor, on)
        return render_trading.setting_changed(change)

    # cash flows -----------------------------------------------------------------------

    async def deposit(self, actor: Actor, args: list[str]) -> Reply:
        return self._ask_cash_flow(actor, args, "deposit")

    async def withdraw(self, actor: Actor, args: list[str]) -> Reply:
        return self._ask_cash_flow(actor, args, "withdraw")

    def _ask_cash_flow(self, actor: Actor, args: list[str], kind: str) -> Reply:
        if not args:
            raise UsageError(f"Give the amount to {kind} (and why, if you like).")
        try:
            amount = parse_amount("the amount", args[0])
        except ValueError as error:
            raise UsageError(str(error)) from None
        reason = " ".join(args[1:])[:200]
        confirmations = self._context.confirmations
        confirmations.cancel_for(actor, "cash_flow")
        pending = confirmations.issue(
            "cash_flow", actor, {"set", "abort"}, kind=kind, amount=str(amount), reason=reason
        )
        return Reply(
            f"{kind.capitalize()} ${amount:,.2f}?",
            (
                "A cash flow, not PnL: equity moves by it, the day's PnL and the drawdown do not.",
                *((f"Reason: {reason}",) if reason else ()),
            ),
            buttons=confirm_buttons(
                pending.token, (f"✅ {kind.capitalize()} ${amount:,.2f}", "set")
            ),
        )

    async def on_cash_flow(self, pending: Pending, choice: str, actor: Actor) -> Reply:
        control, payload = self._context.control, pending.payload
        amount, reason = str(payload["amount"]), str(payload["reason"])
        if payload["kind"] == "deposit":
            done = await control.deposit(actor, amount, reason)
        else:
            done = await control.withdraw(actor, amount, reason)
        what = "Deposit" if done.amount > 0 else "Withdrawal"
        return Reply(
            f"{what} of ${abs(done.amount):,.2f} recorded (not PnL)",
            (f"Cash ${done.cash:,.2f} · equity ${done.equity:,.2f}",),
        )

    # alerts ---------------------------------------------------------------------------

    async def alert_settings(self, actor: Actor, args: list[str]) -> Reply:
        control = self._context.control
        if args:
            if args[0].casefold() in ("min", "minimum"):
                level = choice_arg(args[1:], _SEVERITIES, default=None, what="minimum severity")
                await control.set_alert_setting(actor, "min_severity", level)
            else:
                await self._set_mode(actor, args)
        settings = await control.alert_settings(actor)
        policy = self._apply(settings)
        return alerts.settings_reply(policy, self._context.zone.key)

    async def _set_mode(self, actor: Actor, args: list[str]) -> None:
        if len(args) != 2:
            raise UsageError("Give an alert kind (or all) and on, silent or off.")
        kind = args[0].casefold()
        if kind != "all" and kind not in KINDS:
            raise UsageError(f"Unknown alert kind {kind!r}; the kinds are: {', '.join(KINDS)}.")
        mode = AlertMode(choice_arg(args[1:], _MODES, default=None, what="mode"))
        kinds = set(KINDS) if kind == "all" else {kind}
        control = self._context.control
        settings = await control.alert_settings(actor)
        muted, silent = set(settings.muted_kinds), set(settings.silent_kinds)
        muted = muted | kinds if mode is AlertMode.OFF else muted - kinds
        silent = silent | kinds if mode is AlertMode.SILENT else silent - kinds
        if silent != set(settings.silent_kinds):
            await control.set_alert_setting(actor, "silent_kinds", sorted(silent))
        if muted != set(settings.muted_kinds):
            await control.set_alert_setting(actor, "muted_kinds", sorted(muted))
        switches = {"order_filled": "fill_alerts", "daily_report": "daily_report"}
        for switched, field in switches.items():
            if switched in kinds and getattr(settings, field) != (mode is not AlertMode.OFF):
                await control.set_alert_setting(actor, field, mode is not AlertMode.OFF)

    async def quiet(self, actor: Actor, args: list[str]) -> Reply:
        if len(args) != 1:
            raise UsageError("Give one window like 22:00-07:00, or off.")
        control = self._context.control
        if args[0].casefold() == "off":
            await control.set_alert_setting(actor, "quiet_start", "off")
            await control.set_alert_setting(actor, "quiet_end", "off")
        else:
            try:
                window = QuietHours.parse(args[0])
            except QuietHoursError as error:
                raise UsageError(str(error).capitalize() + ".") from None
            await control.set_alert_setting(actor, "quiet_start", f"{window.start:%H:%M}")
            await control.set_alert_setting(actor, "quiet_end", f"{window.end:%H:%M}")
        policy = self._apply(await control.alert_settings(actor))
        if policy.quiet_hours is None:
            return Reply("Quiet hours off: every alert rings.")
        return Reply(
            f"Quiet hours {policy.quiet_hours} ({self._context.zone.key}).",
            ("Non-critical alerts arrive silently then; critical ones always ring.",),
        )

    async def ack(self, actor: Actor, args: list[str]) -> Reply:
        alert_id = token_arg(args, "alert reference")
        notifier = self._context.notifier
        alert = await notifier.acknowledge(alert_id, actor) if notifier else None
        if alert is None:
            return notice("Already acknowledged (or no longer known).")
        return notice(f"Acknowledged: {alert.title[:150]}")

    def _apply(self, settings: AlertSettings) -> alerts.AlertPolicy:
        policy = alerts.policy_from_settings(settings)
        if self._context.notifier is not None:
            self._context.notifier.set_policy(policy)
        return policy


def install(core: CommandCore) -> None:
    settings = SettingsCommands(core)
    operator = Role.OPERATOR
    for command in (
        Command(
            "set",
            operator,
            "change a risk limit (or allow_heuristic_live on|off)",
            "/set <limit> <value>",
            settings.set_limit,
            feature="settings",
        ),
        Command(
            "deposit",
            operator,
            "paper account: money in (not PnL)",
            "/deposit <amount> [reason]",
            settings.deposit,
            feature="settings",
        ),
        Command(
            "withdraw",
            operator,
            "paper account: money out (not PnL)",
            "/withdraw <amount> [reason]",
            settings.withdraw,
            feature="settings",
        ),
        Command(
            "alerts",
            Role.VIEWER,
            "alert settings",
            "/alerts [<kind|all> on|silent|off]",
            settings.alert_settings,
            feature="settings",
            role_with_args=operator,
        ),
        Command(
            "quiet",
            operator,
            "quiet hours",
            "/quiet HH:MM-HH:MM|off",
            settings.quiet,
            feature="settings",
        ),
        Command(
            "ack",
            operator,
            "acknowledge a critical alert",
            "",
            settings.ack,
            feature="alerts",
            hidden=True,
            late_ok=True,  # acknowledging only stops an alert's repeats
        ),
    ):
        core.register(command)
    core.on_confirm("set_limit", settings.on_set_limit)
    core.on_confirm("set_heuristic_live", settings.on_set_heuristic_live)
    core.on_confirm("cash_flow", settings.on_cash_flow)

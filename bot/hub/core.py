"""The hub's command core: one chat for several named traders, each behind its Control API.

`HubCore` is a `CommandCore` (so the transports, the access gate, /help and the Telegram
command list work unchanged) that holds one ordinary `CommandCore` per instance and routes:

- `/status` with no instance: one compact line per instance and a total (an instance that
  does not answer says so in its line; the others are still shown).
- `/status beta`, `/pause beta slow news`, `/kill beta`: that instance's own core, with its
  own confirmations; the reply is tagged `[beta]` and its buttons carry `@beta`.
- `/pause all`, `/resume all`: every instance, one line each. `/kill all`: one confirmation
  that lists every instance it will hit (mode, state, open orders), then each is killed
  (cancel and halt) and the answer lists what each did.
- A button's command ends in `@name`, so a tap reaches the instance it came from.
- A command that needs an instance and names none is answered with the instance names and
  one button each.

Roles are checked as for a lone trader: by the instance's core for routed commands, here for
the `all` forms, so a viewer can read every instance and control none.
"""

from __future__ import annotations

import asyncio
import shlex
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

from bot.access import DEFAULT_MAX_AGE, REFUSAL
from bot.alerts import AlertPolicy
from bot.commands.base import CommandLine, confirm_buttons, notice, parse_read
from bot.commands.core import CommandCore
from bot.confirm import Pending
from bot.notifier import Notifier
from bot.render import hub as render_hub
from bot.reply import Button, Reply, Role
from trader.control.api import Clock, ControlError, ControlPort, StatusSnapshot
from trader.domain import Actor, Alert

T = TypeVar("T")
ALL = "all"
ANSWER_WITHIN_S = 8.0
_FAN_OUT = frozenset({"pause", "resume", "kill", "status"})  # the commands `all` may address
_OWN = frozenset({"help", "whoami", "confirm", "ack"})  # answered by the hub itself


class HubCore(CommandCore):
    def __init__(
        self,
        instances: Sequence[ControlPort],
        *,
        clock: Clock | None = None,
        notifier: Notifier | None = None,
        zone: ZoneInfo | None = None,
        command_max_age: timedelta = DEFAULT_MAX_AGE,
        answer_within_s: float = ANSWER_WITHIN_S,
    ) -> None:
        if not instances:
            raise ValueError("the hub needs at least one instance")
        super().__init__(
            instances[0],
            clock=clock,
            notifier=notifier,
            zone=zone,
            command_max_age=command_max_age,
        )
        self.instances = {control.name: control for control in instances}
        self._cores = {
            control.name: CommandCore(
                control,
                clock=self.context.clock,
                notifier=_InstanceNotifier(control.name, notifier)
                if notifier is not None and len(instances) > 1
                else notifier,
                zone=zone,
            )
            for control in instances
        }
        self._within = answer_within_s
        self.on_confirm("kill_all", self._on_kill_all)

    @property
    def names(self) -> list[str]:
        return list(self.instances)

    @property
    def several(self) -> bool:
        return len(self.instances) > 1

    # --- routing -------------------------------------------------------------------------

    async def handle(
        self, text: str, actor: Actor, role: Role, *, parsed: CommandLine | None = None
    ) -> Reply:
        line = parse_read(text, parsed)
        name, args = line
        target, args = self._target(name, args)
        if name in ("help", "whoami") or (name in _OWN and target is None):
            return await super().handle(text, actor, role, parsed=line)
        if target == ALL:
            return await self._all(name, args, actor, role)
        if target is not None:
            reply = await self._cores[target].handle(shlex.join([name, *args]), actor, role)
            return render_hub.tagged(target, reply) if self.several else reply
        if not self.several:
            return await self._cores[self.names[0]].handle(text, actor, role, parsed=line)
        if name == "status" and not args:
            return await self._summary(actor, role)
        return self._which(name, args, role)

    def _target(self, name: str, args: list[str]) -> tuple[str | None, list[str]]:
        """The instance a command line addresses: a trailing `@name` (buttons), or a first
        argument that is an instance's name or `all` (typed)."""
        if args and args[-1].startswith("@") and args[-1][1:] in self.instances:
            return args[-1][1:], args[:-1]
        if args and name not in _OWN:
            first = args[0].casefold()
            if first in self.instances or (first == ALL and name in _FAN_OUT):
                return first, args[1:]
        return None, args

    async def _help(
        self, actor: Actor, args: list[str], *, unknown: str | None = None, role: Role = Role.VIEWER
    ) -> Reply:
        reply = await super()._help(actor, args, unknown=unknown, role=role)
        if not self.several:
            return reply
        hint = (
            f"Instances: {', '.join(self.names)}. Name one after the command "
            "(/status beta, /pause beta, /kill beta) or all (/status, /pause all, /kill all)."
        )
        return Reply(reply.title, (*reply.lines, hint), buttons=reply.buttons)

    def changes_state(self, name: str, args: list[str]) -> bool:
        _target, rest = self._target(name, args)
        return super().changes_state(name, rest)

    def _which(self, name: str, args: list[str], role: Role) -> Reply:
        command = next((c for c in self.all_commands() if c.name == name), None)
        if command is None or command.handler is None:
            if role is Role.STRANGER:
                return REFUSAL
            return Reply(f"Unknown command {name!r}.", ("Send /help for the commands.",))
        rest = " ".join(args)
        line = f"/{name} <instance>{' ' + rest if rest else ''}"
        extra = [f"or /{name} all"] if name in _FAN_OUT else []
        buttons = tuple(
            (Button(instance, f"{shlex.join([name, *args])} @{instance}"),)
            for instance in self.names
        )
        return Reply(
            f"Which instance? {line}",
            (f"Instances: {', '.join(self.names)}", *extra),
            buttons=buttons if not args else (),
        )

    # --- every instance -------------------------------------------------------------------

    async def _ask_all(
        self, ask: Callable[[ControlPort], Awaitable[T]]
    ) -> dict[str, T | ControlError]:
        async def one(control: ControlPort) -> T | ControlError:
            try:
                return await asyncio.wait_for(ask(control), self._within)
            except ControlError as error:
                return error
            except TimeoutError:
                return ControlError(f"{control.name} did not answer within {self._within:.0f} s")

        answers = await asyncio.gather(*(one(c) for c in self.instances.values()))
        return dict(zip(self.names, answers, strict=True))

    async def _summary(self, actor: Actor, role: Role) -> Reply:
        snapshots = await self._ask_all(lambda control: control.status(actor))
        reply = render_hub.summary(snapshots)
        buttons = [Button("🔄 Refresh", "status")]
        pending = sum(
            s.pending_approvals for s in snapshots.values() if isinstance(s, StatusSnapshot)
        )
        if pending:
            buttons.append(Button(f"🗳 Pending ({pending})", "pending"))
        return Reply(reply.title, reply.lines, buttons=(tuple(buttons),))

    async def _all(self, name: str, args: list[str], actor: Actor, role: Role) -> Reply:
        if name == "status":
            return await self._summary(actor, role)
        if role < Role.OPERATOR:
            return notice(f"/{name} all needs the operator role; you are a viewer.")
        reason = " ".join(args)[:200]
        if name == "kill":
            return await self._kill_prompt(actor, reason)
        if name == "pause":
            changes = await self._ask_all(lambda control: control.pause(actor, reason))
            return render_hub.each("Pause all", changes)
        changes = await self._ask_all(lambda control: control.resume(actor))
        return render_hub.each("Resume all", changes)

    async def _kill_prompt(self, actor: Actor, reason: str) -> Reply:
        confirmations = self.context.confirmations
        confirmations.cancel_for(actor, "kill_all")
        snapshots = await self._ask_all(lambda control: control.status(actor))
        pending = confirmations.issue(
            "kill_all", actor, {"cancel", "abort"}, reason=reason, names=self.names
        )
        prompt = render_hub.kill_all_prompt(snapshots)
        return Reply(
            prompt.title,
            prompt.lines,
            buttons=confirm_buttons(pending.token, ("🛑 Cancel orders and halt ALL", "cancel")),
        )

    async def _on_kill_all(self, pending: Pending, choice: str, actor: Actor) -> Reply:
        reason = str(pending.payload.get("reason", ""))
        reports = await self._ask_all(
            lambda control: control.kill(actor, flatten=False, reason=reason)
        )
        return render_hub.kill_all_report(reports)


class _InstanceNotifier:
    """One instance's core's view of the hub's notifier: a decided approval's card keeps the
    instance's name when it is edited."""

    def __init__(self, name: str, notifier: Notifier) -> None:
        self._name = name
        self._notifier = notifier

    async def acknowledge(self, ack_id: str, actor: Actor) -> Alert | None:
        return await self._notifier.acknowledge(ack_id, actor)

    def set_policy(self, policy: AlertPolicy) -> None:
        self._notifier.set_policy(policy)

    async def close_approval(self, request_id: str, reply: Reply) -> None:
        await self._notifier.close_approval(request_id, render_hub.tagged(self._name, reply))

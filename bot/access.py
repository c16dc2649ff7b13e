"""The one access gate every chat transport goes through: who is asking, may they, and is the
command still meant.

Transports only say who sent what and when (`Request`: an `Actor` with the platform's user id,
the command line, the time the person acted, whether it was a button). The gate decides, the
same way for Telegram, WhatsApp and the terminal:

1. The role comes from the channel's id lists (`Roster`): an operator controls, a viewer reads,
   anyone else is a stranger. An empty operator list means nobody controls, never everyone.
2. A stranger learns nothing but their own id: `/whoami` is answered; anything else gets one
   short refusal, repeated at most once an hour per sender (`deliver=False` in between, so a
   stranger cannot make the bot write to them at will). A button press gets the same
   refusal (Telegram shows it as a toast on the button, which costs no message).
3. A command that changes something and is older than `max_age` (CHAT_COMMAND_MAX_AGE_S) is
   refused with the reason: a `/pause` typed during an outage six hours ago is not acted on
   when the chat comes back. Read-only commands are answered however old. Buttons count by
   the time they were pressed, where the platform says it (WhatsApp), else by the age of the
   message they are on (Telegram): an upper bound, so a stale press is never acted on.
   Commands that carry their own validity are left to it: a confirmation's token expires in
   minutes and dies with a restart, an approval request has its own expiry checked by the
   trader, and acknowledging an alert only silences it.
4. Everything else goes to `CommandCore.handle` with the role, where each command's role
   requirement is checked.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from bot.commands.base import CommandLine, parse
from bot.reply import Reply, Role
from trader.control.api import Clock
from trader.domain import Actor

if TYPE_CHECKING:
    from bot.commands.core import CommandCore

log = logging.getLogger(__name__)

DEFAULT_MAX_AGE = timedelta(minutes=5)
REFUSE_AGAIN_AFTER = timedelta(hours=1)
REFUSAL = Reply("Not authorised. Send /whoami to get your id for the operator to add.", notice=True)
_MAX_STRANGERS = 4096


@dataclass(frozen=True, slots=True)
class Roster:
    """One channel's id lists: operator ids control, viewer ids read."""

    operators: frozenset[str]
    viewers: frozenset[str]

    @classmethod
    def of(
        cls,
        operators: Iterable[object],
        viewers: Iterable[object],
        normalise: Callable[[str], str] = str.strip,
    ) -> Roster:
        def clean(ids: Iterable[object]) -> frozenset[str]:
            return frozenset(n for n in (normalise(str(item)) for item in ids) if n)

        return cls(clean(operators), clean(viewers))

    def role_of(self, user_id: str) -> Role:
        if user_id in self.operators:
            return Role.OPERATOR
        if user_id in self.viewers:
            return Role.VIEWER
        return Role.STRANGER

    def recipients(self, audience: Role) -> list[str]:
        """Everyone with at least `audience` (alerts, approval requests)."""
        ids = set(self.operators)
        if audience <= Role.VIEWER:
            ids |= self.viewers
        return sorted(ids)


NOBODY = Roster(frozenset(), frozenset())


@dataclass(frozen=True, slots=True)
class Request:
    """What a transport hands the gate. `sent_at` is when the person acted, as far as the
    platform says (a message's date; for a button with no time of its own, the date of the
    message it is on); None means just now."""

    actor: Actor
    text: str
    sent_at: datetime | None = None
    tapped: bool = False


class Outcome(StrEnum):
    ANSWERED = "answered"  # handed to the command core (which may still refuse by role)
    REFUSED = "refused"  # a stranger
    STALE = "stale"  # changes something and arrived too late


@dataclass(frozen=True, slots=True)
class Verdict:
    role: Role
    outcome: Outcome
    reply: Reply
    deliver: bool = True  # False: a stranger already told within the hour; say nothing


class AccessGate:
    def __init__(
        self,
        core: CommandCore,
        clock: Clock,
        *,
        max_age: timedelta = DEFAULT_MAX_AGE,
        refuse_again_after: timedelta = REFUSE_AGAIN_AFTER,
    ) -> None:
        if max_age <= timedelta(0):
            raise ValueError("the stale-command age must be positive")
        self._core = core
        self._clock = clock
        self.max_age = max_age
        self._refuse_again_after = refuse_again_after
        self._rosters: dict[str, Roster] = {}
        self._refused: OrderedDict[tuple[str, str], datetime] = OrderedDict()

    def set_roster(self, channel: str, roster: Roster) -> None:
        self._rosters[channel] = roster

    def roster(self, channel: str) -> Roster:
        return self._rosters.get(channel, NOBODY)

    def role_of(self, actor: Actor) -> Role:
        return self.roster(actor.channel).role_of(actor.user_id)

    async def handle(self, request: Request) -> Verdict:
        role = self.role_of(request.actor)
        line = parse(request.text)  # once: the gate, the audit and the core all read it
        verdict = await self._decide(request, role, line)
        self._audit(request, verdict, line[0])
        return verdict

    async def _decide(self, request: Request, role: Role, line: CommandLine) -> Verdict:
        name, args = line
        if role is Role.STRANGER and name != "whoami":
            deliver = self._tell_stranger(request.actor)
            return Verdict(role, Outcome.REFUSED, REFUSAL, deliver=deliver)
        age = self._age(request.sent_at)
        stale = age > self.max_age and self._core.changes_state(name, args)
        if stale and role is Role.OPERATOR:  # anyone else is refused by role in the core
            return Verdict(role, Outcome.STALE, self._stale(name, age, tapped=request.tapped))
        reply = await self._core.handle(request.text, request.actor, role, parsed=line)
        return Verdict(role, Outcome.ANSWERED, reply)

    def _age(self, sent_at: datetime | None) -> timedelta:
        if sent_at is None:
            return timedelta(0)
        return max(timedelta(0), self._clock.now() - sent_at)  # a clock ahead of ours: fresh

    def _stale(self, name: str, age: timedelta, *, tapped: bool) -> Reply:
        what = f"this /{name} button is on a message sent" if tapped else f"/{name} was sent"
        return Reply(
            f"Not done: {what} {_duration(age)} ago.",
            (
                f"Commands that change something are not acted on when older than "
                f"{_duration(self.max_age)}: it may not be meant any more.",
                "Send it again if you still want it.",
            ),
            notice=True,
        )

    def _tell_stranger(self, actor: Actor) -> bool:
        key = (actor.channel, actor.user_id)
        now = self._clock.now()
        last = self._refused.get(key)
        if last is not None and now - last < self._refuse_again_after:
            return False
        self._refused[key] = now
        self._refused.move_to_end(key)
        while len(self._refused) > _MAX_STRANGERS:
            self._refused.popitem(last=False)
        return True

    def _audit(self, request: Request, verdict: Verdict, command: str) -> None:
        if not log.isEnabledFor(logging.INFO):
            return
        # Never free text: the command name only (a stranger's only if it is /whoami).
        name = command[:32]
        shown = name if verdict.role is not Role.STRANGER or name == "whoami" else "-"
        log.info(
            "chat command",
            extra={
                "channel": request.actor.channel,
                "user": _masked(request.actor.user_id),
                "role": verdict.role.name,
                "command": shown,
                "button": request.tapped,
                "outcome": verdict.outcome.value,
            },
        )


def _masked(user_id: str) -> str:
    """For logs: enough to tell people apart, not a whole phone number."""
    return f"…{user_id[-4:]}" if len(user_id) > 4 else user_id


def _duration(age: timedelta) -> str:
    seconds = int(age.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 2 * 3600:
        return f"{seconds // 60} min"
    hours, rest = divmod(seconds, 3600)
    return f"{hours} h {rest // 60} min" if rest >= 60 else f"{hours} h"

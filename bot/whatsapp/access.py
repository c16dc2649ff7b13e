"""WhatsApp's id lists, and when each number may be written to freely.

`number_roster`: the access gate's roster by phone number (WHATSAPP_OPERATOR_NUMBERS,
WHATSAPP_VIEWER_NUMBERS, in international format without "+"; WhatsApp's `wa_id` is exactly
that). The gate (`bot/access.py`) decides who may do what, as for every transport.

`ServiceWindow`: the 24-hour customer-service window. A business may send free-form messages
(text, buttons, lists, images) to a number only within 24 hours of that number's last
message; after that only an approved template. The window is tracked in memory from each
inbound message's timestamp, and treated as closed a little early (`margin`), so a message
is not refused on its way. The transport's `windows.RememberedWindow` keeps the windows
across a restart; without a memory every window then counts as closed: alerts go out as
templates until the person writes again (the safe direction: a template, never a lost alert).
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime, timedelta

from bot.access import Roster
from trader.control.api import Clock

WINDOW = timedelta(hours=24)
DEFAULT_MARGIN = timedelta(minutes=10)
_MAX_NUMBERS = 4096


def normalise(number: str) -> str:
    """'+44 7700 900123' -> '447700900123' (WhatsApp's wa_id form)."""
    return "".join(char for char in number if char.isdigit())


def masked(number: str) -> str:
    """For logs and alerts: enough to tell numbers apart, not the whole number."""
    return f"…{number[-4:]}" if len(number) > 4 else "…"


def number_roster(operators: object, viewers: object) -> Roster:
    """'+44 7700 900123' and '447700900123' are the same number; anything not a list of
    numbers counts as none (nobody controls, never everyone)."""

    def items(numbers: object) -> list[object]:
        return list(numbers) if isinstance(numbers, list | tuple | set | frozenset) else []

    return Roster.of(items(operators), items(viewers), normalise)


class ServiceWindow:
    def __init__(
        self, clock: Clock, *, length: timedelta = WINDOW, margin: timedelta = DEFAULT_MARGIN
    ) -> None:
        self._clock = clock
        self._length = length
        self._margin = margin
        self._last_inbound: OrderedDict[str, datetime] = OrderedDict()

    def opened(self, number: str, at: datetime | None = None) -> None:
        """`number` wrote to us at `at` (its message's timestamp; now if unknown)."""
        now = self._clock.now()
        when = min(at, now) if at is not None else now
        previous = self._last_inbound.get(number)
        if previous is not None and previous >= when:
            return
        self._last_inbound[number] = when
        self._last_inbound.move_to_end(number)
        while len(self._last_inbound) > _MAX_NUMBERS:
            self._last_inbound.popitem(last=False)

    def is_open(self, number: str) -> bool:
        last = self._last_inbound.get(number)
        if last is None:
            return False
        return self._clock.now() < last + self._length - self._margin

    def close(self, number: str) -> None:
        """WhatsApp said the window is closed (error 131047): believe it."""
        self._last_inbound.pop(number, None)

    def last_inbound(self, number: str) -> datetime | None:
        return self._last_inbound.get(number)

    def closes_at(self, number: str) -> datetime | None:
        last = self._last_inbound.get(number)
        return None if last is None else last + self._length

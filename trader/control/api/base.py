"""What every part of the Control API shares: the audit of each call in the event log.

`ControlBase` is the base of the feature mixins (`trading`, `settings`, `analysis`) and so of
`ControlAPI` (`core`), which sets `_events` in its constructor. It is this small on purpose:
each mixin declares the other attributes it reads itself.
"""

from __future__ import annotations

from typing import Any

from trader.control.types import EventSink
from trader.domain import Actor, new_correlation_id


class ControlBase:
    """The audit every Control API call makes (the attribute is set by `ControlAPI`)."""

    _events: EventSink

    def _audit(self, actor: Actor, command: str, **details: Any) -> str:
        corr = new_correlation_id()
        self._events.append(
            "command", {"command": command, **details}, correlation_id=corr, actor=str(actor)
        )
        return corr

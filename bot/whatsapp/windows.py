"""WhatsApp's 24-hour service windows, remembered across a restart.

`RememberedWindow` is the transport's `ServiceWindow` with a `ChatMemory` behind it: each
inbound message that moves a number's window is written (in the background: handling the
message never waits for the database), a window WhatsApp reports closed is forgotten, and
`restore()` (on start) reads back the windows of the last day. Without it, a restart would
count every window as closed and send each alert as a template until the person wrote again.
A failing memory is logged; the window in memory is kept either way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

from bot.whatsapp.access import ServiceWindow, masked
from trader.control.api import ChatMemory, Clock

log = logging.getLogger(__name__)

CHANNEL = "whatsapp"
Spawn = Callable[[Coroutine[Any, Any, None], str], object]


class RememberedWindow(ServiceWindow):
    def __init__(self, clock: Clock, memory: ChatMemory | None, spawn: Spawn) -> None:
        super().__init__(clock)
        self._memory = memory
        self._spawn = spawn

    def opened(self, number: str, at: datetime | None = None) -> None:
        before = self.last_inbound(number)
        super().opened(number, at)
        after = self.last_inbound(number)
        if self._memory is not None and after is not None and after != before:
            self._write(self._memory.record_inbound(CHANNEL, number, after), number)

    def close(self, number: str) -> None:
        known = self.last_inbound(number) is not None
        super().close(number)
        if self._memory is not None and known:
            self._write(self._memory.forget_inbound(CHANNEL, number), number)

    async def restore(self) -> int:
        """Read back the windows remembered before a restart; how many."""
        if self._memory is None:
            return 0
        try:
            remembered = await self._memory.last_inbound(CHANNEL)
        except Exception:
            log.exception("whatsapp: could not read the remembered service windows")
            return 0
        for number, at in remembered.items():
            super().opened(number, at)
        return len(remembered)

    def _write(self, write: Coroutine[Any, Any, None], number: str) -> None:
        async def safely() -> None:
            try:
                await write
            except Exception:
                log.exception("whatsapp: could not remember the window of %s", masked(number))

        self._spawn(safely(), f"whatsapp-window-{masked(number)}")


__all__ = ["RememberedWindow"]

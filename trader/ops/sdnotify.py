"""A tiny sd_notify: readiness and watchdog keep-alives to systemd, no dependency.

systemd passes the address of a datagram socket in NOTIFY_SOCKET (a path, or an abstract
address starting with "@") and, when the unit has WatchdogSec=, the interval in WATCHDOG_USEC
(with WATCHDOG_PID naming the process it applies to). Outside systemd NOTIFY_SOCKET is unset
and every call here is a cheap no-op, so the same code runs in a terminal, a container or CI.

`keepalive()` is a coroutine the composition root runs inside the event loop it wants
watched: it sends WATCHDOG=1 every half of WatchdogSec. A blocked loop stops the pings, and
systemd kills and restarts the process (Restart=always). The environment is read when a
`SystemdNotifier` is built (`from_environment`), never at import.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

from trader.clock import Clock

log = logging.getLogger(__name__)


class SystemdNotifier:
    def __init__(self, address: str | None, *, watchdog_usec: int | None = None) -> None:
        self.address = address or None
        self.watchdog_usec = watchdog_usec if watchdog_usec and watchdog_usec > 0 else None
        self._socket: socket.socket | None = None
        self._warned = False

    @classmethod
    def from_environment(
        cls, environ: Mapping[str, str] | None = None, *, pid: int | None = None
    ) -> SystemdNotifier:
        env = os.environ if environ is None else environ
        usec: int | None = None
        raw = env.get("WATCHDOG_USEC", "")
        watchdog_pid = env.get("WATCHDOG_PID", "")
        this_pid = os.getpid() if pid is None else pid
        if raw.isdigit() and (not watchdog_pid or watchdog_pid == str(this_pid)):
            usec = int(raw)
        return cls(env.get("NOTIFY_SOCKET"), watchdog_usec=usec)

    @property
    def enabled(self) -> bool:
        return self.address is not None

    @property
    def watchdog_interval_s(self) -> float | None:
        """How often to send WATCHDOG=1 (half of WatchdogSec), or None without a watchdog."""
        return None if self.watchdog_usec is None else self.watchdog_usec / 2_000_000

    def notify(self, *lines: str) -> bool:
        """Send `KEY=value` lines in one datagram. False when disabled or the send failed."""
        if self.address is None or not lines:
            return False
        address = "\0" + self.address[1:] if self.address.startswith("@") else self.address
        try:
            if self._socket is None:
                self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                self._socket.setblocking(False)
            self._socket.sendto("\n".join(lines).encode(), address)
        except OSError as error:
            if not self._warned:  # once: a missing socket would otherwise log every ping
                self._warned = True
                log.warning("sd_notify to %s failed: %s", self.address, error)
            return False
        return True

    def ready(self, status: str = "") -> bool:
        return self.notify("READY=1", *((f"STATUS={status}",) if status else ()))

    def stopping(self, status: str = "") -> bool:
        return self.notify("STOPPING=1", *((f"STATUS={status}",) if status else ()))

    def status(self, text: str) -> bool:
        return self.notify(f"STATUS={text}")

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    async def keepalive(self, clock: Clock, interval_s: float | None = None) -> None:
        """Send WATCHDOG=1 from this event loop every `interval_s` (default: half of
        WatchdogSec) until cancelled. Returns at once when there is nothing to keep alive."""
        interval = interval_s or self.watchdog_interval_s
        if not self.enabled or interval is None:
            return
        while True:
            self.watchdog()
            await clock.sleep(interval)

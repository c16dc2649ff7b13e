"""The watchdog: a separate process that reads the app's heartbeat from the database and
alerts the operators over its own minimal HTTP path when it goes quiet (the Procfile's
`watchdog`, `trader watchdog`). It never imports bot/ or trader.app.root and never trusts the
process it watches. See `core` for the rules, `sender` for the alert path and `run` for the
process and the live-mode emergency cancel.
"""

from __future__ import annotations

from trader.watchdog.core import EmergencyCanceller, HeartbeatReader, Watchdog, WatchdogConfig
from trader.watchdog.run import (
    VenueCanceller,
    VenueFactory,
    live_venue_factory,
    main,
    run_watchdog,
    watch,
    watchdog_config,
)
from trader.watchdog.sender import AlertSender, HttpAlertSender, TelegramTarget, WhatsAppTarget

__all__ = [
    "AlertSender",
    "EmergencyCanceller",
    "HeartbeatReader",
    "HttpAlertSender",
    "TelegramTarget",
    "VenueCanceller",
    "VenueFactory",
    "Watchdog",
    "WatchdogConfig",
    "WhatsAppTarget",
    "live_venue_factory",
    "main",
    "run_watchdog",
    "watch",
    "watchdog_config",
]

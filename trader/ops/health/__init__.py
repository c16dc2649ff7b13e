"""Staying alive, inside the app: the heartbeat writer and the health checks.

- `HeartbeatWriter` rewrites the `heartbeats` row from the event loop; the separate watchdog
  process (`trader.watchdog`) reads it.
- `HealthMonitor` runs the `HealthCheck`s every HEALTH_CHECK_S and on /health, one alert per
  failing episode.

Importing this package starts nothing; the composition root builds and supervises both.
"""

from __future__ import annotations

from trader.ops.health.checks import (
    CheckResult,
    CheckStatus,
    ClockDriftCheck,
    CycleCheck,
    DiskCheck,
    DrawdownCheck,
    ErrorRateWindow,
    FeedCheck,
    HealthCheck,
    LlmSpendCheck,
    SupervisorCheck,
    VenueErrorCheck,
    WinRateCheck,
    disk_free_fraction,
)
from trader.ops.health.heartbeat import (
    APP_COMPONENT,
    STOPPED_KEY,
    HeartbeatProviders,
    HeartbeatSink,
    HeartbeatWriter,
)
from trader.ops.health.monitor import HealthMonitor, HealthReport, HealthSources, build_checks

__all__ = [
    "APP_COMPONENT",
    "STOPPED_KEY",
    "CheckResult",
    "CheckStatus",
    "ClockDriftCheck",
    "CycleCheck",
    "DiskCheck",
    "DrawdownCheck",
    "ErrorRateWindow",
    "FeedCheck",
    "HealthCheck",
    "HealthMonitor",
    "HealthReport",
    "HealthSources",
    "HeartbeatProviders",
    "HeartbeatSink",
    "HeartbeatWriter",
    "LlmSpendCheck",
    "SupervisorCheck",
    "VenueErrorCheck",
    "WinRateCheck",
    "build_checks",
    "disk_free_fraction",
]

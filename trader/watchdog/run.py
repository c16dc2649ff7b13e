"""`trader watchdog` / `python -m trader.watchdog`: the separate watchdog process.

It builds only what it needs: a database engine to read the heartbeat, an httpx client for its
own alerts, and in live mode a venue factory for the emergency cancel. It never imports bot/
or trader.app.root (an import-linter contract checks it). SIGTERM or SIGINT stop it with exit 0.
Under systemd it reports READY=1 and keeps WatchdogSec alive from its own loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Callable

import httpx

from trader.clock import Clock, SystemClock
from trader.config import ConfigError, Settings, load_settings
from trader.domain import TradingMode
from trader.ops.collector import resume_collector
from trader.ops.sdnotify import SystemdNotifier
from trader.store.db import create_engine, safe_url, session_factory
from trader.store.repositories import HeartbeatRepository
from trader.venue.base import Venue
from trader.watchdog.core import Watchdog, WatchdogConfig
from trader.watchdog.sender import HttpAlertSender

log = logging.getLogger(__name__)

EXIT_CONFIG = 2
SEND_TIMEOUT_S = 10.0

# --- the emergency cancel ---------------------------------------------------------------
# ARCHITECTURE.md allows exactly this one exception to "only trader.execution cancels". The
# venue is built fresh for each attempt by a factory (the live adapter by default; tests and
# operators can swap it), started, asked to `cancel_all`, and closed, whatever happens.

VenueFactory = Callable[[], Venue]


class VenueCanceller:
    """An `EmergencyCanceller` over any venue the factory builds."""

    def __init__(self, factory: VenueFactory) -> None:
        self._factory = factory
        self.attempts = 0

    async def cancel_all(self) -> str:
        self.attempts += 1
        venue = self._factory()
        try:
            await venue.start()
            result = await venue.cancel_all()
        finally:
            try:
                await venue.close()
            except Exception:
                log.warning("closing the venue after the emergency cancel failed", exc_info=True)
        summary = f"{len(result.canceled)} cancelled"
        if result.not_canceled:
            summary += f", {len(result.not_canceled)} not cancelled"
            reasons = sorted(set(result.not_canceled.values()))[:3]
            summary += f" ({'; '.join(reasons)})"
        return summary


def live_venue_factory(settings: Settings, clock: Clock) -> VenueFactory:
    """Builds the live Polymarket adapter from the settings (imported only when called)."""

    def build() -> Venue:
        from trader.venue.polymarket.adapter import PolymarketVenue
        from trader.venue.polymarket.market_data import PolymarketEndpoints

        key = settings.polymarket_private_key
        if key is None:
            raise RuntimeError("POLYMARKET_PRIVATE_KEY is not set: cannot cancel at the venue")
        endpoints = PolymarketEndpoints(
            clob_url=settings.clob_host,
            gamma_url=settings.gamma_host,
            data_url=settings.data_api_host,
            market_ws_url=f"{settings.clob_ws_url}/market",
            user_ws_url=f"{settings.clob_ws_url}/user",
            relayer_url=settings.relayer_host,
            rpc_url=settings.polygon_rpc_url,
        )
        return PolymarketVenue(
            private_key=key.get_secret_value(),
            clock=clock,
            signature_type=settings.polymarket_signature_type,
            funder=settings.polymarket_funder,
            endpoints=endpoints,
            fill_poll_interval=None,
        )

    return build


# --- the process ------------------------------------------------------------------------


def watchdog_config(settings: Settings) -> WatchdogConfig:
    live = settings.trading_mode is TradingMode.LIVE
    return WatchdogConfig(
        timeout_s=settings.watchdog_timeout_s,
        cancel_after_s=settings.watchdog_cancel_after_s if live else None,
        poll_interval_s=WatchdogConfig.poll_for(settings.watchdog_timeout_s),
    )


def run_watchdog(settings: Settings, *, venue_factory: VenueFactory | None = None) -> int:
    """Run until SIGTERM/SIGINT; returns the exit status (0)."""
    return asyncio.run(watch(settings, venue_factory=venue_factory))


async def watch(
    settings: Settings,
    *,
    clock: Clock | None = None,
    venue_factory: VenueFactory | None = None,
    stop: asyncio.Event | None = None,
) -> int:
    clock = clock or SystemClock()
    stop = stop or asyncio.Event()
    config = watchdog_config(settings)
    engine = create_engine(settings.database_url)
    notifier = SystemdNotifier.from_environment()
    loop = asyncio.get_running_loop()
    handled: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
            handled.append(sig)
    try:
        async with httpx.AsyncClient(timeout=SEND_TIMEOUT_S) as client:
            sender = HttpAlertSender.from_settings(settings, client)
            canceller = None
            if config.cancel_after_s is not None:
                canceller = VenueCanceller(venue_factory or live_venue_factory(settings, clock))
            reader = HeartbeatRepository(session_factory(engine), clock)
            watchdog = Watchdog(reader, sender, clock, config, canceller=canceller)
            _announce(settings, config, sender)
            tasks = [
                asyncio.create_task(watchdog.run(), name="watchdog"),
                asyncio.create_task(notifier.keepalive(clock), name="sd-keepalive"),
            ]
            notifier.ready("watching the heartbeat")
            resume_collector()  # `trader watchdog` starts with it off (trader.ops.collector)
            try:
                await stop.wait()
            finally:
                notifier.stopping()
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)
        notifier.close()
        await engine.dispose()
    log.info("watchdog stopped")
    return 0


def _announce(settings: Settings, config: WatchdogConfig, sender: HttpAlertSender) -> None:
    channels = ", ".join(sender.channels) or "none (alerts go to this log only)"
    log.info(
        "watchdog watching %s: timeout %.1f s, poll %.1f s, emergency cancel %s; alerts: %s",
        safe_url(settings.database_url),
        config.timeout_s,
        config.poll_interval_s,
        f"after {config.cancel_after_s:.0f} s" if config.cancel_after_s else "off (paper)",
        channels,
    )
    if not sender.channels:
        log.warning("no alert channel configured: set TELEGRAM_* or WHATSAPP_* settings")


def main() -> None:
    """`python -m trader.watchdog`: settings from the environment and .env."""
    from trader.logs import setup_logging, url_secrets

    try:
        settings = load_settings()
    except ConfigError as error:
        print("Polyops watchdog cannot start: the configuration has problems:", file=sys.stderr)
        for line in error.problems:
            print(line, file=sys.stderr)
        sys.exit(EXIT_CONFIG)
    setup_logging(
        settings.log_level,
        as_json=settings.log_json,
        secrets=(
            settings.polymarket_private_key,
            settings.polymarket_relayer_api_key,
            settings.telegram_bot_token,
            settings.whatsapp_token,
            settings.whatsapp_app_secret,
            settings.whatsapp_verify_token,
            settings.anthropic_api_key,
            *url_secrets(settings.polygon_rpc_url),  # the venue's errors may name them
            *url_secrets(settings.relayer_host),
        ),
    )
    sys.exit(run_watchdog(settings))

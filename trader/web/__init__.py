"""trader.web: the mission-control web page (served by the hub and by a lone trader)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from trader.clock import Clock
from trader.config import Settings
from trader.control.port import ControlPort
from trader.web.auth import users_from
from trader.web.console import RouteHost, WebConsole


def install_web(
    settings: Settings, instances: Sequence[ControlPort], clock: Clock, http: RouteHost
) -> WebConsole:
    """The web page for `instances` on `http`, with WEB_USERS' logins (call before it starts)."""
    console = WebConsole(
        instances,
        users_from(settings.web_user_map()),
        clock,
        session_ttl=timedelta(minutes=settings.web_session_minutes),
    )
    console.install(http)
    return console


__all__ = ["WebConsole", "install_web"]

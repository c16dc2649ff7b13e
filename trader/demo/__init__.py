"""`make demo` / `trader demo`: the whole product offline on embedded defaults.

Migrates the SQLite database under ./data/, then runs the app in paper mode with the
terminal chat. Commands typed (or piped) on standard input are answered on standard output;
after piped input ends the demo keeps running until Ctrl-C or `--duration` seconds.
"""

from __future__ import annotations

import asyncio

from trader.config import Settings
from trader.domain import TradingMode


def demo_settings(settings: Settings) -> Settings:
    """The demo never trades real money, whatever the environment says."""
    return settings.model_copy(update={"trading_mode": TradingMode.PAPER})


def run_demo(settings: Settings, *, duration: float | None = None) -> int:
    from trader.app import App, ConsoleIO
    from trader.store.migrate import upgrade

    settings = demo_settings(settings)
    upgrade(settings.database_url)
    print(f"Polyops demo: paper mode, database {settings.database_url}")
    print("Type /help, /status, /pause, /resume, /events. Ctrl-C stops.")
    app = App(settings, console_io=ConsoleIO())
    return asyncio.run(app.run(duration=duration))

"""`make demo` / `trader demo`: the whole product offline on embedded defaults.

One command starts, on 127.0.0.1 only:
- the CLOB simulator (`trader sim` with the demo scenario) as a child process;
- a local news feed the heuristic model reads;
- the watchdog as a child process, watching the app's heartbeat;
- a few days of recorded (synthetic) history, replayed (`polysim.demo.history`), so `/report`
  and `/backtest` draw real charts from the start; the recorder stays on;
- the app in paper mode against the simulator, with the terminal chat and a fast schedule
  (a signal cycle every minute). The first cycle runs at once and trades; then approval mode
  is switched on, so the next cycle asks before trading: an approval request within two
  minutes.

Commands typed or piped on standard input are answered on standard output. After piped
input ends the demo keeps running until Ctrl-C or `--duration` seconds. With
TELEGRAM_BOT_TOKEN set the same demo is driven from Telegram (TELEGRAM_API_BASE honoured).
HTTP_PORT is honoured when set (else a free port). The children end with the demo, even
when it is killed with SIGKILL (Linux; see `polysim.lifeline`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from trader.config import Settings
from trader.domain import Actor, TradingMode

if TYPE_CHECKING:
    from trader.app.root import App

SCENARIO = Path(__file__).with_name("scenario.json")
DEMO_DATABASE = "sqlite+aiosqlite:///./data/demo.db"
DEMO_ACTOR = Actor(channel="console", user_id="demo")
DEMO_RECORDINGS = Path("data/demo-recordings")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def demo_settings(settings: Settings, *, sim_port: int, http_port: int, feed: str) -> Settings:
    """Paper mode against the local simulator with a fast schedule, whatever .env says."""
    base = f"http://127.0.0.1:{sim_port}"
    database = settings.database_url
    if database == "sqlite+aiosqlite:///./data/polyops.db":
        database = DEMO_DATABASE  # keep the demo apart from a real database
    return settings.model_copy(
        update={
            "trading_mode": TradingMode.PAPER,
            "database_url": database,
            "clob_host": base,
            "gamma_host": f"{base}/gamma",
            "data_api_host": f"{base}/data-api",
            "clob_ws_url": f"ws://127.0.0.1:{sim_port}/ws",
            "http_port": http_port,
            "news_feeds": (feed,),
            "retrieval_enabled": False,  # offline: the demo's markets are made up
            "signal_cycle_s": 60,
            "market_refresh_s": 30,
            "reconcile_s": 15,
            "equity_snapshot_s": 15,
            "health_check_s": 60,
            "heartbeat_interval_s": 5.0,
            "watchdog_timeout_s": 30.0,
            "min_liquidity_usd": 0,
        }
    )


def child_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": settings.database_url,
            "TRADING_MODE": settings.trading_mode.value,
            "HEARTBEAT_INTERVAL_S": str(settings.heartbeat_interval_s),
            "WATCHDOG_TIMEOUT_S": str(settings.watchdog_timeout_s),
            "CLOB_HOST": settings.clob_host,
            "GAMMA_HOST": settings.gamma_host,
            "DATA_API_HOST": settings.data_api_host,
            "CLOB_WS_URL": settings.clob_ws_url,
            "RETRIEVAL_ENABLED": "false",
        }
    )
    return env


def start_child(args: list[str], log_path: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    # Through the lifeline: the child ends with the demo, even one killed by SIGKILL.
    lifeline = [sys.executable, "-m", "polysim.lifeline", str(os.getpid())]
    with log_path.open("ab") as log_file:
        return subprocess.Popen(  # noqa: S603 - our own interpreter and CLI, fixed arguments
            [*lifeline, sys.executable, "-m", "trader.cli", *args],
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # Ctrl-C reaches the demo, which stops the children itself
        )


def wait_until_up(url: str, child: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise RuntimeError(f"the simulator exited with status {child.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"the simulator did not answer at {url} within {timeout:.0f}s")


def stop_child(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is None:
        child.terminate()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def demo_http_port(settings: Settings) -> int:
    """HTTP_PORT when the operator set it (environment or .env), else a free port: the demo
    should not collide with a real instance on the default 8081."""
    return settings.http_port if "http_port" in settings.model_fields_set else free_port()


def run_demo(settings: Settings, *, duration: float | None = None) -> int:
    logs = Path("data/demo-logs")
    sim_port, http_port = free_port(), demo_http_port(settings)
    sim = start_child(
        ["sim", "--port", str(sim_port), "--scenario", str(SCENARIO), "--seed", "7"],
        logs / "sim.log",
        dict(os.environ),
    )
    try:
        wait_until_up(f"http://127.0.0.1:{sim_port}/time", sim)
        return asyncio.run(_demo(settings, sim_port, http_port, logs, duration))
    finally:
        stop_child(sim)


async def _demo(
    settings: Settings,
    sim_port: int,
    http_port: int,
    logs: Path,
    duration: float | None,
) -> int:
    from polysim.demo.news import start_feed
    from trader.app.root import App, ConsoleIO
    from trader.store.migrate import upgrade_async

    feed_runner, feed_url = await start_feed("127.0.0.1", free_port())
    demo = demo_settings(settings, sim_port=sim_port, http_port=http_port, feed=feed_url)
    # the demo records what it sees, and opens with a few recorded (synthetic) days replayed
    demo = demo.model_copy(update={"recorder_enabled": True, "recorder_dir": DEMO_RECORDINGS})
    await upgrade_async(demo.database_url)
    from polysim.demo.history import open_with_history

    opened = await open_with_history(demo, datetime.now(UTC))
    if opened is not None:
        print(opened)
    watchdog = start_child(["watchdog"], logs / "watchdog.log", child_env(demo))
    print(f"Polyops demo: paper trading against the simulator on 127.0.0.1:{sim_port}")
    print(f"database {demo.database_url}; logs of the simulator and watchdog in {logs}/")
    print(f"health http://127.0.0.1:{http_port}/health, metrics /metrics")
    print(
        "Type /help, /status, /signals, /orders, /pending, /approve on|off, /kill, /report,"
        " /backtest llm_edge 4."
    )
    # flushed before the app logs, so a demo piped to a file shows its banner first
    print("Ctrl-C stops everything.", flush=True)
    app = App(demo, console_io=ConsoleIO())
    script = asyncio.create_task(_script(app))
    try:
        return await app.run(duration=duration)
    finally:
        script.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await script
        stop_child(watchdog)
        await feed_runner.cleanup()


async def _script(app: App) -> None:
    """Run the first cycle at once (it trades), then ask before trading from the next one."""
    await app.ready.wait()
    await app.cycle_hook.run_now()
    await app.control.set_approval_mode(DEMO_ACTOR, on=True)
    if app.console is not None:
        app.console.write(
            "[demo] approval mode is now on: the next cycle (within a minute) asks before "
            "trading. Type /pending to see requests, /approve off to trade freely."
        )

"""Real processes for the end-to-end tests of the app: the simulator, `trader run`, reads.

A `Rig` owns one test's temporary directory: a migrated SQLite database, the simulator as a
child process (`python -m trader.cli sim --port 0`, the URL read from its output, so the port
is ephemeral), and the app (`python -m trader.cli run --no-console`) configured only through
its environment, pointed at the simulator as `polysim.demo.demo_settings` points the demo
(CLOB_HOST, GAMMA_HOST=/gamma, DATA_API_HOST=/data-api, CLOB_WS_URL=ws://.../ws). The children
run with the temporary directory as working directory (no stray `.env`) and are all killed in
`close()`. The database is read with the standard `sqlite3` module, which WAL lets run beside
the app.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.waiting import eventually
from trader.store.migrate import upgrade_async

REPO = Path(__file__).resolve().parents[2]
DEMO_SCENARIO = REPO / "polysim" / "demo" / "scenario.json"
_SIM_URL = re.compile(r"simulator on (http://127\.0\.0\.1:\d+)")


def demo_scenario(**changes: Any) -> dict[str, Any]:
    """The demo's simulator scenario with top-level keys replaced."""
    scenario: dict[str, Any] = json.loads(DEMO_SCENARIO.read_text())
    return {**scenario, **changes}


@dataclass
class Child:
    name: str
    process: asyncio.subprocess.Process
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def returncode(self) -> int | None:
        return self.process.returncode

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def send(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.process.pid, signum)

    async def exit_code(self, within: float) -> int:
        """The exit status once the process ends; AssertionError if it outlives `within` s."""
        try:
            return await asyncio.wait_for(self.process.wait(), timeout=within)
        except TimeoutError:
            raise AssertionError(f"{self.name} still running after {within}s") from None


@dataclass
class Rig:
    tmp: Path
    children: list[Child] = field(default_factory=list)
    sim_url: str = ""

    @property
    def database(self) -> Path:
        return self.tmp / "polyops.db"

    @property
    def database_url(self) -> str:
        return f"sqlite+aiosqlite:///{self.database}"

    def base_env(self) -> dict[str, str]:
        no_ca = self.tmp / "no-ca"  # plain HTTP on loopback: skip loading the CA bundle
        no_ca.mkdir(exist_ok=True)
        return {
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": str(REPO),
            "PYTHONUNBUFFERED": "1",
            "SSL_CERT_DIR": str(no_ca),
            # an LLM key would turn the news search on: no test reaches the real GDELT
            "RETRIEVAL_ENABLED": "false",
        }

    async def spawn(self, name: str, *args: str, env: dict[str, str]) -> Child:
        path = self.tmp / f"{name}-{len(self.children)}.log"
        with path.open("wb") as log:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "trader.cli",
                *args,
                cwd=self.tmp,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        child = Child(name, process, path)
        self.children.append(child)
        return child

    async def start_sim(self, scenario: dict[str, Any]) -> str:
        """Start `trader sim` on an ephemeral port; returns its base URL."""
        path = self.tmp / "scenario.json"
        path.write_text(json.dumps(scenario))
        sim = await self.spawn(
            "sim", "sim", "--port", "0", "--scenario", str(path), env=self.base_env()
        )

        def announced() -> bool:
            if sim.returncode is not None:
                raise AssertionError(f"the simulator exited: {sim.log()}")
            found = _SIM_URL.search(sim.log())
            self.sim_url = found.group(1) if found else ""
            return bool(found)

        await eventually(announced, timeout=30, interval=0.05)
        return self.sim_url

    def app_env(self, **settings: object) -> dict[str, str]:
        """The app's environment: paper mode against the simulator, quick heartbeats, the
        signal cycle effectively off; `settings` (NAME=value) override or add."""
        url = self.sim_url
        env = self.base_env() | {
            "DATABASE_URL": self.database_url,
            "TRADING_MODE": "paper",
            "CLOB_HOST": url,
            "GAMMA_HOST": f"{url}/gamma",
            "DATA_API_HOST": f"{url}/data-api",
            "CLOB_WS_URL": "ws" + url.removeprefix("http") + "/ws",
            "HTTP_PORT": "0",
            "LOG_LEVEL": "INFO",
            "MIN_LIQUIDITY_USD": "0",
            "HEARTBEAT_INTERVAL_S": "0.5",
            "WATCHDOG_TIMEOUT_S": "5",
            "SIGNAL_CYCLE_S": "3600",
        }
        env.update({name: str(value) for name, value in settings.items()})
        return env

    async def start_app(self, env: dict[str, str]) -> Child:
        """Start `trader run --no-console` and wait for its 'startup' event (fully started)."""
        app = await self.spawn("app", "run", "--no-console", env=env)

        def started() -> bool:
            if app.returncode is not None:
                raise AssertionError(f"the app exited with {app.returncode}:\n{self.logs()}")
            return any(
                e.type == "startup" and e.payload.get("pid") == app.pid
                for e in events(self.database)
            )

        await eventually(started, timeout=45, interval=0.1)
        return app

    def logs(self) -> str:
        return "\n".join(
            f"--- {child.log_path.name}\n{child.log()[-4000:]}" for child in self.children
        )

    async def close(self) -> None:
        for child in self.children:
            if child.returncode is None:
                child.send(signal.SIGKILL)  # also ends a stopped process
            await child.process.wait()


@asynccontextmanager
async def rig(tmp: Path) -> AsyncIterator[Rig]:
    """A migrated database in `tmp`; every child started through the rig is killed after."""
    processes = Rig(tmp)
    await upgrade_async(processes.database_url)
    try:
        yield processes
    finally:
        await processes.close()


# --- reading the database the app wrote --------------------------------------------------


@dataclass(frozen=True)
class Event:
    seq: int
    type: str
    payload: dict[str, Any]


def events(database: Path) -> list[Event]:
    with closing(sqlite3.connect(database)) as db:
        rows = db.execute("SELECT seq, type, payload FROM event_log ORDER BY seq").fetchall()
    return [Event(int(seq), str(kind), json.loads(payload or "{}")) for seq, kind, payload in rows]


def app_heartbeat(database: Path) -> dict[str, Any] | None:
    with closing(sqlite3.connect(database)) as db:
        db.row_factory = sqlite3.Row
        row = db.execute("SELECT * FROM heartbeats WHERE component = 'app'").fetchone()
    if row is None:
        return None
    beat = dict(row)
    beat["details"] = json.loads(beat["details"] or "{}")
    return beat


def order_rows(database: Path) -> list[dict[str, Any]]:
    with closing(sqlite3.connect(database)) as db:
        db.row_factory = sqlite3.Row
        return [dict(row) for row in db.execute("SELECT * FROM orders").fetchall()]

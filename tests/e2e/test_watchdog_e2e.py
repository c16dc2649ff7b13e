"""The watchdog as a real process, watching a real heartbeat-writing process.

A migrated temporary SQLite database (`trader migrate`), a fake Telegram Bot API server on
loopback, the app-like process, and `python -m trader.watchdog` with env settings (heartbeat
0.5 s, watchdog timeout 2 s). The app is frozen (SIGSTOP): the alert must reach the fake
server within WATCHDOG_TIMEOUT_S + 5 s, and "recovered" follows on SIGCONT. Then the app is
killed (SIGKILL): alert again within the same deadline, and "recovered" once it is restarted.

The app-like process is `trader run --no-console` once trader/app.py wires the
`HeartbeatWriter` (it then imports the name); until then it is a tiny process that runs only
the `HeartbeatWriter` against the same database, with the same settings.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.telegram_server import FakeBotAPI
from tests.support.waiting import eventually

pytestmark = pytest.mark.slow

OPERATOR = 1001
HEARTBEAT_S = 0.5
TIMEOUT_S = 2.0
DEADLINE_S = TIMEOUT_S + 5.0
BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[2]


@dataclass
class Processes:
    tmp: Path
    base_env: dict[str, str]
    started: list[asyncio.subprocess.Process] = field(default_factory=list)

    async def spawn(self, name: str, *args: str, env: dict[str, str]) -> asyncio.subprocess.Process:
        log = (self.tmp / f"{name}-{len(self.started)}.log").open("wb")
        try:
            process = await asyncio.create_subprocess_exec(
                *args, cwd=self.tmp, env=env, stdout=log, stderr=log
            )
        finally:
            log.close()
        self.started.append(process)
        return process

    async def app(self) -> asyncio.subprocess.Process:
        return await self.spawn(
            "app", str(BIN / "trader"), "run", "--no-console", env=self.base_env
        )

    def logs(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}"
            for path in sorted(self.tmp.glob("*.log"))
        )

    async def close(self) -> None:
        for process in self.started:
            if process.returncode is None:
                process.kill()  # SIGKILL also ends a stopped process
            await process.wait()


def heartbeat_pid(database: Path) -> int | None:
    with closing(sqlite3.connect(database)) as db:
        row = db.execute("SELECT pid FROM heartbeats WHERE component = 'app'").fetchone()
    return None if row is None else int(row[0])


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI() as server:
        yield server


@pytest.fixture
async def processes(tmp_path: Path) -> AsyncIterator[Processes]:
    database = tmp_path / "polyops.db"
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(REPO),
        "DATABASE_URL": f"sqlite+aiosqlite:///{database}",
        "HEARTBEAT_INTERVAL_S": str(HEARTBEAT_S),
        "WATCHDOG_TIMEOUT_S": str(TIMEOUT_S),
        "HTTP_PORT": "0",
        "LOG_LEVEL": "INFO",
        # nothing here may reach the real venue: a closed local port answers at once
        "CLOB_HOST": "http://127.0.0.1:9",
        "GAMMA_HOST": "http://127.0.0.1:9/gamma",
        "DATA_API_HOST": "http://127.0.0.1:9/data-api",
        "CLOB_WS_URL": "ws://127.0.0.1:9/ws",
    }
    procs = Processes(tmp_path, env)
    migrate = await procs.spawn("migrate", str(BIN / "trader"), "migrate", env=env)
    assert await migrate.wait() == 0, procs.logs()
    try:
        yield procs
    finally:
        await procs.close()


async def ready_from(notify: socket.socket) -> bytes:
    loop = asyncio.get_running_loop()
    while True:
        message = await loop.sock_recv(notify, 4096)
        if b"READY=1" in message:
            return message


async def test_watchdog_alerts_when_the_app_freezes_or_dies_and_says_recovered(
    api: FakeBotAPI, processes: Processes
) -> None:
    database = processes.tmp / "polyops.db"
    app = await processes.app()
    await eventually(lambda: heartbeat_pid(database) == app.pid, timeout=30)

    notify_name = f"polyops-e2e-{uuid.uuid4().hex}"
    with closing(socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)) as notify:
        notify.bind("\0" + notify_name)
        notify.setblocking(False)
        watchdog_env = processes.base_env | {
            "TELEGRAM_BOT_TOKEN": api.token,
            "TELEGRAM_API_BASE": api.base_url,
            "TELEGRAM_OPERATOR_IDS": str(OPERATOR),
            "NOTIFY_SOCKET": f"@{notify_name}",
        }
        watchdog = await processes.spawn(
            "watchdog", sys.executable, "-m", "trader.watchdog", env=watchdog_env
        )
        await asyncio.wait_for(ready_from(notify), timeout=30)

    def texts() -> list[str]:
        return [message.plain for message in api.to(OPERATOR)]

    def arrives(predicate: Callable[[str], bool], after: int) -> Callable[[], bool]:
        return lambda: any(predicate(text) for text in texts()[after:])

    try:
        assert texts() == []

        # 1. frozen: alert within the deadline, "recovered" when it thaws
        os.kill(app.pid, signal.SIGSTOP)
        await eventually(arrives(lambda t: "app silent" in t, 0), timeout=DEADLINE_S)
        os.kill(app.pid, signal.SIGCONT)
        await eventually(arrives(lambda t: "recovered" in t, 1), timeout=DEADLINE_S)
        seen = len(texts())

        # 2. killed: alert within the deadline, "recovered" when a new process beats
        os.kill(app.pid, signal.SIGKILL)
        await app.wait()
        await eventually(arrives(lambda t: "app silent" in t, seen), timeout=DEADLINE_S)
        restarted = await processes.app()
        await eventually(arrives(lambda t: "recovered" in t, seen + 1), timeout=30)
        assert f"pid {restarted.pid}" in texts()[-1]
    except AssertionError as error:
        raise AssertionError(f"{error}\n{texts()}\n{processes.logs()}") from None

    watchdog.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(watchdog.wait(), timeout=10) == 0
    assert api.token not in processes.logs()

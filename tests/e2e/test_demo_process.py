"""`trader demo` as a user runs it: HTTP_PORT honoured, an empty Telegram token means the
terminal chat, and its children (simulator, watchdog) end with it even on SIGKILL."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.processes import free_port
from tests.support.waiting import eventually

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc"),
]
REPO = Path(__file__).resolve().parents[2]


def children_of(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                stat = (entry / "stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
                    found.append(int(entry.name))
    return found


def command_of(pid: int) -> str:
    """The `trader` command a child runs (`python -m trader.cli COMMAND ...`)."""
    return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[3].decode()


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has ended; it only waits for its new parent to reap it


async def health_answers(port: int) -> bool:
    async with httpx.AsyncClient(timeout=1) as client:
        try:
            return (await client.get(f"http://127.0.0.1:{port}/health")).status_code == 200
        except httpx.HTTPError:
            return False


async def test_sigkilled_demo_takes_its_children_with_it(tmp_path: Path) -> None:
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(REPO),
        "HTTP_PORT": str(port),
        "TELEGRAM_BOT_TOKEN": "",  # set but empty: the terminal chat
    }
    log = tmp_path / "demo.log"
    with log.open("wb") as output:
        demo = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "trader.cli", "demo", "--duration", "300",
            cwd=tmp_path, env=env, stdin=asyncio.subprocess.DEVNULL, stdout=output, stderr=output,
        )  # fmt: skip
    children: list[int] = []
    try:
        await eventually(lambda: health_answers(port), timeout=90, interval=0.2)
        children = children_of(demo.pid)
        assert sorted(map(command_of, children)) == ["sim", "watchdog"]
        assert "Polyops demo: paper trading against the simulator" in log.read_text()

        demo.send_signal(signal.SIGKILL)
        await demo.wait()

        await eventually(lambda: not any(map(running, children)), timeout=10, interval=0.1)
    finally:
        if demo.returncode is None:
            demo.send_signal(signal.SIGKILL)
            await demo.wait()
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


async def test_the_demo_piped_as_the_readme_shows_opens_with_a_status_that_adds_up(
    tmp_path: Path,
) -> None:
    """`printf '/status\\n/report\\n' | make demo DEMO_ARGS="--duration N"` on a fresh
    checkout: the replayed history fills /report (a whole day up, its curve), but the app holds
    nothing yet, so today's P&L is nil."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(REPO),
        "HTTP_PORT": str(free_port()),
        "TELEGRAM_BOT_TOKEN": "",
    }
    demo = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "trader.cli", "demo", "--duration", "15",  # time for the report
        cwd=tmp_path, env=env, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(demo.communicate(b"/status\n/report\n"), timeout=180)
    shown = output.decode()

    expected = [
        "[demo] replayed 4 days of recorded (synthetic) history",
        "Equity $1,000.00 (positions at their bids) · cash $1,000.00",
        "Today $0.00 · drawdown 0.0%",
        "Equity $1,000.00 · day ",  # the report's yesterday closed at the bankroll
        "Uptime 100.0%",
        "image: ",
    ]
    assert demo.returncode == 0, shown[-3000:]
    assert [line for line in expected if line not in shown] == [], shown[-3000:]

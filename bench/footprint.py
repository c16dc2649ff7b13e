"""Start-up time and idle footprint of the app process (`trader run --no-console`).

    python -m bench footprint          (POLYOPS_BENCH_IDLE_S=10 for a shorter idle window)

The simulator runs as its own process (`trader sim`, the demo scenario); a temporary SQLite
database is migrated first. The app runs in paper mode on the default schedule (a signal cycle
every 30 minutes), so after start-up it is idle: market WebSocket, heartbeat, reconciliation
and health checks only. Figures:

- startup_to_ready_log_s: spawn to the 'ready' log line (settings, imports, database, venue
  connected, reconciled, chat and scheduler built);
- startup_to_health_s: spawn to the first answer from /health (the HTTP server is serving);
- startup_cpu_s: CPU seconds the process used to get there;
- idle_rss_mb / idle_rss_peak_mb: resident memory (VmRSS) at the end of the idle window, and
  its high-water mark (VmHWM) since the start;
- idle_cpu_s / idle_cpu_percent: user+system CPU seconds over the idle window (/proc stat).

Linux only (/proc). Figures include the interpreter and every imported library.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
SCENARIO = REPO / "polysim" / "demo" / "scenario.json"
IDLE_S = float(os.environ.get("POLYOPS_BENCH_IDLE_S", "60"))
STARTUP_TIMEOUT_S = 120.0
TICKS = os.sysconf("SC_CLK_TCK")


def _port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _spawn(args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(  # noqa: S603 - our own interpreter and CLI, fixed arguments
            [sys.executable, "-m", "trader.cli", *args],
            cwd=log.parent,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (fields 14 and 15)


def _status_mb(pid: int, key: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1]) / 1024  # kB
    raise RuntimeError(f"{key} not in /proc/{pid}/status")


def _wait(
    condition: str,
    check: Callable[[], bool],
    process: subprocess.Popen[bytes],
    log: Path,
    started: float,
) -> float:
    """Seconds from `started` until `check()` is true; fails if the process exits first."""
    while not check():
        if process.poll() is not None:
            raise RuntimeError(f"the app exited ({process.returncode}):\n{log.read_text()[-2000:]}")
        if time.monotonic() - started > STARTUP_TIMEOUT_S:
            raise RuntimeError(f"no {condition} within {STARTUP_TIMEOUT_S:.0f}s")
        time.sleep(0.01)
    return time.monotonic() - started


def _answers(url: str) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        httpx.get(url, timeout=1)
        return True
    return False


def _environment(workdir: Path, sim_port: int, http_port: int) -> dict[str, str]:
    sim = f"http://127.0.0.1:{sim_port}"
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TZ")}
    return keep | {
        "PYTHONPATH": str(REPO),
        "DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'bench.db'}",
        "TRADING_MODE": "paper",
        "CLOB_HOST": sim,
        "GAMMA_HOST": f"{sim}/gamma",
        "DATA_API_HOST": f"{sim}/data-api",
        "CLOB_WS_URL": f"ws://127.0.0.1:{sim_port}/ws",
        "HTTP_PORT": str(http_port),
        "LOG_LEVEL": "INFO",
    }


def _measure(workdir: Path) -> dict[str, float]:
    sim_port, http_port = _port(), _port()
    env = _environment(workdir, sim_port, http_port)
    migrate = _spawn(["migrate"], workdir / "migrate.log", env)
    if migrate.wait(timeout=STARTUP_TIMEOUT_S) != 0:
        raise RuntimeError((workdir / "migrate.log").read_text())
    sim_args = ["sim", "--port", str(sim_port), "--scenario", str(SCENARIO), "--seed", "7"]
    sim = _spawn(sim_args, workdir / "sim.log", env)
    app: subprocess.Popen[bytes] | None = None
    try:
        sim_up = f"http://127.0.0.1:{sim_port}/time"
        _wait("simulator", lambda: _answers(sim_up), sim, workdir / "sim.log", time.monotonic())
        log = workdir / "app.log"
        started = time.monotonic()
        app = _spawn(["run", "--no-console"], log, env)
        ready_log = _wait("ready log line", lambda: " ready " in log.read_text(), app, log, started)
        health = _wait(
            "/health", lambda: _answers(f"http://127.0.0.1:{http_port}/health"), app, log, started
        )
        startup_cpu = _cpu_seconds(app.pid)
        cpu_before = _cpu_seconds(app.pid)
        idle_started = time.monotonic()
        time.sleep(IDLE_S)
        idle = time.monotonic() - idle_started
        cpu = _cpu_seconds(app.pid) - cpu_before
        return {
            "startup_to_ready_log_s": round(ready_log, 3),
            "startup_to_health_s": round(health, 3),
            "startup_cpu_s": round(startup_cpu, 3),
            "idle_window_s": round(idle, 1),
            "idle_rss_mb": round(_status_mb(app.pid, "VmRSS"), 1),
            "idle_rss_peak_mb": round(_status_mb(app.pid, "VmHWM"), 1),
            "idle_cpu_s": round(cpu, 3),
            "idle_cpu_percent": round(100 * cpu / idle, 3),
        }
    finally:
        if app is not None:
            _stop(app)
        _stop(sim)


def run() -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="polyops-footprint-") as workdir:
        return _measure(Path(workdir))


if __name__ == "__main__":
    for name, value in run().items():
        print(f"{name:24} {value}")

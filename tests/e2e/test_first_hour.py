"""The README's "run for real" steps, as a new user follows them in a fresh folder:
`cp .env.example .env`, `trader check-config`, `trader migrate`, then `trader run` in paper
mode against `trader sim`, pointed at it through environment overrides."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.processes import free_port
from tests.support.waiting import eventually

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


async def trader(cwd: Path, env: dict[str, str], *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "trader.cli", *args, cwd=cwd, env=env,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_the_readme_run_for_real_steps_work_in_a_fresh_folder(tmp_path: Path) -> None:
    shutil.copy(REPO / ".env.example", tmp_path / ".env")  # cp .env.example .env
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO)}

    assert await trader(tmp_path, env, "check-config") == (
        0, "configuration ok: mode=paper tz=UTC\n", ""
    )  # fmt: skip
    assert await trader(tmp_path, env, "migrate") == (0, "database migrated to head\n", "")
    assert (tmp_path / "data" / "polyops.db").is_file()

    sim_log = tmp_path / "sim.log"
    with sim_log.open("wb") as output:  # trader sim, in its own terminal
        sim = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "trader.cli", "sim", "--port", "0", cwd=tmp_path,
            env=env | {"PYTHONUNBUFFERED": "1"}, stdout=output, stderr=output,
        )  # fmt: skip
    try:
        announced = re.compile(r"simulator on http://127\.0\.0\.1:(\d+)")
        await eventually(lambda: bool(announced.search(sim_log.read_text())), timeout=60)
        found = announced.search(sim_log.read_text())
        assert found is not None
        sim_port = int(found.group(1))
        http_port = free_port()
        overrides = {  # as the README's simulator section tells a user
            "CLOB_HOST": f"http://127.0.0.1:{sim_port}",
            "GAMMA_HOST": f"http://127.0.0.1:{sim_port}/gamma",
            "DATA_API_HOST": f"http://127.0.0.1:{sim_port}/data-api",
            "CLOB_WS_URL": f"ws://127.0.0.1:{sim_port}/ws",
            "HTTP_PORT": str(http_port),
        }
        run = asyncio.create_task(trader(tmp_path, env | overrides, "run", "--duration", "20"))
        health: list[dict[str, object]] = []

        async def healthy() -> bool:
            async with httpx.AsyncClient(timeout=1) as client:
                try:
                    response = await client.get(f"http://127.0.0.1:{http_port}/health")
                except httpx.HTTPError:
                    return False
            health.append(response.json())
            return response.status_code == 200

        await eventually(healthy, timeout=60, interval=0.2)
        code, out, err = await run
    finally:
        sim.terminate()
        await sim.wait()

    assert code == 0, err
    assert health[-1]["status"] == "ok", health[-1]
    assert re.search(r"INFO +trader\.app\.root: ready mode=paper", err), err
    assert "alembic" not in err
    assert "Traceback" not in out + err

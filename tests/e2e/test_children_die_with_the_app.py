"""A SIGKILLed trader leaves no report worker behind: the worker asks the kernel to kill it
when its parent dies (`trader.children.die_with_parent`), as the backtest child does."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import textwrap
from pathlib import Path

import pytest

from tests.support.waiting import eventually

REPO = Path(__file__).resolve().parents[2]
PARENT = textwrap.dedent(
    """
    import multiprocessing, os, time
    from concurrent.futures import ProcessPoolExecutor
    from trader.reports.worker import _child_start  # the report worker's own start
    pool = ProcessPoolExecutor(
        max_workers=1, mp_context=multiprocessing.get_context("spawn"), initializer=_child_start
    )
    print(pool.submit(os.getpid).result(), flush=True)
    time.sleep(600)
    """
)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
async def test_a_sigkilled_app_takes_its_report_worker_with_it() -> None:
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO)}
    parent = await asyncio.create_subprocess_exec(
        sys.executable, "-c", PARENT, env=env, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert parent.stdout is not None
        child = int((await asyncio.wait_for(parent.stdout.readline(), 60)).decode())
        assert alive(child)

        parent.send_signal(signal.SIGKILL)
        await parent.wait()

        await eventually(lambda: not alive(child), timeout=10)
    finally:
        if parent.returncode is None:
            parent.kill()
            await parent.wait()

"""Process helpers for the end-to-end suites and the chaos run: real processes on loopback.

- `Processes` owns every child it starts (`trader sim`, `trader run`, `trader watchdog`,
  `trader migrate`), logs each to a file, and kills whatever is still running in `close()`
  (call it in a `finally`).
- `Simulator` is a `trader sim` child with its admin API (`/_admin/state`, faults, resolve,
  price, drop_ws).
- `AppSettings.env()` is the environment of a `trader run` child: a migrated SQLite file,
  the simulator's URLs, paper or live mode (a deposit wallet `setup_wallet` made ready with
  `trader setup`, or a legacy account's EOA), optionally the fake Bot API, the fake Anthropic
  server and a news feed, and the caller's `extra` settings (a fast schedule, limits).
- `NewsFeed` serves an RSS feed of chosen headlines from the caller's loop.

Nothing here sleeps blindly: waits poll with a deadline and fail with the child's log tail.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import socket
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import httpx
from aiohttp import web
from eth_account import Account

REPO = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_S = 90.0  # importing aiogram, anthropic and the SDK is slow on a busy 2-core box


def free_port() -> int:
    """A port free right now on 127.0.0.1 (for children that need a fixed --port)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def random_key() -> str:
    """A fresh private key: the simulator accepts any key and funds its address."""
    return "0x" + secrets.token_hex(32)


def address_of(key: str) -> str:
    return str(Account.from_key(key).address).lower()


@dataclass
class Child:
    name: str
    process: asyncio.subprocess.Process
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process.returncode is None

    def tail(self, chars: int = 4000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    async def kill(self) -> None:
        """SIGKILL: no shutdown path runs (the crash the tests simulate)."""
        if self.running:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def stop(self, within: float = 40.0) -> int:
        """SIGTERM and wait for a graceful exit (SIGKILL after `within` s); the exit status."""
        if self.running:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.process.wait(), within)
        except TimeoutError:
            await self.kill()
            raise AssertionError(f"{self.name} did not stop within {within}s") from None


@dataclass
class Processes:
    """Every child process of one test or chaos run; `close()` kills the ones still alive."""

    workdir: Path
    children: list[Child] = field(default_factory=list)

    async def spawn(self, name: str, args: list[str], env: Mapping[str, str]) -> Child:
        log = self.workdir / f"{name}-{len(self.children)}.log"
        with log.open("wb") as out:
            process = await asyncio.create_subprocess_exec(
                *args,
                cwd=self.workdir,
                env=dict(env),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C on the runner does not reach the children
            )
        child = Child(name, process, log)
        self.children.append(child)
        return child

    async def trader(self, name: str, *args: str, env: Mapping[str, str]) -> Child:
        return await self.spawn(name, [sys.executable, "-m", "trader.cli", *args], env)

    async def run(self, name: str, *args: str, env: Mapping[str, str], within: float = 120) -> None:
        """A `trader` command to completion; fails with its log when the status is not 0."""
        child = await self.trader(name, *args, env=env)
        code = await asyncio.wait_for(child.process.wait(), within)
        if code != 0:
            raise AssertionError(f"trader {' '.join(args)} exited {code}:\n{child.tail()}")

    def logs(self, chars: int = 3000) -> str:
        return "\n".join(f"--- {c.log.name}\n{c.tail(chars)}" for c in self.children)

    async def close(self) -> None:
        for child in self.children:
            await child.kill()


def base_env() -> dict[str, str]:
    """The parent's environment minus anything that would point a child elsewhere."""
    env = {k: v for k, v in os.environ.items() if not _foreign(k)}
    env["PYTHONPATH"] = str(REPO)
    env["PYTHONUNBUFFERED"] = "1"
    # an LLM key would turn the news search on: no test reaches the real GDELT or Exa
    env["RETRIEVAL_ENABLED"] = "false"
    return env


def _foreign(name: str) -> bool:
    prefixes = (
        "TELEGRAM_",
        "WHATSAPP_",
        "ANTHROPIC_",
        "POLYMARKET_",
        "DATABASE_",
        "NOTIFY_",
        "RETRIEVAL_",
        "GDELT_",
        "EXA_",
    )
    return name.startswith(prefixes) or name in ("TRADING_MODE", "NEWS_FEEDS", "STRATEGY_STAGES")


# --- the simulator -------------------------------------------------------------------------


@dataclass
class Simulator:
    child: Child
    port: int
    http: httpx.AsyncClient

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def state(self) -> dict[str, Any]:
        response = await self.http.get("/_admin/state")
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    async def admin(self, path: str, body: Any) -> Any:
        response = await self.http.post(f"/_admin/{path}", json=body)
        response.raise_for_status()
        return response.json()

    async def faults(self, *rules: Mapping[str, Any]) -> Any:
        return await self.admin("faults", {"rules": [dict(r) for r in rules]})

    async def clear_faults(self) -> None:
        (await self.http.delete("/_admin/faults")).raise_for_status()

    async def resolve(self, condition_id: str, outcome: str | None = None) -> Any:
        body = {"condition_id": condition_id}
        if outcome is not None:
            body["outcome"] = outcome
        return await self.admin("resolve", body)

    async def price(self, condition_id: str, fair: str) -> Any:
        return await self.admin("price", {"condition_id": condition_id, "fair": fair})

    async def drop_ws(self, channel: str = "all") -> Any:
        return await self.admin("drop_ws", {"channel": channel})

    async def close(self) -> None:
        """Stop the simulator (SIGTERM) and close the admin client; safe to call twice."""
        await self.http.aclose()
        if self.child.running:
            await self.child.stop(within=10)


async def start_simulator(
    processes: Processes, scenario: Mapping[str, Any] | Path, *, seed: int
) -> Simulator:
    """`trader sim` on a free port with `scenario` (a dict is written beside the logs)."""
    path = scenario if isinstance(scenario, Path) else processes.workdir / "scenario.json"
    if not isinstance(scenario, Path):
        path.write_text(json.dumps(scenario))
    port = free_port()
    args = ("sim", "--port", str(port), "--scenario", str(path), "--seed", str(seed))
    child = await processes.trader("sim", *args, env=base_env())
    http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10)
    simulator = Simulator(child, port, http)
    try:
        await wait_http(f"{simulator.url}/time", child)
    except BaseException:
        await http.aclose()
        raise
    return simulator


async def wait_http(url: str, child: Child, within: float = STARTUP_TIMEOUT_S) -> float:
    """Poll `url` until it answers at all (any status); seconds waited. Fails if `child` exits."""
    started = time.monotonic()
    async with httpx.AsyncClient(timeout=2) as http:
        while True:
            if not child.running:
                raise AssertionError(
                    f"{child.name} exited with {child.process.returncode}:\n{child.tail()}"
                )
            with contextlib.suppress(httpx.HTTPError):
                await http.get(url)
                return time.monotonic() - started
            if time.monotonic() - started > within:
                raise AssertionError(f"{url} did not answer within {within}s:\n{child.tail()}")
            await asyncio.sleep(0.05)


# --- the app -------------------------------------------------------------------------------


@dataclass
class AppSettings:
    """The environment of one `trader run` / `trader watchdog` child."""

    database: Path
    sim_url: str
    http_port: int = field(default_factory=free_port)
    live_key: str | None = None  # None: paper mode
    # live: "deposit" trades through the key's deposit wallet (the default settings; run
    # `setup_wallet` before the app starts), "eoa" from the key's own address (a legacy
    # account: POLYMARKET_SIGNATURE_TYPE=0)
    wallet: str = "eoa"
    telegram: tuple[str, str, int] | None = None  # (token, api base, operator id)
    anthropic_url: str | None = None
    news_feed: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def database_url(self) -> str:
        return f"sqlite+aiosqlite:///{self.database}"

    @property
    def health_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/health"

    def env(self) -> dict[str, str]:
        sim, ws = self.sim_url, "ws" + self.sim_url.removeprefix("http")
        env = base_env() | {
            "DATABASE_URL": self.database_url,
            "CLOB_HOST": sim,
            "GAMMA_HOST": f"{sim}/gamma",
            "DATA_API_HOST": f"{sim}/data-api",
            "CLOB_WS_URL": f"{ws}/ws",
            "HTTP_PORT": str(self.http_port),
            "MIN_LIQUIDITY_USD": "0",
            "LOG_LEVEL": "INFO",
            "TRADING_MODE": "paper",
        }
        if self.live_key is not None:
            env |= {
                "TRADING_MODE": "live",
                "POLYMARKET_PRIVATE_KEY": self.live_key,
                **({"POLYMARKET_SIGNATURE_TYPE": "0"} if self.wallet == "eoa" else {}),
                # as an operator would have promoted it after its paper record (/promote)
                "STRATEGY_STAGES": "llm_edge=live",
            }
        if self.telegram is not None:
            token, base, operator = self.telegram
            env |= {
                "TELEGRAM_BOT_TOKEN": token,
                "TELEGRAM_API_BASE": base,
                "TELEGRAM_OPERATOR_IDS": str(operator),
            }
        if self.anthropic_url is not None:
            env |= {
                "ANTHROPIC_API_KEY": "sk-ant-e2e-fake",
                "ANTHROPIC_BASE_URL": self.anthropic_url,
            }
        if self.news_feed is not None:
            env["NEWS_FEEDS"] = self.news_feed
        return env | self.extra


async def start_app(processes: Processes, settings: AppSettings, name: str = "app") -> Child:
    """`trader run --no-console`, waited for until its /health answers (it serves once ready)."""
    child = await processes.trader(name, "run", "--no-console", env=settings.env())
    await wait_http(settings.health_url, child)
    return child


async def migrate(processes: Processes, settings: AppSettings) -> None:
    await processes.run("migrate", "migrate", env=settings.env())


async def setup_wallet(processes: Processes, sim: Simulator, settings: AppSettings) -> str:
    """A new account's first steps on the default settings: a relayer key for the signer
    (the simulator mints it, as polymarket.com does), then `trader setup`, which deploys the
    deposit wallet through the relayer and grants its approvals. The wallet's address."""
    if settings.live_key is None or settings.wallet != "deposit":
        raise ValueError("setup_wallet is for a live key trading through its deposit wallet")
    signer = Account.from_key(settings.live_key).address
    minted = await sim.admin("relayer-api-key", {"address": signer})
    settings.extra |= {
        "POLYMARKET_RELAYER_API_KEY": minted["key"],
        "POLYMARKET_RELAYER_API_KEY_ADDRESS": minted["address"],
    }
    await processes.run("setup", "setup", env=settings.env())
    return deposit_wallet_of(signer)


def deposit_wallet_of(signer: str) -> str:
    """The signer's deposit wallet as the official SDK derives it (lower case)."""
    from polymarket._internal.wallet import derive_beacon_deposit_wallet_address
    from polymarket.environments import PRODUCTION

    derivation = PRODUCTION._config.wallet_derivation
    return derive_beacon_deposit_wallet_address(signer, derivation).lower()


# --- a local news wire ---------------------------------------------------------------------


@dataclass
class NewsFeed:
    """An RSS feed on 127.0.0.1 serving `headlines`, each published `minutes_old` minutes
    before the request (a list the caller may extend while it runs: breaking news)."""

    headlines: list[str]
    minutes_old: int = 10
    runner: web.AppRunner | None = None
    url: str = ""

    async def start(self) -> NewsFeed:
        app = web.Application()
        app.router.add_get("/news.xml", self._feed)
        self.runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}/news.xml"
        return self

    async def _feed(self, request: web.Request) -> web.Response:
        published = format_datetime(datetime.now(UTC) - timedelta(minutes=self.minutes_old))
        items = "".join(
            f"<item><title>{escape(title)}</title><guid>e2e-{n}</guid>"
            f"<link>http://127.0.0.1/e2e/{n}</link><pubDate>{published}</pubDate>"
            f"<description>{escape(title)}.</description></item>"
            for n, title in enumerate(self.headlines)
        )
        body = (
            '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
            "<title>Polyops e2e wire</title><link>http://127.0.0.1/</link>"
            f"<description>test headlines</description>{items}</channel></rss>"
        )
        return web.Response(text=body, content_type="application/rss+xml")

    async def close(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None


__all__ = [
    "REPO",
    "AppSettings",
    "Child",
    "NewsFeed",
    "Processes",
    "Simulator",
    "address_of",
    "base_env",
    "deposit_wallet_of",
    "free_port",
    "migrate",
    "random_key",
    "setup_wallet",
    "start_app",
    "start_simulator",
    "wait_http",
]

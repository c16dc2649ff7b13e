"""Mission control end to end: two traders and a hub, every one a real process on 127.0.0.1.

`alpha` trades paper and `beta` live (the real Polymarket SDK with a random key), both against
one CLOB simulator (`trader sim`), each serving its Control API over signed HTTP. `trader hub`
runs the Telegram transport (the real aiogram client against the fake Bot API in this test's
loop) for both. Over the chat: /status shows both, /pause beta pauses only beta, /kill all
kills both after one confirmation, the kill alert of each arrives tagged with its name, and a
SIGKILLed trader becomes an "instance not answering" alert. A viewer cannot control through
the hub, and a forged request straight to a trader is refused and recorded in its event log.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from tests.support.app_process import demo_scenario
from tests.support.processes import (
    AppSettings,
    Child,
    Processes,
    base_env,
    free_port,
    migrate,
    random_key,
    start_app,
    start_simulator,
    wait_http,
)
from tests.support.telegram_server import OPERATOR_ID, VIEWER_ID, FakeBotAPI, Sent
from tests.support.waiting import eventually
from tests.support.web_rig import OPERATOR, login
from trader.web.auth import hash_password

pytestmark = pytest.mark.slow
WEB_USERS = f"{OPERATOR[0]}=operator={hash_password(OPERATOR[1], iterations=1000)}"


def _reasons(database: Path) -> list[str]:
    with closing(sqlite3.connect(database)) as db:
        rows = db.execute(
            "SELECT payload FROM event_log WHERE type = 'control_api_refused' ORDER BY seq"
        ).fetchall()
    return [json.loads(payload)["reason"] for (payload,) in rows]


def _trading_state(database: Path) -> str:
    with closing(sqlite3.connect(database)) as db:
        row = db.execute(
            "SELECT payload FROM event_log WHERE type = 'trading_state_changed' "
            "ORDER BY seq DESC LIMIT 1"
        ).fetchone()
    return str(json.loads(row[0]).get("to", "RUNNING")) if row else "RUNNING"


class Chat:
    def __init__(self, api: FakeBotAPI) -> None:
        self.api = api

    async def say(self, user: int, text: str, starts: str, within: float = 30) -> Sent:
        before = len(self.api.to(user))
        self.api.send_text(user, text)

        def answered() -> Sent | None:
            return next((s for s in self.api.to(user)[before:] if s.plain.startswith(starts)), None)

        await eventually(lambda: answered() is not None, timeout=within)
        found = answered()
        assert found is not None
        return found

    async def alert(self, user: int, text: str, within: float = 30) -> str:
        await eventually(lambda: any(text in t for t in self.api.texts(user)), timeout=within)
        return next(t for t in self.api.texts(user) if text in t)


@pytest.fixture
async def processes(tmp_path: Path) -> AsyncIterator[Processes]:
    children = Processes(tmp_path)
    try:
        yield children
    finally:
        await children.close()


async def test_two_traders_and_a_hub_over_telegram(processes: Processes, tmp_path: Path) -> None:
    sim = await start_simulator(processes, demo_scenario(), seed=7)
    keys = {name: secrets.token_hex(32) for name in ("alpha", "beta")}
    traders: dict[str, AppSettings] = {}
    for name, live_key in (("alpha", None), ("beta", random_key())):
        traders[name] = AppSettings(
            tmp_path / f"{name}.db",
            sim.url,
            live_key=live_key,
            extra={
                "TRADER_NAME": name,
                "CONTROL_API_ENABLED": "true",
                "CONTROL_API_SECRET": keys[name],
                "SIGNAL_CYCLE_S": "3600",
                "HEARTBEAT_INTERVAL_S": "1",
                "WEB_USERS": WEB_USERS,
            },
        )
        await migrate(processes, traders[name])
    children: dict[str, Child] = {}
    for name, settings in traders.items():
        children[name] = await start_app(processes, settings, name=name)

    async with FakeBotAPI() as api:
        hub_port = free_port()
        hub_env = base_env() | {
            "TELEGRAM_BOT_TOKEN": api.token,
            "TELEGRAM_API_BASE": api.base_url,
            "TELEGRAM_OPERATOR_IDS": str(OPERATOR_ID),
            "TELEGRAM_VIEWER_IDS": str(VIEWER_ID),
            "HUB_INSTANCES": ",".join(
                f"{n}=http://127.0.0.1:{s.http_port}" for n, s in traders.items()
            ),
            "HUB_SECRETS": ",".join(f"{n}={k}" for n, k in keys.items()),
            "HUB_POLL_S": "1",
            "HTTP_PORT": str(hub_port),
            "WEB_USERS": WEB_USERS,
        }
        hub = await processes.trader("hub", "hub", env=hub_env)
        await wait_http(f"http://127.0.0.1:{hub_port}/health", hub)
        chat = Chat(api)
        try:
            await chat.alert(OPERATOR_ID, "Polyops hub", within=60)

            # /status: one line per instance and a total
            status = await chat.say(OPERATOR_ID, "/status", "Polyops · 2 instances")
            lines = status.plain.splitlines()
            assert lines[1].startswith("🟢 alpha · paper · RUNNING")
            assert lines[2].startswith("🟢 beta · live · RUNNING")
            assert lines[3].startswith("Total $")

            # the web page: the hub's shows both, a lone trader's shows itself
            for port, shown in (
                (hub_port, ("alpha", "beta")),
                (traders["alpha"].http_port, ("alpha",)),
            ):
                # the first chart starts the report process (matplotlib): slow on a loaded machine
                web = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60)
                async with web:
                    await login(web, OPERATOR)
                    page = (await web.get("/")).text
                    chart = await web.get("/chart/alpha.png")  # drawn by alpha, carried over
                assert chart.status_code == 200
                assert chart.content.startswith(b"\x89PNG")
                for name in shown:
                    assert f'id="state-{name}">RUNNING<' in page
                assert ('id="instance-beta"' in page) is (len(shown) == 2)

            # a viewer reads, and controls nothing
            refused = await chat.say(
                VIEWER_ID, "/pause beta", "[beta] /pause needs the operator role"
            )
            assert refused.plain
            assert _trading_state(traders["beta"].database) == "RUNNING"

            # /pause beta pauses only beta
            await chat.say(OPERATOR_ID, "/pause beta lunch", "[beta] Paused")
            status = await chat.say(OPERATOR_ID, "/status", "Polyops · 2 instances")
            assert "🟡 beta · live · PAUSED" in status.plain
            assert "🟢 alpha · paper · RUNNING" in status.plain

            # /kill all: one confirmation listing both, then both KILLED, each alert tagged
            prompt = await chat.say(OPERATOR_ID, "/kill all", "⚠️ Kill ALL 2 instances")
            asked = prompt.plain
            assert "• alpha (paper, RUNNING" in asked
            assert "• beta (live, PAUSED" in asked
            data = next(d for label, d in prompt.buttons if "halt ALL" in label)
            api.press(OPERATOR_ID, prompt, data)
            await eventually(lambda: "beta: KILLED" in prompt.plain, timeout=30)
            assert "alpha: KILLED" in prompt.plain
            for name in ("alpha", "beta"):
                await chat.alert(
                    OPERATOR_ID, f"[{name}] Trading KILLED by hub.telegram:{OPERATOR_ID}"
                )
                database = traders[name].database
                await eventually(lambda db=database: _trading_state(db) == "KILLED")

            # a forged request straight to beta is refused and recorded in beta's event log
            async with httpx.AsyncClient() as http:
                forged = await http.post(
                    f"http://127.0.0.1:{traders['beta'].http_port}/control/v1/call/rearm",
                    json={"actor": {"channel": "x", "user_id": "1"}, "args": {}},
                    headers={
                        "X-Polyops-Timestamp": "1",
                        "X-Polyops-Nonce": "0" * 32,
                        "X-Polyops-Signature": "0" * 64,
                    },
                )
            assert forged.status_code == 401
            await eventually(lambda: "bad_signature" in _reasons(traders["beta"].database))

            # a trader SIGKILLed: the hub says the instance is not answering
            await children["beta"].kill()
            down = await chat.alert(OPERATOR_ID, "[beta] instance not answering", within=30)
            assert down.startswith("🚨")
            status = await chat.say(OPERATOR_ID, "/status", "Polyops · 2 instances")
            assert "⚫ beta · not answering" in status.plain
            assert "🔴 alpha · paper · KILLED" in status.plain
        except BaseException:
            print(processes.logs())
            raise
        finally:
            await hub.stop(within=20)
            await sim.close()

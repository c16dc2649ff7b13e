"""The app imports what its configuration uses, when it first uses it (issue 21): a paper
configuration without an LLM key, a Telegram token or a report imports neither anthropic nor
aiogram nor matplotlib; paper trading reads Polymarket's public data without the Polymarket
SDK (polymarket-client) or its signing stack (eth_account); no feed read yet, no feedparser;
the schema check reads no Alembic, and without WEB_USERS no web page (jinja2) is loaded. Nor
are our own modules for what is off: the LLM path (its prompts, caching, batching, screening),
retrieval (RETRIEVAL off without a key), the WhatsApp transport, the recorder, and the
machinery of /why, /backtest and the reports (built at their first command or daily report).
The child starts as `trader run` does, with the garbage collector off, and the app turns it
back on once ready. The app runs in a child process against the simulator, so the modules
this test process imported do not count."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from tests.support.anthropic_server import FakeAnthropicServer
from tests.support.app_process import demo_scenario, rig

HEAVY = (
    "anthropic", "aiogram", "matplotlib", "alembic", "jinja2", "polymarket", "eth_account",
    "feedparser", "pyarrow",
)  # fmt: skip
LLM_PATH = (
    "trader.signals.llm", "trader.signals.prompts", "trader.signals.caching",
    "trader.signals.batching", "trader.signals.screening",
)  # fmt: skip
RETRIEVAL = (
    "trader.signals.retrieval.assembly", "trader.signals.retrieval.retriever",
    "trader.signals.retrieval.articles", "trader.signals.retrieval.gdelt",
)  # fmt: skip
OFF = (
    "bot.whatsapp",
    "trader.recording",
    "trader.explain",
    "trader.backtest.job",
    "trader.reports",
)
WATCHED = (*HEAVY, *LLM_PATH, *RETRIEVAL, *OFF)
NONE_OF_THEM = dict.fromkeys(WATCHED, False)


async def _loaded(env: dict[str, str], cwd: Path) -> tuple[dict[str, bool], bool]:
    """Which of WATCHED the ready app imported, and whether its garbage collector is on."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.support.loaded_modules",
        *WATCHED,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=90)
    assert process.returncode == 0, err.decode(errors="replace")[-3000:]
    lines = [line for line in out.decode().splitlines() if line.startswith('{"loaded"')]
    assert lines, out.decode() + err.decode(errors="replace")[-3000:]
    answer = json.loads(lines[-1])
    return answer["loaded"], answer["collector"]


async def test_paper_app_without_keys_imports_no_llm_sdk_no_aiogram_no_matplotlib_no_venue_sdk(
    tmp_path: Path,
) -> None:
    async with rig(tmp_path) as processes:
        await processes.start_sim(demo_scenario())

        loaded, _collector = await _loaded(processes.app_env(), tmp_path)

    assert loaded == NONE_OF_THEM


async def test_the_app_turns_the_collector_back_on_once_ready(tmp_path: Path) -> None:
    async with rig(tmp_path) as processes:
        await processes.start_sim(demo_scenario())

        _loaded_modules, collector = await _loaded(processes.app_env(), tmp_path)

    assert collector is True


async def test_an_llm_key_is_what_brings_the_anthropic_sdk_in(tmp_path: Path) -> None:
    async with FakeAnthropicServer() as llm, rig(tmp_path) as processes:
        await processes.start_sim(demo_scenario())
        env = processes.app_env(ANTHROPIC_API_KEY="sk-ant-test", ANTHROPIC_BASE_URL=llm.url)

        loaded, _collector = await _loaded(env, tmp_path)

    assert loaded == NONE_OF_THEM | {"anthropic": True} | dict.fromkeys(LLM_PATH, True)


async def test_retrieval_the_recorder_and_whatsapp_are_imported_when_configured(
    tmp_path: Path,
) -> None:
    async with rig(tmp_path) as processes:
        await processes.start_sim(demo_scenario())
        env = processes.app_env(
            RETRIEVAL_ENABLED="true",  # GDELT, keyless; nothing is searched before a cycle
            RECORDER_ENABLED="true",
            RECORDER_DIR=str(tmp_path / "recorded"),
            WHATSAPP_TOKEN="wa-token",
            WHATSAPP_PHONE_NUMBER_ID="1234567890",
            WHATSAPP_APP_SECRET="wa-secret",
            WHATSAPP_API_BASE="http://127.0.0.1:9",  # the transport is built, never started
        )

        loaded, _collector = await _loaded(env, tmp_path)

    configured = (*RETRIEVAL, "trader.recording", "bot.whatsapp")
    assert {name: loaded[name] for name in (*configured, "trader.signals.llm")} == {
        **dict.fromkeys(configured, True),
        "trader.signals.llm": False,  # still no key (the queries' parser reads prompts' errors)
    }

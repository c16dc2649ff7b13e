"""A setting a service refuses at start-up stops `trader run` like a bad setting does."""

from __future__ import annotations

from pathlib import Path

from tests.support.app_process import demo_scenario, rig
from tests.support.telegram_server import FakeBotAPI

WRONG_TOKEN = "123456789:AAWrongTokenTheFakeAnswers401To_012345"


async def test_a_telegram_token_refused_at_start_up_is_one_line_and_exit_2(tmp_path: Path) -> None:
    async with FakeBotAPI() as telegram, rig(tmp_path) as processes:
        await processes.start_sim(demo_scenario())
        env = processes.app_env(TELEGRAM_BOT_TOKEN=WRONG_TOKEN, TELEGRAM_API_BASE=telegram.base_url)
        app = await processes.spawn("app", "run", "--no-console", env=env)

        code = await app.exit_code(within=60)

        output = app.log()
        assert code == 2, output
        named = [line for line in output.splitlines() if line.startswith("TELEGRAM_BOT_TOKEN")]
        assert named == ["TELEGRAM_BOT_TOKEN: Telegram refused the token (revoked or mistyped)"]
        assert "Traceback" not in output
        assert WRONG_TOKEN.split(":")[1] not in output

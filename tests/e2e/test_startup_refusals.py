"""A setting a service refuses at start-up stops `trader run` like a bad setting does: a
revoked Telegram token, a deposit wallet `trader setup` has not deployed yet."""

from __future__ import annotations

import secrets
from pathlib import Path

import httpx
from eth_account import Account

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


async def test_a_new_account_is_told_to_run_trader_setup_and_starts_once_it_did(
    tmp_path: Path,
) -> None:
    key = "0x" + secrets.token_hex(32)
    signer = Account.from_key(key).address
    async with rig(tmp_path) as processes:
        url = await processes.start_sim(demo_scenario(new_accounts="all", chain_confirm_s=0.2))
        env = processes.app_env(TRADING_MODE="live", POLYMARKET_PRIVATE_KEY=key)  # defaults
        refused = await processes.spawn("app", "run", "--no-console", env=env)
        code = await refused.exit_code(within=60)
        output = refused.log()

        async with httpx.AsyncClient(base_url=url, timeout=5) as admin:
            minted = (await admin.post("/_admin/relayer-api-key", json={"address": signer})).json()
        env |= {
            "POLYMARKET_RELAYER_API_KEY": minted["key"],
            "POLYMARKET_RELAYER_API_KEY_ADDRESS": minted["address"],
        }
        setup = await processes.spawn("setup", "setup", env=env)
        setup_code = await setup.exit_code(within=60)
        await processes.start_app(env)  # waits for its startup event: it runs

    assert code == 2, output
    named = [line for line in output.splitlines() if line.startswith("POLYMARKET_")]
    assert len(named) == 1, output
    assert named[0].startswith("POLYMARKET_SIGNATURE_TYPE: the deposit wallet 0x")
    assert named[0].endswith(
        "is not deployed yet: run `trader setup` (it deploys the wallet through the relayer "
        "and sets its approvals)"
    )
    assert "Traceback" not in output
    assert key.removeprefix("0x") not in output
    assert setup_code == 0, setup.log()
    assert "ready to trade" in setup.log()
    assert minted["key"] not in setup.log()

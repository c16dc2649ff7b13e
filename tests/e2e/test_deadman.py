"""The venue's dead-man switch, end to end: the real app in live mode against the simulator.

The app (`trader run --no-console`, TRADING_MODE=live with a random key) sends order heartbeats
every VENUE_HEARTBEAT_S; the simulator (a child process, heartbeat timeout shortened to 3 s by
its scenario) cancels an API key's resting orders once its heartbeats stop.

How the resting order gets there: the app's strategies only send FAK/FOK orders, which never
rest, so no cycle can leave one on the book. The test places a GTC limit buy far below the
market with the app's own account (same key, hence the same derived L2 API key), as an operator
placing by hand would; the app's reconciler then adopts it (an `adopted-` order row, strategy
"external"), so it is the app's resting order from then on. Checked before the kill: the app's
heartbeats keep the switch armed and the order rests. Then SIGKILL: within 20 s the simulator
shows no resting order for the account.
"""

from __future__ import annotations

import secrets
import signal
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account
from polymarket import AsyncSecureClient

from tests.support.app_process import Rig, demo_scenario, order_rows, rig
from tests.support.waiting import eventually
from trader.venue.polymarket.sdk_env import build_environment

pytestmark = pytest.mark.slow

SIM_HEARTBEAT_TIMEOUT_S = 3.0
CANCEL_DEADLINE_S = 20.0
KEY = "0x" + secrets.token_hex(32)
ADDRESS = Account.from_key(KEY).address


@pytest.fixture
async def processes(tmp_path: Path) -> AsyncIterator[Rig]:
    async with rig(tmp_path) as running:
        await running.start_sim(demo_scenario(heartbeat_timeout_s=SIM_HEARTBEAT_TIMEOUT_S))
        yield running


async def sim_state(url: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=url, timeout=5) as http:
        response = await http.get("/_admin/state")
        response.raise_for_status()
        state: dict[str, Any] = response.json()
    return state


def order_row(processes: Rig, venue_order_id: str) -> dict[str, Any] | None:
    rows = order_rows(processes.database)
    return next((row for row in rows if row["venue_order_id"] == venue_order_id), None)


async def place_resting_buy(url: str) -> tuple[str, str]:
    """A GTC buy well below the best bid, from the app's account: (order id, API key)."""
    ws = "ws" + url.removeprefix("http") + "/ws"
    environment = build_environment(
        clob_url=url,
        gamma_url=f"{url}/gamma",
        data_url=f"{url}/data-api",
        market_ws_url=f"{ws}/market",
        user_ws_url=f"{ws}/user",
    )
    market = (await sim_state(url))["markets"][0]
    price = Decimal(market["best_bid"]) - Decimal("0.10")
    client = await AsyncSecureClient.create(
        private_key=KEY, wallet=ADDRESS, environment=environment
    )
    try:
        placed = await client.place_limit_order(
            token_id=market["token_ids"][0], price=str(price), size="10", side="BUY"
        )
        order_id = placed.order_id  # type: ignore[union-attr]
        return str(order_id), client.credentials.key
    finally:
        await client.close()


async def test_sigkilled_app_has_its_resting_orders_cancelled_by_the_venue(
    processes: Rig,
) -> None:
    url = processes.sim_url
    env = processes.app_env(  # a legacy account trading from the key's own address
        TRADING_MODE="live", POLYMARKET_PRIVATE_KEY=KEY, POLYMARKET_SIGNATURE_TYPE="0"
    )
    env |= {"VENUE_HEARTBEAT_S": "1", "RECONCILE_S": "1"}
    app = await processes.start_app(env)
    try:
        order_id, api_key = await place_resting_buy(url)
        await eventually(lambda: order_row(processes, order_id) is not None, timeout=15)
        armed = (await sim_state(url))["heartbeats"]
        assert api_key in armed, f"the app never armed the dead-man switch: {armed}"

        async def beats_again() -> bool:
            deadline = float((await sim_state(url))["heartbeats"].get(api_key, 0))
            return deadline > float(armed[api_key])

        await eventually(beats_again, timeout=10, interval=0.2)
        assert order_id in (await sim_state(url))["open_order_ids"]

        app.send(signal.SIGKILL)
        await app.exit_code(within=5)

        async def cancelled() -> bool:
            state = await sim_state(url)
            ours = [o for o in state["orders"] if o["maker_address"].lower() == ADDRESS.lower()]
            return not set(state["open_order_ids"]) & {o["id"] for o in ours}

        await eventually(cancelled, timeout=CANCEL_DEADLINE_S, interval=0.25)
    except AssertionError as error:
        raise AssertionError(f"{error}\n{processes.logs()}") from None

    state = await sim_state(url)
    order = next(o for o in state["orders"] if o["id"] == order_id)
    assert order["status"] == "CANCELED"
    assert api_key not in state["heartbeats"]  # the registration ended with the cancel
    adopted = order_row(processes, order_id)
    assert adopted is not None
    assert adopted["client_order_id"] == f"adopted-{order_id}"

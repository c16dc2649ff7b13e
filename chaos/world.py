"""The world a chaos run trades in: the simulator's markets, the news the heuristic model reads,
the app's environment (live mode, a fast schedule, wide limits) and the operator's settings.

Signal cycles run every second with the deterministic heuristic model (no LLM: the chaos is
at the venue and in the process, not in the model). In some trials the app makes its entries
maker orders (`MAKER`): post-only, repriced every second, lapsing after six. The operator
has set the per-token cooldown to zero and muted info alerts, so the strategies trade every
cycle the price moves and the chat carries only warnings, criticals and command replies.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from tests.support.processes import AppSettings
from tests.support.telegram_server import OPERATOR_ID, FakeBotAPI
from trader.clock import SystemClock
from trader.state import ALERT_SETTINGS_KEY, ALLOW_HEURISTIC_LIVE_KEY, RISK_LIMITS_KEY
from trader.store.db import create_engine, session_factory
from trader.store.repositories import ControlStateRepository

OPERATOR = OPERATOR_ID


def _market(question: str, slug: str, fair: str, volatility: float) -> dict[str, Any]:
    return {
        "question": question,
        "slug": slug,
        "fair_price": fair,
        "volatility": volatility,
        "tick_size": "0.01",
        "depth": 5,
        "level_size": "300",
        "flow_rate": 0.3,
        "flow_size": "40",
        "end_in_s": 30 * 86400,
        "volume": "900000",
        "liquidity": "50000",
    }


SCENARIO: dict[str, Any] = {
    "seed": 1,
    "tick_interval_s": 0.25,
    "heartbeat_timeout_s": 15.0,
    "settlement_delay_s": 0.5,
    "initial_collateral": "1000000",
    "markets": [
        _market("Will the Fed cut rates at its next meeting?", "fed-cut", "0.62", 0.03),
        _market("Will BTC close above $150k this year?", "btc-150k", "0.30", 0.04),
        _market("Will the merger receive regulatory approval?", "merger", "0.41", 0.03),
        _market("Will a new national heat record be set?", "heat-record", "0.55", 0.03),
        _market("Will the home team win tonight's final?", "final-home", "0.50", 0.05),
    ],
}
HEADLINES = (
    "Fed officials signal support for a rate cut at the next meeting",
    "BTC rally stalls; analysts say $150k close this year unlikely",
    "Merger approval advances as regulators clear the final review",
    "Heat record unlikely this summer as forecasts fall below the peak",
    "Home team leads the final at half time",
)
FAST_AND_WIDE = {
    "SIGNAL_CYCLE_S": "1",
    "MARKET_REFRESH_S": "30",
    "RECONCILE_S": "2",
    "EQUITY_SNAPSHOT_S": "5",
    # live redemptions go through the SDK and the relayer: a run may take a few requests (a run
    # cut off by its interval leaves a request unsent, settled after the grace; >2 s confirm)
    "REDEEM_S": "5",
    "REDEEM_UNSENT_GRACE_S": "30",
    "HEALTH_CHECK_S": "30",
    "HEARTBEAT_INTERVAL_S": "1",
    "MAX_ORDER_NOTIONAL_USD": "20",
    "MAX_POSITION_USD": "100000",
    "MAX_EXPOSURE_USD": "1000000",
    "MAX_OPEN_ORDERS": "500",
    "MAX_ORDERS_PER_MINUTE": "600",
    "DAILY_LOSS_LIMIT_USD": "100000",
    "LOG_LEVEL": "INFO",
}

# the app of every `ChaosConfig.maker_every`-th trial: its entries rest post-only and are
# repriced every second (the markets move about that often); 200 s is the shortest life that
# rests GTD (the venue's 180 s lead and 5 s of margin), so an entry lapses at its first reprice
# after about 15 s; an edge of 0.08 at the ask makes an entry urgent (it takes when it cannot
# rest)
MAKER = {
    "MAKER_ENTRY": "true",
    "MAKER_IMPROVE_TICKS": "1",
    "MAKER_URGENT_EDGE": "0.08",
    "MAKER_REPRICE_S": "1",
    "MAKER_TTL_S": "200",
}


def app_environment(
    workdir: Path, sim_url: str, seed: int, api: FakeBotAPI, feed_url: str
) -> AppSettings:
    # a test key from the seed (the simulator funds any address), not a secret
    key = "0x" + random.Random(seed).randbytes(32).hex()  # noqa: S311
    return AppSettings(
        workdir / "chaos.db",
        sim_url,
        live_key=key,
        wallet="deposit",  # a new account on the default settings: `trader setup` first
        telegram=(api.token, api.base_url, OPERATOR),
        news_feed=feed_url,
        extra=dict(FAST_AND_WIDE),
    )


async def configure_operator(database_url: str) -> None:
    """What the operator would have set from the chat before the run: no cooldown between
    orders on one token (the other limits come from the environment), warnings and up, and
    `/set allow_heuristic_live on` (the run trades the heuristic, live against the simulator)."""
    engine = create_engine(database_url)
    try:
        store = ControlStateRepository(session_factory(engine), SystemClock())
        await store.set(RISK_LIMITS_KEY, {"cooldown_s": "0"}, updated_by="chaos:operator")
        await store.set(
            ALERT_SETTINGS_KEY, {"min_severity": "warning"}, updated_by="chaos:operator"
        )
        await store.set(ALLOW_HEURISTIC_LIVE_KEY, True, updated_by="chaos:operator")
    finally:
        await engine.dispose()


__all__ = [
    "FAST_AND_WIDE",
    "HEADLINES",
    "MAKER",
    "OPERATOR",
    "SCENARIO",
    "app_environment",
    "configure_operator",
]

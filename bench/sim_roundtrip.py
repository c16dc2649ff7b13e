"""Order round trip through the official SDK against the local CLOB simulator.

    python -m bench.sim_roundtrip

One SDK client (an EOA) places ORDERS resting limit orders one after another, each signed
(EIP-712) and posted, so a round trip is: fetch cached market metadata, sign, HMAC, HTTP on
loopback, the simulator's signature check, hash, matching and answer. Also timed: posting
pre-signed orders only, and one batch of 15. Figures are for this machine and include both the
client's and the simulator's work, which share one event loop.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from decimal import Decimal
from typing import Any

from eth_account import Account
from polymarket import AsyncSecureClient

from polysim.clob import serve
from trader.venue.polymarket.sdk_env import build_environment

ORDERS = 300
SCENARIO: dict[str, Any] = {
    "seed": 1,
    "tick_interval_s": 1.0,
    "initial_collateral": "1000000",
    "markets": [
        {
            "question": "Benchmark market?",
            "fair_price": "0.60",
            "volatility": 0.0,
            "flow_rate": 0.0,
            "depth": 5,
        }
    ],
}


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def _measure() -> dict[str, float]:
    sim = await serve("127.0.0.1", 0, SCENARIO)
    signer = Account.create()
    client = await AsyncSecureClient.create(
        private_key=signer.key.hex(),
        wallet=signer.address,
        environment=build_environment(**sim.sdk_urls),
    )
    try:
        token = next(iter(sim.exchange.markets.values())).spec.token_ids[0]
        prices = [Decimal("0.10") + Decimal(i % 40) / 100 for i in range(ORDERS)]
        await client.place_limit_order(token_id=token, price="0.05", size="5", side="BUY")

        latencies: list[float] = []
        started = time.perf_counter()
        for price in prices:
            begun = time.perf_counter()
            answer = await client.place_limit_order(
                token_id=token, price=price, size="5", side="BUY"
            )
            latencies.append((time.perf_counter() - begun) * 1000)
            if not answer.ok:
                raise RuntimeError(f"order refused: {answer}")
        elapsed = time.perf_counter() - started

        signed = [
            await client.create_limit_order(token_id=token, price=p, size="5", side="BUY")
            for p in prices[:100]
        ]
        post_only: list[float] = []
        for order in signed:
            begun = time.perf_counter()
            await client.post_order(order)
            post_only.append((time.perf_counter() - begun) * 1000)

        batch = [
            await client.create_limit_order(token_id=token, price=p, size="5", side="BUY")
            for p in prices[:15]
        ]
        begun = time.perf_counter()
        await client.post_orders(batch)
        batch_ms = (time.perf_counter() - begun) * 1000

        begun = time.perf_counter()
        cancelled = await client.cancel_all()
        cancel_ms = (time.perf_counter() - begun) * 1000
    finally:
        await client.close()
        await sim.close()
    return {
        "orders": float(ORDERS),
        "orders_per_second": round(ORDERS / elapsed, 1),
        "place_p50_ms": round(statistics.median(latencies), 2),
        "place_p99_ms": round(_percentile(latencies, 0.99), 2),
        "post_presigned_p50_ms": round(statistics.median(post_only), 2),
        "post_presigned_p99_ms": round(_percentile(post_only, 0.99), 2),
        "batch_of_15_ms": round(batch_ms, 2),
        "cancel_all_ms": round(cancel_ms, 2),
        "cancelled": float(len(cancelled.canceled)),
    }


def run() -> dict[str, float]:
    # The SDK builds about ten httpx transports per client, each loading the CA bundle; the
    # simulator is plain HTTP on loopback, so an empty CA directory keeps start-up quick.
    saved = {name: os.environ.get(name) for name in ("SSL_CERT_FILE", "SSL_CERT_DIR")}
    with tempfile.TemporaryDirectory() as empty:
        os.environ.pop("SSL_CERT_FILE", None)
        os.environ["SSL_CERT_DIR"] = empty
        try:
            return asyncio.run(_measure())
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


if __name__ == "__main__":
    for name, value in run().items():
        print(f"{name:24} {value}")

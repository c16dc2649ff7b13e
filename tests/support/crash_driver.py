"""A trader process for the crash test: the execution stack, live mode, against the simulator.

    python -m tests.support.crash_driver --sim URL --database URL --key HEX --seed N

It starts like the app does (restore, load markets, reconcile with the venue), prints
`READY`, waits for `go` on standard input, then places a stream of intents (marketable buys
and sells, resting buys, cancels) as fast as the venue answers, printing `SUBMIT <i>` just
before each. The test SIGKILLs it at a random moment and starts it again. Intents have
deterministic correlation ids (`crash-<i>`) and, like a strategy that re-publishes after a
restart, the driver skips an intent whose order row already exists: so a duplicate at the
venue can only come from the engine sending one intent twice.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import sys
from decimal import Decimal

from tests.support.driver import endpoints, open_store, run_background, shut_down, venue_at
from trader.bus import Bus
from trader.domain import OrderIntent, OrderType, Side
from trader.execution.runtime import ExecutionConfig, ExecutionCore, build_execution
from trader.store.trading import OrderRepository

D = Decimal
CENT = D("0.01")


async def next_intent(runtime: ExecutionCore, rng: random.Random, i: int) -> OrderIntent | None:
    board, portfolio = runtime.board, runtime
    market = board.markets()[0]
    token = market.tokens[0].token_id
    view = await board.book_for(token)
    if view.book is None or view.book.best_bid is None or view.book.best_ask is None:
        return None
    bid, ask = view.book.best_bid, view.book.best_ask
    roll = rng.random()
    held = portfolio.position(token)
    corr = f"crash-{i}"
    common = {
        "market": market.condition_id,
        "token_id": token,
        "correlation_id": corr,
        "strategy": "crash",
    }
    if roll < 0.15 and portfolio.working_orders():
        return None  # a cancel instead (see below)
    if roll < 0.35 and held is not None and held.size >= 5:
        return OrderIntent(side=Side.SELL, limit_price=bid - CENT, size=D(5), **common)  # type: ignore[arg-type]
    if roll < 0.65:
        return OrderIntent(
            side=Side.BUY,
            limit_price=bid - 5 * CENT,
            size=D(5),  # type: ignore[arg-type]
            model_probability=D("0.99"),
            **common,
        )
    kind = OrderType.FOK if roll > 0.9 else OrderType.GTC
    return OrderIntent(
        side=Side.BUY,
        limit_price=ask + CENT,
        size=D(5),
        order_type=kind,  # type: ignore[arg-type]
        model_probability=D("0.99"),
        **common,
    )


async def trade(runtime: ExecutionCore, orders: OrderRepository, seed: int) -> None:
    rng = random.Random(seed)
    i = 0
    while True:
        i += 1
        if await orders.by_correlation(f"crash-{i}"):
            continue  # placed before the last crash: a strategy would not re-send it
        intent = await next_intent(runtime, rng, i)
        print(f"SUBMIT {i}", flush=True)
        if intent is None:
            working = runtime.working_orders()
            if working:
                victim = rng.choice(working)
                await runtime.cancel([victim.order_id], reason="crash test", actor="driver")
            continue
        await runtime.handle(intent)


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sim", required=True)
    parser.add_argument("--database", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    store = await open_store(args.database)
    clock = store.clock
    venue = venue_at(endpoints(args.sim), clock, args.key)
    await venue.start()
    runtime = build_execution(
        config=ExecutionConfig(book_feed=False),
        sessions=store.sessions,
        events=store.events,
        bus=Bus(),
        venue=venue,
        clock=clock,
        state=store.state,
    )
    await runtime.start()
    tasks = run_background(runtime)
    print("READY", flush=True)
    command = (await asyncio.to_thread(sys.stdin.readline)).strip()
    try:
        if command == "go":
            await trade(runtime, OrderRepository(store.sessions, clock), args.seed)
    finally:
        await shut_down(
            tasks, runtime.close, venue.close, store.events.close, store.database.dispose
        )
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))

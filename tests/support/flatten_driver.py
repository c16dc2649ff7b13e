"""A trader process for the interrupted-flatten test: live mode, against the simulator.

    python -m tests.support.flatten_driver --sim URL --database URL --key HEX --mode kill
    python -m tests.support.flatten_driver --sim URL --database URL --key HEX --mode restart

`kill`: starts like the app, buys 20 shares (marketable), prints `HELD`, then kills with
flatten at a 5% cap; the first sell it would send is held back forever after printing
`SELLING` (cancel-all has run, no sell has reached the venue), so the test SIGKILLs it right
there. `restart`: starts like the app (which finishes or reports the flatten; `--no-resume`
turns that off), prints each start-up alert as `ALERT <severity> <title>` and `DONE`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from decimal import Decimal

from tests.support.driver import endpoints, open_store, run_background, venue_at
from tests.support.waiting import eventually
from trader.bus import Bus
from trader.domain import Actor, OrderIntent, Side
from trader.execution.runtime import ExecutionConfig, build_execution
from trader.venue.base import PreparedOrder, SubmitResult
from trader.venue.polymarket.adapter import PolymarketVenue

D = Decimal
OPERATOR = Actor("telegram", "42", "ops")


class StallingVenue(PolymarketVenue):
    """Never sends a sell: announces it and waits for the SIGKILL."""

    async def submit(self, order: PreparedOrder) -> SubmitResult:
        if order.request.side is Side.SELL:
            print("SELLING", flush=True)
            await asyncio.Event().wait()
        return await super().submit(order)


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sim", required=True)
    parser.add_argument("--database", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--mode", choices=("kill", "restart"), required=True)
    parser.add_argument("--no-resume", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    store = await open_store(args.database)
    kind = StallingVenue if args.mode == "kill" else PolymarketVenue
    venue = venue_at(endpoints(args.sim), store.clock, args.key, kind)
    await venue.start()
    bus = Bus()
    alerts = bus.alerts.subscribe()
    runtime = build_execution(
        config=ExecutionConfig(book_feed=False, resume_flatten=not args.no_resume),
        sessions=store.sessions,
        events=store.events,
        bus=bus,
        venue=venue,
        clock=store.clock,
        state=store.state,
    )
    tasks = run_background(runtime)
    await runtime.start()
    if args.mode == "restart":
        runtime.announce_startup()
        while (envelope := alerts.get_nowait()) is not None:
            alert = envelope.payload
            print(f"ALERT {alert.severity.value} {alert.title}", flush=True)
        await runtime.flush()
        await store.events.close()
        print("DONE", flush=True)
        for task in tasks:
            task.cancel()
        return 0
    market = runtime.board.markets()[0]
    token = market.tokens[0].token_id
    view = await runtime.board.book_for(token)
    assert view.book is not None
    assert view.book.best_ask is not None
    await runtime.handle(
        OrderIntent(
            market=market.condition_id,
            token_id=token,
            side=Side.BUY,
            limit_price=view.book.best_ask + D("0.01"),
            size=D(20),
            model_probability=D("0.99"),
            strategy="flatten-test",
        )
    )

    def held() -> Decimal:
        position = runtime.position(token)
        return position.size if position else D(0)

    await eventually(lambda: held() >= D(20), timeout=30)  # the fills arrive on the user channel
    await runtime.flush()
    print("HELD", flush=True)
    await runtime.kill_switch.kill(OPERATOR, flatten=True, slippage=D("0.05"))
    return 1  # not reached: the sell stalls until the SIGKILL


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))

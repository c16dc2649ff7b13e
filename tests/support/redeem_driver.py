"""A trader process for the redemption crash test: the execution core over the paper venue,
with the simulator as its market data (Gamma resolutions included), on a database file; with
`--live RELAYER_KEY`, over the live venue instead (the real SDK, `SIM_KEY`'s deposit wallet).

    python -m tests.support.redeem_driver --sim URL --database URL --phase buy|redeem [--hold]
        [--live RELAYER_KEY]

- `buy`: starts like the app (restore, markets, reconcile), buys 20 YES of the first market and
  10 NO of the second, prints `BOUGHT` and exits cleanly.
- `redeem`: starts, runs the redemption job once and prints one `RUN {json}` line (cash,
  redeemable, what the run confirmed, the alerts it raised), then `DONE`. With `--hold` the
  venue accepts the redemptions (tx ids recorded: in flight) but does not mine them; the driver
  prints `RUN` and waits to be SIGKILLed. The paper venue's memory is the database, so the
  next process finds those transactions as the chain would: mined while it was down. Live, the
  simulator holds them (its `chain_confirm_s`) until the test mines them
  (`POST /_admin/relayer/confirm`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from decimal import Decimal

from tests.support.chain import ScriptedChainVenue
from tests.support.driver import (
    SIM_KEY,
    endpoints,
    open_store,
    run_background,
    shut_down,
    venue_at,
)
from trader.bus import Bus
from trader.clock import SystemClock
from trader.domain import OrderIntent, Side
from trader.execution.runtime import ExecutionConfig, build_execution
from trader.venue.base import Venue
from trader.venue.paper.journal import DatabaseFillJournal
from trader.venue.polymarket.adapter import PolymarketVenue
from trader.venue.polymarket.market_data import PolymarketMarketData

D = Decimal
BANKROLL = D(1000)


async def _filled(runtime: object, token: str, size: Decimal) -> None:
    for _ in range(200):
        position = runtime.position(token)  # type: ignore[attr-defined]
        if position is not None and position.size >= size:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{size} of {token[:12]} never filled")


def live_venue(url: str, relayer_key: str, clock: SystemClock) -> PolymarketVenue:
    from eth_account import Account

    address = Account.from_key(SIM_KEY).address
    return venue_at(
        endpoints(url),
        clock,
        SIM_KEY,
        signature_type=3,
        relayer_api_key=relayer_key,
        relayer_api_key_address=address,
    )


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sim", required=True)
    parser.add_argument("--database", required=True)
    parser.add_argument("--phase", choices=("buy", "redeem"), required=True)
    parser.add_argument("--hold", action="store_true")
    parser.add_argument("--live", metavar="RELAYER_KEY")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    store = await open_store(args.database)
    clock, sessions, events = store.clock, store.sessions, store.events
    data = PolymarketMarketData(
        clock=clock, endpoints=endpoints(args.sim), reconnect_base=0.05, snapshot_grace=0.3
    )
    await data.start()
    venue: Venue
    if args.live:
        venue = live_venue(args.sim, args.live, clock)
    else:
        venue = ScriptedChainVenue(
            data, bankroll=BANKROLL, clock=clock, journal=DatabaseFillJournal(sessions, clock)
        )
    await venue.start()
    bus = Bus()
    alerts = bus.alerts.subscribe()
    runtime = build_execution(
        config=ExecutionConfig(book_feed=False, auto_merge=False),
        sessions=sessions,
        events=events,
        bus=bus,
        venue=venue,
        clock=clock,
        state=store.state,
        durable=events.flush,
    )
    await runtime.start()
    tasks = run_background(runtime)
    try:
        if args.phase == "buy":
            first, second = sorted(runtime.board.markets(), key=lambda m: m.question)[:2]
            for market, outcome, size in ((first, 0, "20"), (second, 1, "10")):
                token = market.tokens[outcome].token_id
                book = await runtime.board.book_for(token)
                ask = book.book.best_ask if book.book is not None else None
                assert ask is not None, f"no ask on {market.question}"
                intent = OrderIntent(
                    market=market.condition_id,
                    token_id=token,
                    side=Side.BUY,
                    limit_price=ask,
                    size=D(size),
                    model_probability=D("0.99"),
                    strategy="test",
                )
                result = await runtime.handle(intent)
                await _filled(runtime, token, D(size))  # live: the fills follow the answer
                assert result.order_id, result
            await runtime.flush()
            await events.flush()
            print("BOUGHT", flush=True)
        else:
            if isinstance(venue, ScriptedChainVenue):
                venue.hold = args.hold  # live: the simulator holds them until told to mine
            service = runtime.redemption
            assert service is not None
            run = await service.run_once()
            await events.flush()
            raised = []
            while (envelope := alerts.get_nowait()) is not None:
                raised.append({"kind": envelope.payload.kind, "title": envelope.payload.title})
            summary = runtime.summary()
            report = {
                "cash": str(summary.cash),
                "redeemable": str(summary.redeemable),
                "confirmed": [str(op.payout) for op in run.confirmed],
                "sent": [op.tx_id for op in run.sent],
                "alerts": raised,
                "positions": len(runtime.positions()),
            }
            print("RUN " + json.dumps(report), flush=True)
            if args.hold:
                await asyncio.Event().wait()  # in flight: the test SIGKILLs this process
            print("DONE", flush=True)
    finally:
        await shut_down(
            tasks, runtime.close, venue.close, data.close, events.close, store.database.dispose
        )
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))

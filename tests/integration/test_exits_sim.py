"""An exit end to end: the real composition root over the CLOB simulator (the paper venue on
its books through the official SDK). A first signal cycle buys; with the stop horizon set
beyond every market's end, the next cycle's exit rules sell what it bought through risk and
the execution engine, and the event log and the alert say why."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.app_on_sim import running_app
from tests.support.sim import avoid_ca_bundle
from tests.support.waiting import eventually
from trader.domain import Alert, Fill, Side

pytestmark = pytest.mark.slow
YEAR_S = 365 * 86_400


@pytest.fixture(autouse=True)
def _plain_http_only(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    avoid_ca_bundle(monkeypatch, tmp_path)


async def test_the_next_cycle_sells_a_position_whose_market_stops_taking_orders(
    tmp_path: Path,
) -> None:
    async with running_app(
        tmp_path, exit_stop_horizon_s=YEAR_S, exit_close_horizon_s=YEAR_S
    ) as app:
        fills, alerts = app.bus.fills.subscribe(), app.bus.alerts.subscribe()
        seen: list[Fill] = []
        exit_alerts: list[Alert] = []

        def drain() -> None:
            while (envelope := fills.get_nowait()) is not None:
                seen.append(envelope.payload)
            while (note := alerts.get_nowait()) is not None:
                if note.payload.kind == "exit":
                    exit_alerts.append(note.payload)

        async def bought() -> bool:
            drain()
            return any(f.side is Side.BUY for f in seen)

        await app.cycle_hook.run_now()  # buys; its own markets are left to its decision
        await eventually(bought, timeout=20)
        bought_tokens = {f.token_id for f in seen if f.side is Side.BUY}

        async def sold() -> bool:
            drain()
            if not any(f.side is Side.SELL and f.token_id in bought_tokens for f in seen):
                await app.cycle_hook.run_now()  # the exits run at the end of each cycle
                drain()
            return any(f.side is Side.SELL and f.token_id in bought_tokens for f in seen)

        await eventually(sold, timeout=40)

        assert app.execution is not None
        assert app.events is not None
        await app.execution.flush()
        sold_tokens = {f.token_id for f in seen if f.side is Side.SELL}
        decided = await app.events.latest_of(["exit_decided"])
        exit_event = next(e for e in decided if e.payload["token_id"] in sold_tokens)
        assert exit_event.payload["rule"] == "orders_stopping"
        reason = exit_event.payload["reason"]
        assert reason.startswith("exit (orders_stopping): sell ")
        assert "stops taking orders at its end" in reason
        assert "EXIT_STOP_HORIZON_S 31536000" in reason
        # the exit went the way every intent goes: risk, the order row, the venue, the fill
        corr = exit_event.correlation_id
        assert corr is not None
        chain = await app.events.by_correlation(corr)
        kinds = [e.type for e in chain]
        for step in ("exit_decided", "intent_received", "risk_passed", "order_created", "fill"):
            assert step in kinds, kinds
        received = next(e for e in chain if e.type == "intent_received")
        assert received.payload["reason"] == reason
        assert received.payload["strategy"] == "exit"
        # the alert says the same
        alert = next(a for a in exit_alerts if a.correlation_id == corr)
        assert alert.title.startswith("Exit: selling ")
        assert reason in alert.body

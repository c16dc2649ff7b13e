"""Every resolution settles by its payout vector: 1/0, and 50/50 (0.5 a share each side).

A paper position of 100 YES bought at 0.40 in a market resolving 50/50 leaves exposure at once
and, once redeemed, is paid $50 (realized +$10); resolving YES it is paid $100 (realized
+$60)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tests.support.execution_rig import CONDITION, NO, YES, book, buy, paper_rig
from tests.support.waiting import eventually
from trader.domain import Alert, Resolution

D = Decimal


@pytest.mark.parametrize(
    ("payouts", "paid", "realized", "title"),
    [
        ({YES: D("0.5"), NO: D("0.5")}, D(50), D(10), "Market resolved 50/50"),
        ({YES: D(1), NO: D(0)}, D(100), D(60), "Market resolved: "),
    ],
)
async def test_a_resolution_pays_each_share_its_payout_and_leaves_exposure_at_once(
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    payouts: dict[str, Decimal],
    paid: Decimal,
    realized: Decimal,
    title: str,
) -> None:
    async with paper_rig(engine, sessions) as rig:
        assert rig.data is not None
        rig.data.set_book(book(YES, [("0.39", "100")], [("0.40", "100")]))
        alerts: list[Alert] = []
        resolutions: list[Resolution] = []
        alert_feed, resolution_feed = rig.bus.alerts.subscribe(), rig.bus.resolutions.subscribe()
        portfolio = rig.runtime
        await rig.runtime.handle(buy("0.40", "100", model="0.60"))
        await eventually(lambda: (p := portfolio.position(YES)) is not None and p.size == 100)
        assert portfolio.position(YES).average_price == D("0.40")  # type: ignore[union-attr]
        cash_before = portfolio.summary().cash
        rig.data.resolve(CONDITION, payouts)

        await rig.runtime.reconcile("test")
        assert rig.runtime.redemption is not None
        await rig.runtime.redemption.run_once()  # the paper venue confirms at once

        assert portfolio.summary().cash == cash_before + paid
        assert sum((r.pnl for r in portfolio.realizations()), D(0)) == realized
        assert portfolio.summary().exposure == 0
        assert portfolio.positions() == []
        while (envelope := alert_feed.get_nowait()) is not None:
            alerts.append(envelope.payload)
        while (fact := resolution_feed.get_nowait()) is not None:
            resolutions.append(fact.payload)
        settled = [a for a in alerts if a.kind == "market_resolved"]
        assert len(settled) == 1
        assert settled[0].title.startswith(title)
        assert (
            f"100 shares of Yes paid {payouts[YES]} each (PnL {realized:+.2f})" in settled[0].body
        )
        assert [(r.market, r.payouts) for r in resolutions] == [(CONDITION, payouts)]

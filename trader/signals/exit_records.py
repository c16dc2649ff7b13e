"""The record the exit rules read: what the stored forecasts say about each held market.

For each market, from the `forecasts` table (YES probabilities): the blend of the latest
forecast whose decision was `trade` (the view the position was entered on; None when no
forecast traded the market, say a position taken by hand) and the latest forecast's aggregate
and source (its model view, blended again with the mid now by `trader.signals.exits.reblend`).
A forecast stored before the aggregate column has its blend stand in for it.

What the exits decided is recorded by `ExitWatch` in the event log (`exit_decided`); this
module only reads.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from trader.signals.exits import ModelView
from trader.store.repositories import Repository
from trader.store.tables import ForecastRow

TRADED = "trade"
_BATCH = 200  # condition ids per query (they travel as bound parameters)


class SqlModelViews(Repository):
    """`ModelViewSource` on the forecasts table."""

    async def views(self, markets: Sequence[str]) -> dict[str, ModelView]:
        wanted = sorted(set(markets))
        rows: list[ForecastRow] = []
        for start in range(0, len(wanted), _BATCH):
            batch = wanted[start : start + _BATCH]
            query = (
                select(ForecastRow)
                .where(ForecastRow.market.in_(batch))
                .order_by(ForecastRow.created_at, ForecastRow.id)
            )
            rows.extend(await self._all(query))
        return views_of(rows)


def views_of(rows: Sequence[ForecastRow]) -> dict[str, ModelView]:
    """Each market's view from its forecast rows, oldest first."""
    latest: dict[str, ForecastRow] = {}
    traded: dict[str, ForecastRow] = {}
    for row in rows:
        latest[row.market] = row
        if row.decision == TRADED:
            traded[row.market] = row
    return {
        market: ModelView(
            entry_yes=traded[market].model_probability if market in traded else None,
            aggregate=row.aggregate if row.aggregate is not None else row.model_probability,
            source=row.source,
        )
        for market, row in latest.items()
    }

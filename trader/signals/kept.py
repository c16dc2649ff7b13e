"""The last thing made for each market, handed back while what it was made from is unchanged.

`KeptByMarket` is what the forecast reuse (`trader.signals.reuse`) and the retrieval reuse
(`trader.signals.retrieval.reuse`) share: per market (condition id), one value, the evidence
it was made from (anything comparable: a digest, a tuple) and the `now` it was made at. A
value is given back only for the same evidence and while `0 <= now - made_at <= window`,
`now` being the request's clock (a backtest's simulated time behaves as a live run; a `now`
before the entry's is another run and never gets it). The least recently used markets beyond
`capacity` are forgotten.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from datetime import datetime, timedelta
from typing import Generic, TypeVar

V = TypeVar("V")


class KeptByMarket(Generic[V]):
    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("room for at least one market is needed")
        self.capacity = capacity
        self._kept: OrderedDict[str, tuple[Hashable, datetime, V]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._kept)

    def find(
        self, market: str, evidence: Hashable, now: datetime, window: timedelta
    ) -> tuple[datetime, V] | None:
        """(made_at, value) when kept for this evidence and made at most `window` before."""
        entry = self._kept.get(market)
        if entry is None:
            return None
        kept_evidence, made_at, value = entry
        if kept_evidence != evidence or not timedelta(0) <= now - made_at <= window:
            return None
        self._kept.move_to_end(market)
        return made_at, value

    def keep(self, market: str, evidence: Hashable, now: datetime, value: V) -> None:
        self._kept[market] = (evidence, now, value)
        self._kept.move_to_end(market)
        while len(self._kept) > self.capacity:
            self._kept.popitem(last=False)
